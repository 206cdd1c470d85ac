"""Keypoint smoothing on the synthetic camera: jitter cut against accuracy kept, over ten scenes.

    python benchmarks/bench_smoothing.py [--rates 15 30] [--seeds 10] [--noise 2.0]

Ground-truth keypoints of the camera's animated people plus Gaussian pixel noise stand in for the
estimator (``vitpose_ros.synthetic.smoothing_eval``). For the node's default filter (One Euro,
trend form) and the plain One Euro filter with its textbook-style settings it prints, per frame
rate: jitter (acceleration error, px) raw and smoothed and their ratio, PCK@0.05 raw and smoothed
and the drop, pooled over the scenes, and the worst scene's ratio and drop. Target:
jitter at least 2x lower, PCK@0.05 at most 0.01 lower. docs/benchmarks.md records a run.
"""
from __future__ import annotations

import argparse
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

FILTERS = {
    "default (trend, min_cutoff 3, beta 0.01, d_cutoff 8)": {},
    "plain One Euro (min_cutoff 1, beta 0.05, d_cutoff 0.5)": {"trend": False, "min_cutoff": 1.0, "beta": 0.05,
                                                                "d_cutoff": 0.5},
}


def main() -> None:
    from vitpose_ros.synthetic.smoothing_eval import pooled_smoothing_figures

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", type=float, nargs="+", default=[15.0, 30.0])
    parser.add_argument("--seeds", type=int, default=10, help="scenes (seeds 0..N-1), 90 frames each")
    parser.add_argument("--noise", type=float, default=2.0, help="keypoint noise, px (Gaussian sigma)")
    args = parser.parse_args()
    print(f"{args.seeds} scenes x 90 frames, 2 people, {args.noise:g} px noise")
    print(f"{'fps':>4}  {'filter':<56}{'jitter px':>15}{'ratio':>7}{'PCK@0.05':>17}{'drop':>9}"
          f"{'worst ratio':>13}{'worst drop':>12}")
    for rate in args.rates:
        for name, options in FILTERS.items():
            r = pooled_smoothing_figures(range(args.seeds), rate=rate, noise_px=args.noise, **options)
            print(f"{rate:>4.0f}  {name:<56}{r['jitter_raw_px']:>7.2f} -> {r['jitter_smoothed_px']:<5.2f}"
                  f"{r['ratio']:>6.2f}x {r['pck_raw']:>7.4f} -> {r['pck_smoothed']:.4f}{r['pck_drop']:>+9.4f}"
                  f"{r['worst_ratio']:>12.2f}x{r['worst_pck_drop']:>+12.4f}", flush=True)


if __name__ == "__main__":
    main()
