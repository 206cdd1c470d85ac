"""Pose at camera rate with a slower detector: PCK@0.05 and cost per frame against detect_every.

    python benchmarks/bench_detect_every.py [--every 1 2 5 10] [--seeds 5] [--frames 60] [--rate 30]
                                            [--people 2] [--threads 0]

The shipped synthetic demo model on the synthetic camera's moving people
(``vitpose_ros.synthetic.detect_every_eval``): ground-truth boxes on every N-th frame, boxes
carried from the previous frame's keypoints in between. Prints per N: PCK@0.05 (scale: the true
box of every frame; a dropped person counts as missed), the change against N = 1, the share of
frames with carried boxes, the pose estimate's time per frame and the carry's own (medians are
not used: each figure is the mean over all frames of all scenes), with the CPU's ISA flags.
Not a test: figures vary with the machine; the README records one run.
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
    args = parser.parse_args()

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


if __name__ == "__main__":
    main()
