"""An exported fp32 ViTPose ONNX -> a lower-precision copy beside it (no torch needed).

    python -m vitpose_ros.model.convert --input vitpose_b_coco.onnx --precision fp16
    python -m vitpose_ros.model.convert --input vitpose_b_coco.onnx --precision int8 \\
        [--int8-mode static|dynamic] [--calibration FOLDER_OR_VIDEO [--boxes boxes.json]] [--output OUT.onnx]

Writes ``<stem>_<precision>.onnx`` unless ``--output`` says otherwise, with the source's metadata
plus ``precision`` (and for INT8 ``quantization``). Then it runs the converted and the fp32 model
on the same crops (the calibration's, else random input) and prints how far their heatmap peaks
are apart. fp16 keeps LayerNorm, Softmax and reductions in fp32 (``vitpose_ros.model.precision``,
for the CUDA provider; TensorRT makes its own fp16 engine). INT8: ``static`` (default when
``--calibration`` is given) is QDQ with calibrated activations, ``dynamic`` needs no data; see
``vitpose_ros.model.int8``. The converted model gets its own graph-pipeline file
``<output stem>_graph.onnx`` (``vitpose_ros.model.compose_graph``).
"""
from __future__ import annotations

import argparse
import pathlib
import sys
import time

import numpy as np

from ..core.cli import cli_error
from ..core.metadata import INPUT_NAME, OUTPUT_NAME, PRECISIONS, ModelMetadata

CONVERTIBLE = ("fp16", "int8")


def add_int8_arguments(parser: argparse.ArgumentParser) -> None:
    """The INT8 options, shared by this CLI and ``vitpose_ros.model.export --precision int8``."""
    from .int8 import DEFAULT_PARTS, MODES, PARTS

    group = parser.add_argument_group("INT8")
    group.add_argument("--int8-mode", choices=MODES, default=None,
                       help="static: calibrated QDQ (needs --calibration); dynamic: no data needed. "
                            "Default: static with --calibration, else dynamic")
    group.add_argument("--calibration", default=None,
                       help="folder of images or a video whose person crops calibrate static INT8")
    group.add_argument("--boxes", default=None,
                       help="JSON {image file name or video frame index: [[x1,y1,x2,y2], ...]}; "
                            "default: one whole-frame box per image")
    group.add_argument("--calibration-images", type=int, default=500, help="at most this many images / frames")
    group.add_argument("--calibration-method", choices=("minmax", "percentile", "entropy"), default="minmax")
    group.add_argument("--int8-parts", default=",".join(DEFAULT_PARTS),
                       help=f"network parts to quantize, comma-separated from {', '.join(PARTS)}")


def convert_int8(source, output, args, say=print) -> pathlib.Path:
    from .int8 import quantize_model

    mode = args.int8_mode or ("static" if args.calibration else "dynamic")
    parts = tuple(p.strip() for p in args.int8_parts.split(",") if p.strip())
    return quantize_model(source, output, mode=mode, calibration=args.calibration, boxes_file=args.boxes,
                          parts=parts, max_calibration_images=args.calibration_images,
                          calibrate_method=args.calibration_method, say=say)


def peak_shift(reference, converted, batch: np.ndarray) -> tuple[float, float]:
    """Mean and max distance (heatmap pixels) between the two models' heatmap arg-max peaks."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    heatmaps = [ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
                .run([OUTPUT_NAME], {INPUT_NAME: batch})[0] for path in (reference, converted)]
    peaks = []
    for maps in heatmaps:
        flat = maps.reshape(*maps.shape[:2], -1).argmax(-1)
        peaks.append(np.stack(np.unravel_index(flat, maps.shape[2:]), -1).astype(float))
    distance = np.linalg.norm(peaks[0] - peaks[1], axis=-1)
    return float(distance.mean()), float(distance.max())


def heatmap_difference(fp32_path, converted_path, batch: int = 2, seed: int = 0) -> float:
    """Max abs heatmap difference of the two models on one random normalised batch (CPU)."""
    import onnxruntime as ort

    sessions = [ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]) for p in (fp32_path, converted_path)]
    shape = [batch if not isinstance(d, int) else d for d in sessions[0].get_inputs()[0].shape]
    x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    a, b = (s.run([OUTPUT_NAME], {INPUT_NAME: x})[0] for s in sessions)
    return float(np.abs(a - b).max())


def check_batch(model_path, args, count: int = 16) -> np.ndarray:
    """Crops to compare the models on: the calibration's when there are some, else random."""
    import onnx

    props = onnx.load(str(model_path), load_external_data=False).metadata_props
    meta = ModelMetadata.from_props({p.key: p.value for p in props})
    if getattr(args, "calibration", None):
        from .int8 import calibration_batches

        crops = []
        for batch in calibration_batches(args.calibration, meta, args.boxes, max_images=count):
            crops.extend(batch)
            if len(crops) >= count:
                break
        if crops:
            return np.stack(crops[:count])
    return np.random.default_rng(0).standard_normal((4, 3, meta.input_height, meta.input_width)).astype(np.float32)


def convert(source, precision: str, output=None, args=None, say=print) -> pathlib.Path:
    """Convert ``source`` (fp32) to ``precision``, print the comparison; returns the written path."""
    if precision not in CONVERTIBLE:
        raise ValueError(f"cannot convert to {precision}: this build converts to {', '.join(CONVERTIBLE)}")
    start = time.perf_counter()
    if precision == "int8":
        path = convert_int8(source, output, args, say=say)
    else:
        from .precision import convert_model

        path = convert_model(source, precision, output)
    size = path.stat().st_size
    say(f"wrote {path}: {precision} ({size / 1e6:.1f} MB, {pathlib.Path(source).stat().st_size / size:.1f}x smaller) "
        f"in {time.perf_counter() - start:.1f} s")
    mean, worst = peak_shift(source, path, check_batch(source, args))
    say(f"heatmap peaks vs fp32: mean {mean:.2f}, max {worst:.2f} heatmap pixels")
    from .compose_graph import write_graph_or_say_why

    write_graph_or_say_why(path, say=say)
    return path


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="vitpose-convert", description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", required=True, help="fp32 ONNX exported by vitpose_ros.model.export")
    parser.add_argument("--precision", required=True, choices=[p for p in PRECISIONS if p != "fp32"])
    parser.add_argument("--output", default=None, help="file to write; default <input stem>_<precision>.onnx")
    add_int8_arguments(parser)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.precision == "int8" and args.int8_mode == "static" and not args.calibration:
        return cli_error("vitpose-convert",
                         "--int8-mode static needs --calibration PATH (a folder of images or a video)")
    return convert_or_fail(args.input, args.precision, args.output, args)


def convert_or_fail(source, precision: str, output, args, prog: str = "vitpose-convert") -> int:
    """``convert`` for a CLI: 0, or 1 with a one-line reason on stderr."""
    from .int8 import QuantizationError
    from .precision import PrecisionError

    try:
        convert(source, precision, output, args)
    except (QuantizationError, PrecisionError, ValueError) as exc:
        return cli_error(prog, exc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
