"""Prebuild (and cache) the TensorRT engine of a model, so a robot boots warm.

    python -m vitpose_ros.core.build_engine --model M.onnx [--engine-cache-dir DIR] [--no-fp16]
                                       [--max-batch 16] [--opt-batch 4] [--pipeline auto|host|graph]
                                       [--flip-test]

Runs the model once at batch 1, opt and max through the TensorRT execution provider with the same
options the node uses; the engine and timing caches land in the cache folder. The engine is the
one of the node's pipeline: with ``graph`` (``auto`` on TensorRT) the composed graph of crop,
network and decode (device_graph), which also depends on ``--flip-test``. Exit 1 with a
one-line reason when TensorRT is not available here.
"""
from __future__ import annotations

import argparse
import logging
import sys
import time

import numpy as np

from .cli import cli_error


def parse_args(argv=None):
    from .engine import DEFAULT_ENGINE_CACHE

    parser = argparse.ArgumentParser(prog="vitpose-build-engine", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="exported ViTPose ONNX model")
    parser.add_argument("--engine-cache-dir", default=str(DEFAULT_ENGINE_CACHE), help="TensorRT cache folder")
    parser.add_argument("--no-fp16", action="store_true", help="build an fp32 engine")
    parser.add_argument("--max-batch", type=int, default=16, help="largest batch the engine accepts")
    parser.add_argument("--opt-batch", type=int, default=4, help="batch the engine is tuned for")
    parser.add_argument("--device-id", type=int, default=0, help="CUDA device")
    parser.add_argument("--pipeline", default="auto", choices=["auto", "host", "graph"],
                        help="the node's pipeline parameter (auto = graph on TensorRT)")
    parser.add_argument("--flip-test", action="store_true", help="the node's flip_test parameter")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from .engine import PROVIDER_NAMES, ModelError, OnnxEngine, import_onnxruntime
    from .estimator import PoseEstimator

    try:
        ort = import_onnxruntime()
        if PROVIDER_NAMES["tensorrt"] not in ort.get_available_providers():
            raise ModelError("this onnxruntime build has no TensorRT execution provider "
                             "(install onnxruntime-gpu with TensorRT, e.g. the JetPack build)")
        start = time.perf_counter()
        if args.pipeline == "host":
            engine = OnnxEngine(args.model, providers=("tensorrt",), fp16=not args.no_fp16,
                                engine_cache_dir=args.engine_cache_dir, device_id=args.device_id,
                                max_batch=args.max_batch * (2 if args.flip_test else 1), opt_batch=args.opt_batch)
            provider = engine.active_provider
            meta = engine.metadata
            for batch in sorted({1, args.opt_batch, args.max_batch}):
                engine.run(np.zeros((batch, 3, meta.input_height, meta.input_width), np.float32))
        else:
            estimator = PoseEstimator(args.model, providers=("tensorrt",), fp16=not args.no_fp16,
                                      engine_cache_dir=args.engine_cache_dir, device_id=args.device_id,
                                      max_batch=args.max_batch, flip_test=args.flip_test, pipeline=args.pipeline)
            provider = estimator.active_provider
            image = np.zeros((480, 640, 3), np.uint8)
            for batch in sorted({1, args.opt_batch, args.max_batch}):
                estimator.estimate(image, np.tile([[100.0, 50.0, 300.0, 450.0]], (batch, 1)))
        if provider != PROVIDER_NAMES["tensorrt"]:
            raise ModelError(f"TensorRT did not take the model (running on {provider})")
    except ModelError as exc:
        return cli_error("vitpose-build-engine", exc)
    print(f"TensorRT engine for {args.model} ready in {args.engine_cache_dir} "
          f"({time.perf_counter() - start:.0f} s, fp16={not args.no_fp16})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
