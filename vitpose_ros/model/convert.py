"""Convert an exported fp32 ViTPose ONNX model to a reduced precision, beside it.

    python -m vitpose_ros.model.convert --input vitpose_b_coco.onnx --precision fp16
        -> vitpose_b_coco_fp16.onnx (float32 input/output; the node's fp16 on CUDA loads it)

After writing, both models run on the same random batch with ONNX Runtime (CPU) and the largest
heatmap difference is printed.
"""
from __future__ import annotations

import argparse
import sys

from ..core.metadata import PRECISIONS
from .precision import CONVERTERS, PrecisionError, convert_model


def heatmap_difference(fp32_path, converted_path, batch: int = 2, seed: int = 0) -> float:
    """Max abs heatmap difference of the two models on one random normalised batch (CPU)."""
    import numpy as np
    import onnxruntime as ort

    sessions = [ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]) for p in (fp32_path, converted_path)]
    shape = [batch if not isinstance(d, int) else d for d in sessions[0].get_inputs()[0].shape]
    x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    a, b = (s.run(None, {s.get_inputs()[0].name: x})[0] for s in sessions)
    return float(np.abs(a - b).max())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="vitpose-convert", description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", required=True, help="fp32 ONNX model written by vitpose-export")
    parser.add_argument("--precision", required=True, choices=[p for p in PRECISIONS if p in CONVERTERS])
    parser.add_argument("--output", default=None, help="default: <input stem>_<precision>.onnx beside the input")
    args = parser.parse_args(argv)
    try:
        path = convert_model(args.input, args.precision, args.output)
    except PrecisionError as exc:
        print(f"vitpose-convert: error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {path} ({args.precision})")
    try:
        print(f"max abs heatmap difference to fp32 (CPU, random input): {heatmap_difference(args.input, path):.3g}")
    except Exception as exc:  # the CPU provider may lack a kernel for this precision
        print(f"(not compared on CPU: {str(exc).splitlines()[0][:200]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
