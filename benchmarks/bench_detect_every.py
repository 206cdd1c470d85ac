"""Pose at camera rate with a slower detector: PCK@0.05 and cost per frame against detect_every.

    python benchmarks/bench_detect_every.py [--every 1 2 5 10] [--seeds 5] [--frames 60] [--rate 30]
                                            [--people 2] [--threads 0]

The shipped synthetic demo model on the synthetic camera's moving people
(``vitpose_ros.synthetic.detect_every_eval``): ground-truth boxes on every N-th frame, boxes
carried from the previous frame's keypoints in between. Prints per N: PCK@0.05 (scale: the true
box of every frame; a dropped person counts as missed), the change against N = 1, the share of
frames with carried boxes, the pose estimate's time per frame and the carry's own (medians are
not used: each figure is the mean over all frames of all scenes), with the CPU's ISA flags.

    python benchmarks/bench_detect_every.py --end-to-end [--persons 1 4] [--every 1 5] [--frames 20]

prints instead the cost per frame of detector + pose for two person detectors, run by
core.detector as the node runs them: the shipped synthetic detector, and the RT-DETR R18-VD
architecture (random weights: timing does not depend on them; exported as ``fetch --detector
rtdetr-r18`` does, 640x640)
on every N-th frame (the camera frame stretched to its input, as the detector contract says), the
demo pose model on the persons' boxes every frame; mean over the frames, with the detector's and
the pose estimate's own times. Needs torch and transformers (for the export).
Not a test: figures vary with the machine; docs/benchmarks.md records one run.
"""
from __future__ import annotations

import argparse
import os
import pathlib
import platform
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))


def main() -> None:
    from bench_runtime import cpu_isa_flags

    from vitpose_ros.core.estimator import PoseEstimator
    from vitpose_ros.synthetic import demo_model_path
    from vitpose_ros.synthetic.detect_every_eval import pooled_detect_every_figures

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=int, nargs="+", default=[1, 2, 5, 10])
    parser.add_argument("--seeds", type=int, default=5, help="scenes (seeds 0..N-1)")
    parser.add_argument("--frames", type=int, default=60, help="frames per scene")
    parser.add_argument("--rate", type=float, default=30.0, help="camera frame rate (Hz): how far people move per frame")
    parser.add_argument("--people", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0, help="ONNX Runtime intra-op threads (0: default)")
    parser.add_argument("--end-to-end", action="store_true", help="detector + pose cost per frame instead")
    parser.add_argument("--persons", type=int, nargs="+", default=[1, 4])
    args = parser.parse_args()
    if args.end_to_end:
        end_to_end(args, cpu_isa_flags())
        return

    estimator = PoseEstimator(demo_model_path(), providers=("cpu",), cpu_threads=args.threads)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; ISA: {cpu_isa_flags()}")
    print(f"demo model {demo_model_path().name} on CPU; {args.seeds} scenes x {args.frames} frames at "
          f"{args.rate:g} fps, {args.people} people")
    print(f"{'N':>3}{'PCK@0.05':>10}{'vs N=1':>9}{'carried':>9}{'pose ms/frame':>15}{'carry ms/frame':>16}")
    first = None
    for every in args.every:
        r = pooled_detect_every_figures(estimator, every, range(args.seeds), frames=args.frames, rate=args.rate,
                                        people=args.people)
        first = r["pck@0.05"] if first is None else first
        print(f"{every:>3}{r['pck@0.05']:>10.4f}{r['pck@0.05'] - first:>+9.4f}{r['carried_fraction']:>9.2f}"
              f"{r['estimate_ms']:>15.2f}{r['carry_ms']:>16.3f}", flush=True)


def rtdetr_r18_random(path: pathlib.Path) -> pathlib.Path:
    """The RT-DETR R18-VD architecture (PekingU/rtdetr_r18vd's config) with random weights, exported."""
    import transformers

    from vitpose_ros.model.detector_export import DETECTORS, detector_metadata, export_detector

    backbone = transformers.RTDetrResNetConfig(embedding_size=64, hidden_sizes=[64, 128, 256, 512], depths=[2, 2, 2, 2],
                                               layer_type="basic", out_features=["stage2", "stage3", "stage4"])
    config = transformers.RTDetrConfig(backbone_config=backbone, encoder_in_channels=[128, 256, 512],
                                       hidden_expansion=0.5, decoder_layers=3, num_labels=80)
    config.id2label = {0: "person", **{i: f"class{i}" for i in range(1, 80)}}
    model = transformers.RTDetrForObjectDetection(config).eval()
    settings = {"input_height": 640, "input_width": 640, "mean": (0, 0, 0), "std": (1, 1, 1)}
    return export_detector(model, path, detector_metadata(model, settings, DETECTORS["rtdetr-r18"]))


def end_to_end(args, isa: str) -> None:
    import tempfile
    import time

    import numpy as np

    from vitpose_ros.core.detector import PersonDetector
    from vitpose_ros.core.estimator import PoseEstimator
    from vitpose_ros.synthetic import demo_detector_path, demo_model_path

    with tempfile.TemporaryDirectory() as tmp:
        detectors = {"rtdetr-r18 (random weights, 640x640)": rtdetr_r18_random(pathlib.Path(tmp) / "rtdetr_r18.onnx"),
                     "synthetic (shipped, 192x256)": demo_detector_path()}
        estimator = PoseEstimator(demo_model_path(), providers=("cpu",), cpu_threads=args.threads)
        frame = np.random.default_rng(0).integers(0, 255, (480, 640, 3), np.uint8)
        print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; ISA: {isa}")
        print(f"person detector (core.detector, as the node runs it) + demo pose model {demo_model_path().name}, "
              f"CPU provider, 640x480 frames, mean of {args.frames} frames")
        print(f"{'detector':<38}{'persons':>7}{'N':>4}{'ms/frame':>10}{'detector ms/run':>17}{'pose ms/frame':>15}")
        for name, path in detectors.items():
            detector = PersonDetector(path, providers=("cpu",), cpu_threads=args.threads)
            detector.detect(frame)
            for persons in args.persons:
                boxes = np.array([[40 + 150 * i, 60, 160 + 150 * i, 420] for i in range(persons)], float)
                estimator.estimate(frame, boxes)
                for every in args.every:
                    detector_s, pose_s, runs = 0.0, 0.0, 0
                    for i in range(args.frames):
                        t0 = time.perf_counter()
                        if i % every == 0:
                            detector.detect(frame)
                            runs += 1
                        t1 = time.perf_counter()
                        estimator.estimate(frame, boxes)
                        detector_s += t1 - t0
                        pose_s += time.perf_counter() - t1
                    print(f"{name:<38}{persons:>7}{every:>4}{1e3 * (detector_s + pose_s) / args.frames:>10.1f}"
                          f"{1e3 * detector_s / runs:>17.1f}{1e3 * pose_s / args.frames:>15.1f}", flush=True)


if __name__ == "__main__":
    main()
