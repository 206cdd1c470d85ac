"""Checkpoint -> ONNX, with the metadata the runtime configures itself from.

    python -m vitpose_ros.model.export --checkpoint PATH --output OUT.onnx [--dataset coco]
                                 [--opset 17] [--batch dynamic|N] [--precision fp32|fp16|int8 ...]

Graph contract: input ``input`` float32 (N,3,H,W) normalised RGB, output ``heatmaps`` float32
(N,K,H/4,W/4), dynamic batch by default. After writing, the file is run with ONNX Runtime (CPU)
against torch on random input; a max abs difference above 1e-4 fails the export. With
``--precision fp16|int8`` the checked fp32 file is then converted beside it
(``<stem>_<precision>.onnx``, options as in ``vitpose_ros.model.convert``): fp16 is what the CUDA
provider runs with the node's ``fp16``, int8 the name ``precision:=int8`` of the launch files
looks for. Each model written also gets its graph-pipeline file ``<stem>_graph.onnx`` beside it
(``vitpose_ros.model.compose_graph``; not for a fixed ``--batch``).
"""
from __future__ import annotations

import argparse
import os
import pathlib
import sys
import tempfile
import time
import warnings

from ..core.cli import cli_error
from ..core.metadata import (INPUT_NAME, OUTPUT_NAME, IMAGENET_MEAN, IMAGENET_STD, PRECISIONS, ModelMetadata,
                             precision_model_path)

PARITY_TOLERANCE = 1e-4
# Protobuf cannot hold a model over 2 GiB; ViTPose-H (about 2.5 GB fp32) goes to external data.
EXTERNAL_DATA_THRESHOLD = 1_800_000_000


class ExportError(RuntimeError):
    pass


def export_model(model, output: str | pathlib.Path, metadata: ModelMetadata, opset: int = 17,
                 batch: int | None = None, graph: bool = True, say=lambda line: None) -> pathlib.Path:
    """Write ``model`` (a ViTPose in eval mode) to ``output`` with ``metadata``; returns the path.
    ``graph``: also write the graph pipeline's ``<stem>_graph.onnx`` (``say`` gets one line about it)."""
    import onnx
    import torch

    if opset < 17:
        raise ExportError(f"opset {opset} is too old: 17 or newer keeps LayerNorm as one op")
    output = pathlib.Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    cfg = model.config
    dummy = torch.zeros(batch or 1, 3, *cfg.image_size)
    dynamic_axes = None if batch else {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}}
    with tempfile.TemporaryDirectory() as tmp:
        raw = pathlib.Path(tmp) / "raw.onnx"
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice
            torch.onnx.export(
                model, (dummy,), str(raw), input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                opset_version=opset, dynamic_axes=dynamic_axes, dynamo=False,
            )
        proto = onnx.load(str(raw), load_external_data=True)
        proto.doc_string = f"ViTPose-{metadata.variant} ({metadata.dataset}) exported by vitpose_ros"
        del proto.metadata_props[:]
        for key, value in metadata.to_props().items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
        external = weight_bytes > EXTERNAL_DATA_THRESHOLD
        data_file = output.with_name(output.name + ".data")
        if data_file.exists():
            data_file.unlink()
        onnx.save_model(proto, str(output), save_as_external_data=external,
                        all_tensors_to_one_file=True, location=data_file.name)
    onnx.checker.check_model(str(output))
    if graph:
        from .compose_graph import write_graph_or_say_why

        write_graph_or_say_why(output, say=say)
    return output


def onnx_vs_torch(model, onnx_path: str | pathlib.Path, batch: int = 2, seed: int = 0) -> float:
    """Max abs difference of ONNX Runtime (CPU) vs torch heatmaps on random input."""
    import numpy as np
    import onnxruntime as ort
    import torch

    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, 3, *model.config.image_size, generator=gen)
    with torch.no_grad():
        expected = model(x).numpy()
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = session.run([OUTPUT_NAME], {INPUT_NAME: x.numpy()})[0]
    return float(np.abs(got - expected).max())


def metadata_for(imported) -> ModelMetadata:
    cfg = imported.config
    return ModelMetadata(dark_kernel=imported.dark_kernel,
        variant=cfg.variant, dataset=imported.dataset, num_keypoints=cfg.num_keypoints,
        input_height=cfg.image_size[0], input_width=cfg.image_size[1],
        mean=IMAGENET_MEAN, std=IMAGENET_STD, decoder=cfg.decoder, source_format=imported.source_format,
    )


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="vitpose-export", description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True, help="ViTPose checkpoint (.pth, .safetensors, HF folder)")
    parser.add_argument("--output", required=True, help="ONNX file to write")
    parser.add_argument("--dataset", default=None,
                        help="keypoint set / ViTPose++ expert: coco, wholebody, mpii, aic, ap10k, apt36k")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset (>= 17)")
    parser.add_argument("--batch", default="dynamic", help="'dynamic' or a fixed batch size")
    parser.add_argument("--num-heads", type=int, default=None,
                        help="attention heads, only for widths that are not a published variant")
    parser.add_argument("--input-size", default=None, metavar="HxW",
                        help="model input size when the checkpoint was trained at another size than 256x192")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32",
                        help="fp32: --output only; otherwise also <output stem>_<precision>.onnx beside it")
    from .convert import add_int8_arguments

    add_int8_arguments(parser)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        batch = None if args.batch == "dynamic" else int(args.batch)
        if batch is not None and batch < 1:
            raise ValueError
    except ValueError:
        return cli_error("vitpose-export", f"--batch must be 'dynamic' or a positive integer, got {args.batch!r}")
    image_size = None
    if args.input_size:
        try:
            image_size = tuple(int(v) for v in args.input_size.lower().split("x"))
            assert len(image_size) == 2 and min(image_size) > 0
        except (ValueError, AssertionError):
            return cli_error("vitpose-export", f"--input-size must look like 256x192, got {args.input_size!r}")

    from . import CheckpointError, build_model, load_checkpoint

    start = time.perf_counter()
    try:
        imported = load_checkpoint(args.checkpoint, dataset=args.dataset, num_heads=args.num_heads,
                                   image_size=image_size)
        model = build_model(imported.config, imported.state_dict)
        path = export_model(model, args.output, metadata_for(imported), opset=args.opset, batch=batch, say=print)
        diff = onnx_vs_torch(model, path, batch=batch or 2)
    except (CheckpointError, ExportError) as exc:
        return cli_error("vitpose-export", str(exc))
    elapsed = time.perf_counter() - start
    size = path.stat().st_size + (os.path.getsize(str(path) + ".data") if os.path.exists(str(path) + ".data") else 0)
    cfg = imported.config
    print(f"exported ViTPose-{cfg.variant} ({imported.source_format}, {imported.dataset}, "
          f"{cfg.num_keypoints} keypoints, {cfg.decoder} decoder, input {cfg.image_size[0]}x{cfg.image_size[1]}) "
          f"to {path}: {size / 1e6:.1f} MB in {elapsed:.1f} s")
    print(f"ONNX Runtime vs torch max abs diff: {diff:.3g}")
    if not diff <= PARITY_TOLERANCE:
        return cli_error("vitpose-export", f"ONNX output differs from torch by {diff:.3g} (> {PARITY_TOLERANCE})")
    if args.precision != "fp32":
        from .convert import convert_or_fail

        return convert_or_fail(path, args.precision, precision_model_path(path, args.precision), args,
                               prog="vitpose-export")
    return 0


if __name__ == "__main__":
    sys.exit(main())
