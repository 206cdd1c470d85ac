"""fp32 and INT8 models on a GPU provider, host and graph pipelines: do they run, how fast, and do
their keypoints match the CPU provider's?

    python benchmarks/gpu_int8_check.py [cuda|tensorrt]

Random-weight ViT-S and ViT-B, their dynamic and static INT8 copies, one 640x480 frame with 4
persons; per model and pipeline: the provider that runs, the median of 10 ``estimate`` calls, and
the median keypoint shift and largest score difference against the CPU provider on the same input.
docs/benchmarks.md ("INT8 on the CUDA provider") records a run.
"""
import argparse
import pathlib
import statistics
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from bench_runtime import frame_and_boxes, int8_models  # noqa: E402  (this folder)
from vitpose_ros.core.engine import import_onnxruntime  # noqa: E402
from vitpose_ros.core.estimator import PoseEstimator  # noqa: E402
from vitpose_ros.core.metadata import ModelMetadata  # noqa: E402
from vitpose_ros.model import build_model, init_weights, variant_config  # noqa: E402
from vitpose_ros.model.export import export_model  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("provider", nargs="?", default="cuda", help="cuda or tensorrt (cpu: a dry run)")
    gpu = parser.parse_args().provider
    ort = import_onnxruntime()
    print("onnxruntime", ort.__version__, ort.get_available_providers())
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        for variant in ("s", "b"):
            fp32 = export_model(init_weights(build_model(variant_config(variant))), tmp / f"{variant}.onnx",
                                ModelMetadata(variant=variant, source_format="random"))
            paths = {"fp32": fp32} | int8_models(fp32, ["dynamic", "static"], tmp)
            image, boxes = frame_and_boxes(4)
            for name, path in paths.items():
                reference = PoseEstimator(path, providers="cpu", pipeline="host").estimate(image, boxes)
                for pipeline in ("host", "graph"):
                    try:
                        est = PoseEstimator(path, providers=gpu, pipeline=pipeline, max_batch=8)
                        out = est.estimate(image, boxes)
                        shift = np.linalg.norm(out[..., :2] - reference[..., :2], axis=-1)
                        times = []
                        for _ in range(10):
                            start = time.perf_counter()
                            est.estimate(image, boxes)
                            times.append(time.perf_counter() - start)
                        print(f"ViT-{variant.upper()} {name:<13} {pipeline:<5} {est.active_provider:<24} 4 persons "
                              f"{statistics.median(times) * 1e3:7.2f} ms; vs CPU: median shift {np.median(shift):.3f} px, "
                              f"max score diff {np.abs(out[..., 2] - reference[..., 2]).max():.4f}", flush=True)
                    except Exception as exc:  # report and go on: the point is to see what runs
                        print(f"ViT-{variant.upper()} {name:<13} {pipeline:<5} FAILED: {str(exc).splitlines()[0][:300]}", flush=True)


if __name__ == "__main__":
    main()
