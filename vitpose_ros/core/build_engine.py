"""Prebuild (and cache) the TensorRT engine of a model, so a robot boots warm.

    python -m vitpose_ros.core.build_engine --model M.onnx [--engine-cache-dir DIR] [--no-fp16]
                                       [--max-batch 16] [--opt-batch 4]

Runs the model once at batch 1, opt and max through the TensorRT execution provider with the same
options the node uses; the engine and timing caches land in the cache folder. Exit 1 with a
one-line reason when TensorRT is not available here.
"""
from __future__ import annotations

import argparse
import logging
import sys
import time

import numpy as np


def parse_args(argv=None):
    from .engine import DEFAULT_ENGINE_CACHE

    parser = argparse.ArgumentParser(prog="vitpose-build-engine", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="exported ViTPose ONNX model")
    parser.add_argument("--engine-cache-dir", default=str(DEFAULT_ENGINE_CACHE), help="TensorRT cache folder")
    parser.add_argument("--no-fp16", action="store_true", help="build an fp32 engine")
    parser.add_argument("--max-batch", type=int, default=16, help="largest batch the engine accepts")
    parser.add_argument("--opt-batch", type=int, default=4, help="batch the engine is tuned for")
    parser.add_argument("--device-id", type=int, default=0, help="CUDA device")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from .engine import PROVIDER_NAMES, ModelError, OnnxEngine, import_onnxruntime

    try:
        ort = import_onnxruntime()
        if PROVIDER_NAMES["tensorrt"] not in ort.get_available_providers():
            raise ModelError("this onnxruntime build has no TensorRT execution provider "
                             "(install onnxruntime-gpu with TensorRT, e.g. the JetPack build)")
        start = time.perf_counter()
        engine = OnnxEngine(args.model, providers=("tensorrt",), fp16=not args.no_fp16,
                            engine_cache_dir=args.engine_cache_dir, device_id=args.device_id,
                            max_batch=args.max_batch, opt_batch=args.opt_batch)
        if engine.active_provider != PROVIDER_NAMES["tensorrt"]:
            raise ModelError(f"TensorRT did not take the model (running on {engine.active_provider})")
        meta = engine.metadata
        for batch in sorted({1, args.opt_batch, args.max_batch}):
            engine.run(np.zeros((batch, 3, meta.input_height, meta.input_width), np.float32))
    except ModelError as exc:
        print(f"vitpose-build-engine: error: {exc}", file=sys.stderr)
        return 1
    print(f"TensorRT engine for {args.model} ready in {args.engine_cache_dir} "
          f"({time.perf_counter() - start:.0f} s, fp16={not args.no_fp16})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
