"""Reduced-precision copies of an exported fp32 model, written beside it (metadata.precision_model_path).

fp16: weights and activations in half precision, input and output kept float32 (so the runtime,
the device-side pipeline and TensorRT profiles see the same graph interface), with the ops where
fp16 overflows or loses too much kept in float32: LayerNormalization (its variance of 384..1280
channels), Softmax (exp of the attention logits), reductions and Pow/Sqrt. This is what the CUDA
provider runs when the node's ``fp16`` is true (TensorRT builds its own fp16 engine from fp32).

torch-free; needs onnx and onnxruntime's float16 converter (onnxruntime.transformers.float16,
shipped with onnxruntime).
"""
from __future__ import annotations

import pathlib

from ..core.metadata import PRECISIONS, precision_model_path

# Kept float32 in fp16 models (on top of the converter's own list of ops without fp16 kernels).
FP16_FP32_OPS = ("LayerNormalization", "Softmax", "LogSoftmax", "ReduceMean", "ReduceSum", "ReduceMax",
                 "ReduceMin", "ReduceL2", "ReduceSumSquare", "Pow", "Sqrt", "ReduceLogSumExp")
# Protobuf cannot hold a model over 2 GiB (fp16 ViTPose-H is about 1.3 GB and fits).
EXTERNAL_DATA_THRESHOLD = 1_800_000_000


class PrecisionError(RuntimeError):
    pass


def _set_precision(model, precision: str) -> None:
    for entry in model.metadata_props:
        if entry.key == "precision":
            entry.value = precision
            return
    entry = model.metadata_props.add()
    entry.key, entry.value = "precision", precision


def convert_fp16(model):
    """An fp32 onnx.ModelProto -> its fp16 version (float32 I/O, FP16_FP32_OPS in float32)."""
    from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16

    converted = convert_float_to_float16(model, keep_io_types=True,
                                         op_block_list=sorted(set(DEFAULT_OP_BLOCK_LIST) | set(FP16_FP32_OPS)))
    _set_precision(converted, "fp16")
    return converted


# precision -> converter of an fp32 ModelProto (int8 needs calibration options: model.int8, via convert.py)
CONVERTERS = {"fp16": convert_fp16}


def convert_model(source, precision: str, output=None) -> pathlib.Path:
    """Write the ``precision`` copy of the fp32 model file ``source`` (default: beside it as
    <stem>_<precision>.onnx); returns its path."""
    import onnx

    if precision not in PRECISIONS or precision == "fp32":
        raise PrecisionError(f"precision must be one of {', '.join(p for p in PRECISIONS if p != 'fp32')}, "
                             f"got {precision!r}")
    if precision not in CONVERTERS:
        raise PrecisionError(f"converting to {precision} is not available here")
    source = pathlib.Path(source)
    output = pathlib.Path(output) if output else precision_model_path(source, precision)
    if output.resolve() == source.resolve():
        raise PrecisionError(f"{output}: the converted model would overwrite its source")
    try:
        model = onnx.load(str(source))
    except Exception as exc:
        raise PrecisionError(f"{source}: not a loadable ONNX model ({str(exc).splitlines()[0][:200]})") from None
    current = {p.key: p.value for p in model.metadata_props}.get("precision", "fp32")
    if current != "fp32":
        raise PrecisionError(f"{source}: is already {current}; convert the fp32 model")
    converted = CONVERTERS[precision](model)
    output.parent.mkdir(parents=True, exist_ok=True)
    large = converted.ByteSize() > EXTERNAL_DATA_THRESHOLD
    onnx.save_model(converted, str(output), save_as_external_data=large,
                    location=output.name + ".data" if large else None)
    return output
