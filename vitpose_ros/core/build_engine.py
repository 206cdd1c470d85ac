"""Prebuild (and cache) the TensorRT engine of a model, so a robot boots warm.

    python -m vitpose_ros.core.build_engine --model M.onnx [--engine-cache-dir DIR] [--no-fp16]
                                       [--max-batch 16] [--opt-batch N] [--pipeline auto|host|graph]
                                       [--flip-test]

Loads the model as the node does (same providers' options, same content-keyed cache folder:
vitpose_ros.core.engine) and runs it once at batch 1, opt and max through the TensorRT execution
provider; the engine lands in ``<cache dir>/<key>/``, the timing cache in the cache folder. The
engine is the one of the node's pipeline: with ``graph`` (``auto`` on TensorRT) the graph file of
crop, network and decode beside the model (``<stem>_graph.onnx``, ``_graph_flip`` with
``--flip-test``). Pass the node's ``max_batch``, ``fp16``, ``pipeline`` and ``flip_test``: each is
part of the key. Exit 1 with a one-line reason when TensorRT is not available here.
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
    parser.add_argument("--opt-batch", type=int, default=None,
                        help="batch the engine is tuned for (default: min(4, --max-batch), as the node)")
    parser.add_argument("--device-id", type=int, default=0, help="CUDA device")
    parser.add_argument("--pipeline", default="auto", choices=["auto", "host", "graph"],
                        help="the node's pipeline parameter (auto = graph on TensorRT)")
    parser.add_argument("--flip-test", action="store_true", help="the node's flip_test parameter")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from .engine import PROVIDER_NAMES, ModelError, import_onnxruntime
    from .estimator import PoseEstimator

    try:
        ort = import_onnxruntime()
        if PROVIDER_NAMES["tensorrt"] not in ort.get_available_providers():
            raise ModelError("this onnxruntime build has no TensorRT execution provider "
                             "(install onnxruntime-gpu with TensorRT, e.g. the JetPack build)")
        start = time.perf_counter()
        # The node's own construction, so the engine lands under the key the node will look for
        estimator = PoseEstimator(args.model, providers=("tensorrt",), fp16=not args.no_fp16,
                                  engine_cache_dir=args.engine_cache_dir, device_id=args.device_id,
                                  max_batch=args.max_batch, opt_batch=args.opt_batch, flip_test=args.flip_test,
                                  pipeline=args.pipeline)
        provider = estimator.active_provider
        image = np.zeros((480, 640, 3), np.uint8)
        for batch in sorted({1, estimator.opt_batch, args.max_batch}):
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
