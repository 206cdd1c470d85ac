"""fp32 ViTPose ONNX -> INT8 ONNX, in two flavours (onnx + onnxruntime.quantization; no torch).

- ``dynamic``: weight-only / dynamic quantization. Weights of the linear layers become int8 offline;
  their input activations are quantized per call from their own range (DynamicQuantizeLinear),
  so no data is needed.
- ``static``: QDQ (QuantizeLinear/DequantizeLinear pairs around the quantized ops), int8 weights
  per output channel, activation ranges calibrated on person crops cut with the runtime's own
  pre-processing (``core.preprocess.CropBatcher``), so calibration sees exactly what inference
  sees. Activations are symmetric int8 with zero point 0: ONNX Runtime's CPU provider fuses the
  pairs into integer kernels and TensorRT takes the file as an explicitly quantized network.

What is quantized by default (accuracy of each choice on the shipped demo model: docs/models.md, "INT8"):
the weight MatMuls of the transformer blocks and the heatmap head. ONNX Runtime's CPU provider has
no integer ConvTranspose kernel, so the head's deconvolutions are first rewritten as equivalent
MatMuls (``subpixel``), which then take the same integer GEMMs as the blocks. LayerNorm, Softmax,
GELU and the residual adds are never quantized (only MatMul/Gemm/Conv/ConvTranspose are
candidates); the two MatMuls of attention whose inputs are both activations (Q.K^T and
attention x V) stay float because their int8 versions cost more time than they save at ViT sizes
(a quantization per head-sized matrix); the patch embedding stays float because it is 1-3 % of
the compute, sits on the raw pixels, and the provider runs a quantized Conv there in float anyway.

The quantized file keeps the source's metadata_props, with ``precision = int8`` and
``quantization = dynamic|static`` added, so the runtime and the node's diagnostics report it.
"""
from __future__ import annotations

import itertools
import json
import pathlib
import tempfile
from dataclasses import dataclass

import numpy as np

from ..core.metadata import INPUT_NAME, ModelMetadata, precision_model_path
from .subpixel import rewrite_deconvolutions

MODES = ("dynamic", "static")
# Which parts of the network may be quantized (see module docstring; docs/models.md has the measurements).
PARTS = ("blocks", "attention", "patch_embed", "head")
DEFAULT_PARTS = ("blocks", "head")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".webp", ".tif", ".tiff")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v")


class QuantizationError(RuntimeError):
    """Bad input to a conversion; the message is one line for the CLI."""


@dataclass(frozen=True)
class QuantizedLayers:
    """Node names of the source graph, grouped by network part (what quantizing may touch)."""

    blocks: tuple[str, ...]  # weight MatMul/Gemm in the transformer blocks: qkv, proj, fc1, fc2
    attention: tuple[str, ...]  # MatMul of two activations: Q.K^T and attention x V
    patch_embed: tuple[str, ...]  # the patch-embedding convolution
    head: tuple[str, ...]  # deconvolutions / convolutions of the heatmap head

    def selected(self, parts) -> list[str]:
        unknown = set(parts) - set(PARTS)
        if unknown:
            raise QuantizationError(f"unknown part(s) {sorted(unknown)}; known: {', '.join(PARTS)}")
        return [name for part in PARTS if part in parts for name in getattr(self, part)]

    def all(self) -> list[str]:
        return self.selected(PARTS)

    def renamed(self, names: dict[str, str]) -> "QuantizedLayers":
        """The same layers after a rewrite that gave some nodes new names (``subpixel``)."""
        return QuantizedLayers(*(tuple(names.get(n, n) for n in getattr(self, part)) for part in PARTS))


def quantizable_layers(model) -> QuantizedLayers:
    """Sort the graph's MatMul/Gemm/Conv/ConvTranspose nodes into the parts of a ViTPose."""
    constants = {t.name for t in model.graph.initializer}
    constants |= {o for n in model.graph.node if n.op_type == "Constant" for o in n.output}
    blocks, attention, patch, head = [], [], [], []
    for node in model.graph.node:
        if node.op_type in ("MatMul", "Gemm"):
            (blocks if any(i in constants for i in node.input[:2]) else attention).append(node.name)
        elif node.op_type in ("Conv", "ConvTranspose"):
            # The first convolution reads the image: the patch embedding. The rest are the head's.
            (head if patch or INPUT_NAME not in node.input else patch).append(node.name)
    missing = [n.op_type for n in model.graph.node if n.op_type in ("MatMul", "Gemm", "Conv", "ConvTranspose")
               and not n.name]
    if missing:
        raise QuantizationError("the graph has unnamed compute nodes; re-export it with vitpose_ros.model.export")
    return QuantizedLayers(tuple(blocks), tuple(attention), tuple(patch), tuple(head))


# -- calibration data -------------------------------------------------------------------------------

def read_boxes_file(path) -> dict[str, np.ndarray]:
    """JSON ``{"<image file name or video frame index>": [[x1, y1, x2, y2], ...], ...}``."""
    try:
        raw = json.loads(pathlib.Path(path).read_text())
        if not isinstance(raw, dict):
            raise ValueError("the top level must be an object")
        boxes = {str(k): np.asarray(v, np.float64).reshape(-1, 4) for k, v in raw.items()}
    except (OSError, ValueError, TypeError) as exc:
        raise QuantizationError(f"boxes file {path}: {exc}; "
                                f"expected JSON {{\"name\": [[x1, y1, x2, y2], ...]}}") from None
    return boxes


def calibration_images(path, max_images: int | None = None):
    """Yield (key, RGB uint8 image) from a folder of images (key: file name) or a video (key: frame index)."""
    import cv2

    path = pathlib.Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise QuantizationError(f"calibration folder {path} holds no images ({', '.join(IMAGE_SUFFIXES)})")
        for file in files[:max_images]:
            bgr = cv2.imread(str(file), cv2.IMREAD_COLOR)
            if bgr is None:
                raise QuantizationError(f"calibration image {file} cannot be read")
            yield file.name, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    elif path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES:
        capture = cv2.VideoCapture(str(path))
        if not capture.isOpened():
            raise QuantizationError(f"calibration video {path} cannot be opened")
        index = 0
        try:
            while max_images is None or index < max_images:
                ok, bgr = capture.read()
                if not ok:
                    break
                yield str(index), cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                index += 1
        finally:
            capture.release()
        if index == 0:
            raise QuantizationError(f"calibration video {path} has no readable frame")
    else:
        raise QuantizationError(f"--calibration {path}: expected a folder of images or a video "
                                f"({', '.join(VIDEO_SUFFIXES)})")


def calibration_batches(path, metadata: ModelMetadata, boxes_file=None, max_images: int | None = None,
                        max_batch: int = 16):
    """Model input batches (N,3,H,W) from the calibration images, cut exactly as inference cuts them.

    Boxes come from ``boxes_file`` (images it does not name are skipped), else each image is one
    whole-frame box, like the node with ``use_detections:=false``."""
    from ..core.preprocess import CropBatcher, sanitize_boxes

    boxes_by_key = read_boxes_file(boxes_file) if boxes_file else None
    batcher = CropBatcher((metadata.input_height, metadata.input_width), metadata.mean, metadata.std,
                          max_batch=max_batch)
    for key, image in calibration_images(path, max_images):
        height, width = image.shape[:2]
        if boxes_by_key is None:
            boxes = np.array([[0.0, 0.0, width, height]])
        elif key in boxes_by_key:
            boxes = boxes_by_key[key]
        else:
            continue
        boxes, valid = sanitize_boxes(boxes, width, height)
        boxes = boxes[valid]
        for start in range(0, len(boxes), max_batch):
            batch, _, _ = batcher.prepare(image, boxes[start:start + max_batch])
            yield batch.copy()  # the batcher reuses its buffer


def _calibration_reader(batches):
    from onnxruntime.quantization import CalibrationDataReader

    class CropReader(CalibrationDataReader):
        def __init__(self):
            self.count = 0
            self._batches = iter(batches)

        def get_next(self):
            batch = next(self._batches, None)
            if batch is None:
                return None
            self.count += len(batch)
            return {INPUT_NAME: batch}

    return CropReader()


# -- conversion -------------------------------------------------------------------------------------

def read_metadata(model) -> ModelMetadata:
    props = {p.key: p.value for p in model.metadata_props}
    try:
        metadata = ModelMetadata.from_props(props)
    except ValueError as exc:
        raise QuantizationError(f"bad vitpose metadata ({exc})") from None
    if metadata.precision != "fp32":
        raise QuantizationError(f"the source is {metadata.precision}; INT8 is made from an fp32 model")
    return metadata


def _write_metadata(path: pathlib.Path, source_props: dict[str, str], mode: str, parts) -> None:
    import onnx

    model = onnx.load(str(path))
    props = {**source_props, "precision": "int8", "quantization": mode, "quantized_parts": ",".join(parts)}
    del model.metadata_props[:]
    for key, value in props.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save_model(model, str(path))


def quantize_model(source, output=None, mode: str = "static", calibration=None, boxes_file=None,
                   parts=DEFAULT_PARTS, max_calibration_images: int | None = 500,
                   calibrate_method: str = "minmax", extra_options=None,
                   say=lambda text: None) -> pathlib.Path:
    """Write the INT8 version of the fp32 ONNX ``source`` to ``output`` (default <stem>_int8.onnx).

    ``mode`` "dynamic" needs no data; "static" needs ``calibration`` (a folder of images or a
    video; boxes from ``boxes_file`` or the whole frame). ``parts`` are the network parts to
    quantize (PARTS). Returns the written path."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_dynamic, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if mode not in MODES:
        raise QuantizationError(f"quantization mode must be one of {', '.join(MODES)}, got {mode!r}")
    source = pathlib.Path(source)
    output = pathlib.Path(output) if output else precision_model_path(source, "int8")
    if output.resolve() == source.resolve():
        raise QuantizationError(f"output {output} would overwrite the source model")
    if not source.is_file():
        raise QuantizationError(f"{source}: model file not found")
    try:
        model = onnx.load(str(source))
    except Exception as exc:  # onnx raises DecodeError / google.protobuf errors
        raise QuantizationError(f"{source}: not a loadable ONNX model ({str(exc).splitlines()[0][:200]})") from None
    metadata = read_metadata(model)
    source_props = {p.key: p.value for p in model.metadata_props}
    if mode == "static" and calibration is None:
        raise QuantizationError("static INT8 needs --calibration PATH (a folder of images or a video)")
    methods = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
               "entropy": CalibrationMethod.Entropy}
    if calibrate_method not in methods:
        raise QuantizationError(f"calibration method must be one of {', '.join(methods)}")
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        # Shape inference and folding first: the attention's x.shape reads of the LayerNorm output
        # otherwise share its QDQ pair, and ORT then leaves that qkv MatMul in float. The calibrator
        # also writes an augmented copy of the model here, out of the output folder.
        prepared = pathlib.Path(tmp) / "prepared.onnx"
        quant_pre_process(str(source), str(prepared))
        prepared_model = onnx.load(str(prepared))
        layers = quantizable_layers(prepared_model)
        if "head" in parts:
            # ORT has no integer ConvTranspose kernel: the head becomes MatMuls that have one.
            layers = layers.renamed(rewrite_deconvolutions(prepared_model))
            onnx.save_model(prepared_model, str(prepared))
        chosen = layers.selected(parts)
        if not chosen:
            raise QuantizationError(f"nothing to quantize in {source} for parts {', '.join(parts)}")
        excluded = [name for name in layers.all() if name not in chosen]
        op_types = sorted({n.op_type for n in prepared_model.graph.node if n.name in chosen})
        if mode == "dynamic":
            # Dynamic quantization has no Conv kernel worth having on CPU (ConvInteger is slower).
            op_types = [t for t in op_types if t in ("MatMul", "Gemm")]
            quantize_dynamic(str(prepared), str(output), op_types_to_quantize=op_types, per_channel=False,
                             weight_type=QuantType.QInt8, nodes_to_exclude=excluded)
        else:
            batches = calibration_batches(calibration, metadata, boxes_file, max_calibration_images)
            first = next(batches, None)
            if first is None:
                raise QuantizationError(f"no person crop came from --calibration {calibration} "
                                        "(does the boxes file name its images?)")
            reader = _calibration_reader(itertools.chain([first], batches))
            quantize_static(
                str(prepared), str(output), reader, quant_format=QuantFormat.QDQ, op_types_to_quantize=op_types,
                per_channel=True, activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                nodes_to_exclude=excluded, calibrate_method=methods[calibrate_method],
                extra_options={
                    "ActivationSymmetric": True,  # zero point 0: what TensorRT's explicit quantization takes
                    "WeightSymmetric": True,
                    "CalibMaxIntermediateOutputs": 32,  # bounded memory whatever the calibration size
                    "CalibPercentile": 99.999,
                    # MatMul outputs stay float: ORT fuses DQ(x), DQ(w) -> MatMul into one
                    # MatMulIntegerToFloat, instead of requantizing every output only to dequantize it.
                    "OpTypesToExcludeOutputQuantization": ["MatMul", "Gemm", "Conv", "ConvTranspose"],
                    **(extra_options or {}),
                })
            say(f"calibrated on {reader.count} person crops from {calibration}")
    _write_metadata(output, source_props, mode, [p for p in PARTS if p in parts])
    onnx.checker.check_model(str(output))
    return output
