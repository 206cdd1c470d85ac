"""Person detectors by name: a transformers DETR-family checkpoint -> one ONNX file in the detector contract.

    python -m vitpose_ros.model.fetch --detector rtdetr-r18 [--output PATH] [--force]

Published checkpoints (transformers format: config.json, preprocessor_config.json,
model.safetensors), all COCO-trained (80 classes, "person" among them), small enough for a
Jetson Orin:

    rtdetr-r18     PekingU/rtdetr_r18vd      RT-DETR, ResNet-18-vd backbone, 640x640   Apache-2.0
    rtdetr-v2-r18  PekingU/rtdetr_v2_r18vd   RT-DETRv2, ResNet-18-vd backbone          Apache-2.0

The exported graph keeps transformers' own post-processing inside (``RTDetrImageProcessor.
post_process_object_detection`` with focal-loss scores): sigmoid of the class logits, the top Q of
all (query, class) scores, centre-size boxes turned into corners in the network input's pixels.
Input ``images`` (N, 3, H, W), outputs ``boxes`` (N, Q, 4), ``scores`` (N, Q), ``classes`` (N, Q)
int64; the metadata says the input size, the normalisation (RT-DETR: 0..1, none), the plain
resize, the class names and which is a person (the detector contract the core reads). After export ONNX Runtime (CPU)
is checked against transformers' model and post-processing on a test input.
"""
from __future__ import annotations

import json
import pathlib
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass

from ..core.cli import cli_error
from ..core.model_files import default_detector_path

DETECTOR_OPSET = 17  # >= 16: GridSample (the deformable attention's sampling)
PARITY_TOLERANCE = 1e-4  # scores, and boxes as fractions of the input size
TEST_SEED = 0


@dataclass(frozen=True)
class DetectorSource:
    repo_id: str
    model_class: str  # transformers class name
    description: str
    licence: str
    files: tuple[str, ...] = ("config.json", "preprocessor_config.json", "model.safetensors")
    onnx_repo: str | None = None  # a published ONNX of the same checkpoint (vitpose_ros.model.detector_adopt)
    onnx_files: tuple[str, ...] = ("onnx/model.onnx", "config.json", "preprocessor_config.json")


DETECTORS = {
    "rtdetr-r18": DetectorSource("PekingU/rtdetr_r18vd", "RTDetrForObjectDetection",
                                 "RT-DETR R18-VD (COCO, transformers format)", "Apache-2.0",
                                 onnx_repo="onnx-community/rtdetr_r18vd"),
    "rtdetr-v2-r18": DetectorSource("PekingU/rtdetr_v2_r18vd", "RTDetrV2ForObjectDetection",
                                    "RT-DETRv2 R18-VD (COCO, transformers format)", "Apache-2.0"),
}


class DetectorExportError(RuntimeError):
    """Export or its check failed; the message is the one line the CLI prints."""


def detector_source(name: str) -> DetectorSource:
    if name not in DETECTORS:
        raise DetectorExportError(f"unknown detector {name!r}; known: {', '.join(DETECTORS)}")
    return DETECTORS[name]


def load_transformers_detector(folder: pathlib.Path, model_class: str):
    import transformers

    return getattr(transformers, model_class).from_pretrained(str(folder)).eval()


def input_settings(folder: pathlib.Path, model) -> dict:
    """Input size and normalisation from the checkpoint's preprocessor_config.json (RT-DETR's defaults
    where it is missing: 640x640, rescale to 0..1, no normalisation)."""
    path = folder / "preprocessor_config.json"
    config = json.loads(path.read_text()) if path.is_file() else {}
    size = config.get("size") or {"height": 640, "width": 640}
    normalise = bool(config.get("do_normalize", False))
    return {"input_height": int(size["height"]), "input_width": int(size["width"]),
            "mean": tuple(config.get("image_mean", (0.0, 0.0, 0.0))) if normalise else (0.0, 0.0, 0.0),
            "std": tuple(config.get("image_std", (1.0, 1.0, 1.0))) if normalise else (1.0, 1.0, 1.0)}


def detector_metadata(model, settings: dict, source: DetectorSource) -> dict[str, str]:
    """The contract's metadata_props for a transformers model."""
    id2label = model.config.id2label
    names = [str(id2label[i]) for i in range(len(id2label))]
    return metadata_props(names, settings, f"{source.repo_id} ({source.model_class}), exported by vitpose_ros",
                          source.licence)


def metadata_props(names: list[str], settings: dict, source_text: str, licence: str) -> dict[str, str]:
    """The contract's metadata_props: class names, input size and normalisation, where it came from."""
    if "person" not in names:
        raise DetectorExportError(f"{source_text}: no 'person' class (classes: {', '.join(names[:10])}, ...)")
    return {
        "vitpose_detector": "1",
        "input_height": str(settings["input_height"]), "input_width": str(settings["input_width"]),
        "mean": ",".join(f"{v:g}" for v in settings["mean"]), "std": ",".join(f"{v:g}" for v in settings["std"]),
        "resize": "stretch", "class_names": json.dumps(names), "person_class": str(names.index("person")),
        "source": source_text, "licence": licence,
    }


def _wrapped(model, height: int, width: int):
    """``model`` with transformers' focal-loss post-processing inside, as a torch module."""
    import torch

    class WithPostProcessing(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model
            self.register_buffer("scale", torch.tensor([width, height, width, height], dtype=torch.float32))

        def forward(self, images):
            out = self.model(pixel_values=images)
            logits, centre_size = out.logits, out.pred_boxes  # (N, Q, C), (N, Q, 4) cx cy w h in 0..1
            queries, classes = logits.shape[1], logits.shape[2]
            scores, index = logits.sigmoid().flatten(1).topk(queries, dim=1)
            corners = torch.cat([centre_size[..., :2] - centre_size[..., 2:] / 2,
                                 centre_size[..., :2] + centre_size[..., 2:] / 2], dim=-1) * self.scale
            picked = corners.gather(1, torch.div(index, classes, rounding_mode="floor").unsqueeze(-1).expand(-1, -1, 4))
            return picked, scores, index % classes

    return WithPostProcessing().eval()


def export_detector(model, output: pathlib.Path, props: dict[str, str], opset: int = DETECTOR_OPSET) -> pathlib.Path:
    import onnx
    import torch

    if opset < 16:
        raise DetectorExportError(f"opset {opset} is too old: GridSample needs 16 or newer")
    height, width = int(props["input_height"]), int(props["input_width"])
    wrapped = _wrapped(model, height, width)
    with tempfile.TemporaryDirectory() as tmp:
        raw = pathlib.Path(tmp) / "raw.onnx"
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(wrapped, (torch.zeros(1, 3, height, width),), str(raw), input_names=["images"],
                              output_names=["boxes", "scores", "classes"], opset_version=opset, dynamo=False,
                              dynamic_axes={n: {0: "batch"} for n in ("images", "boxes", "scores", "classes")})
        proto = onnx.load(str(raw))
    proto.doc_string = props["source"]
    del proto.metadata_props[:]
    for key, value in props.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    output.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(proto, str(output))
    onnx.checker.check_model(str(output))
    return output


def reference_detections(model, images, processor_size: tuple[int, int]):
    """transformers' model + its RT-DETR post-processing (all Q kept): [(boxes, scores, labels)] per image."""
    import torch

    try:
        from transformers import RTDetrImageProcessorPil as Processor  # no torchvision needed
    except ImportError:
        from transformers import RTDetrImageProcessor as Processor
    with torch.no_grad():
        outputs = model(pixel_values=images)
    results = Processor().post_process_object_detection(outputs, threshold=-1.0,
                                                        target_sizes=[processor_size] * len(images))
    return [(r["boxes"].numpy(), r["scores"].numpy(), r["labels"].numpy()) for r in results]


def compare_detections(got, expected, height: int, width: int) -> tuple[float, float]:
    """(max score difference, max box difference as a fraction of the input size) of the ONNX
    detections ``got`` = (boxes, scores, classes) against transformers' ``expected``, one image.

    Rows are matched by class and score, not position: near-equal scores may sort either way. A row
    whose score lies within the tolerance of the last one kept may be missing on the other side
    (the top-Q cut between near-ties)."""
    import numpy as np

    boxes, scores, classes = got
    ref_boxes, ref_scores, ref_labels = expected
    scale = np.array([width, height, width, height], np.float64)
    worst_score = worst_box = 0.0
    cut = max(float(scores.min()), float(ref_scores.min())) + PARITY_TOLERANCE
    for box, score, cls in zip(boxes, scores, classes):
        candidates = np.flatnonzero((ref_labels == cls) & (np.abs(ref_scores - score) <= PARITY_TOLERANCE))
        if not len(candidates):
            if score <= cut:
                continue
            return float("inf"), float("inf")
        box_diffs = np.abs(ref_boxes[candidates] - box).max(axis=1) / scale.max()
        best = int(np.argmin(box_diffs))
        worst_box = max(worst_box, float(box_diffs[best]))
        worst_score = max(worst_score, float(abs(ref_scores[candidates[best]] - score)))
    return worst_score, worst_box


def onnx_vs_transformers(model, onnx_path: pathlib.Path, height: int, width: int,
                         batch: int = 2) -> tuple[float, float]:
    """Max (score, box) differences over a random test batch."""
    import onnxruntime as ort
    import torch

    images = torch.rand(batch, 3, height, width, generator=torch.Generator().manual_seed(TEST_SEED))
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = session.run(["boxes", "scores", "classes"], {"images": images.numpy()})
    expected = reference_detections(model, images, (height, width))
    diffs = [compare_detections((got[0][i], got[1][i], got[2][i]), expected[i], height, width) for i in range(batch)]
    return max(d[0] for d in diffs), max(d[1] for d in diffs)


def export_verified(checkpoint: pathlib.Path, output: pathlib.Path, source: DetectorSource) -> tuple[float, float]:
    """Checkpoint folder -> checked detector ONNX at ``output`` (written whole or not at all)."""
    import shutil

    model = load_transformers_detector(checkpoint, source.model_class)
    props = detector_metadata(model, input_settings(checkpoint, model), source)
    height, width = int(props["input_height"]), int(props["input_width"])
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=output.parent, prefix=".fetch-") as scratch:
        staged = export_detector(model, pathlib.Path(scratch) / output.name, props)
        score_diff, box_diff = onnx_vs_transformers(model, staged, height, width)
        if not (score_diff <= PARITY_TOLERANCE and box_diff <= PARITY_TOLERANCE):
            raise DetectorExportError(f"exported detector differs from transformers (scores by {score_diff:.3g}, "
                                      f"boxes by {box_diff:.3g} of the input size; > {PARITY_TOLERANCE}); "
                                      "nothing written")
        shutil.move(str(staged), str(output))
    return score_diff, box_diff


def fetch_detector(args) -> int:
    """``fetch --detector NAME``: download, export, check; prints the file's path last."""
    from .fetch import FetchError, Source, download_files

    try:
        source = detector_source(args.detector)
    except DetectorExportError as exc:
        return cli_error("vitpose-fetch", str(exc))
    output = pathlib.Path(args.output).expanduser() if args.output else default_detector_path(args.detector)
    if output.is_file() and not args.force:
        print(f"already there, nothing to do (--force fetches again): {output}")
        print(output)
        return 0
    start = time.perf_counter()
    from .fetch import chosen_format

    if chosen_format(args.format) == "onnx":
        return _fetch_published(args, source, output)
    hub = Source(source.repo_id, source.files, source.description, source.licence)
    try:
        print(f"fetching {hub.description} from {hub.url} (licence: {hub.licence})", flush=True)
        by_hand = (f"python -m vitpose_ros.model.detector_export --checkpoint CHECKPOINT --detector {args.detector} "
                   f"--output {output}")
        paths = download_files(hub, by_hand, optional=("preprocessor_config.json",))
        score_diff, box_diff = export_verified(paths[-1].parent, output, source)
    except (FetchError, DetectorExportError) as exc:
        return cli_error("vitpose-fetch", str(exc))
    except ImportError as exc:
        return cli_error("vitpose-fetch", f"exporting a detector needs torch and transformers ({exc}); "
                                          "pip install torch transformers")
    print(f"exported {source.description} in {time.perf_counter() - start:.0f} s; ONNX Runtime vs transformers: "
          f"scores max abs diff {score_diff:.3g}, boxes {box_diff:.3g} of the input size")
    print(f"start it with: ros2 launch vitpose_ros pose.launch.py detector:=builtin"
          + ("" if output == default_detector_path() else f" detector_path:={output}"))
    print(output)
    return 0


def _fetch_published(args, source: DetectorSource, output: pathlib.Path) -> int:
    """``fetch --detector NAME --format onnx`` (or without torch): the published ONNX, adopted."""
    from .detector_adopt import adopt_detector
    from .fetch import FetchError, Source, download_files
    from .onnx_adopt import AdoptError

    if source.onnx_repo is None:
        return cli_error("vitpose-fetch", f"no ready-made ONNX of {args.detector} is published; "
                                          "fetch it with --format export (needs torch and transformers)")
    hub = Source(source.onnx_repo, source.onnx_files, f"{source.description}, published ONNX", source.licence)
    try:
        print(f"fetching {hub.description} from {hub.url} (licence: {hub.licence})", flush=True)
        paths = download_files(hub, "then adopt it on a machine with network: python -m vitpose_ros.model.fetch "
                                    f"--detector {args.detector} --format onnx", optional=("preprocessor_config.json",))
        props = adopt_detector(paths[0], output, paths[1], paths[2], source)
    except (FetchError, AdoptError, DetectorExportError) as exc:
        return cli_error("vitpose-fetch", str(exc))
    print(f"adopted {source.onnx_repo}/{source.onnx_files[0]} ({len(json.loads(props['class_names']))} classes, "
          f"input {props['input_height']}x{props['input_width']}); ONNX Runtime CPU run checked")
    print(output)
    return 0


def main(argv=None) -> int:
    """Export a checkpoint folder downloaded by hand."""
    import argparse

    parser = argparse.ArgumentParser(prog="vitpose-export-detector", description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True, help="folder with config.json and model.safetensors")
    parser.add_argument("--detector", default="rtdetr-r18", choices=sorted(DETECTORS))
    parser.add_argument("--output", required=True)
    args = parser.parse_args(argv)
    try:
        score_diff, box_diff = export_verified(pathlib.Path(args.checkpoint), pathlib.Path(args.output),
                                               DETECTORS[args.detector])
    except DetectorExportError as exc:
        return cli_error("vitpose-export-detector", str(exc))
    print(f"exported to {args.output}; scores max abs diff {score_diff:.3g}, boxes {box_diff:.3g} of the input size")
    return 0


if __name__ == "__main__":
    sys.exit(main())
