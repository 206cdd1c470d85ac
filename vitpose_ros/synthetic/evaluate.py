"""Accuracy of a model on held-out synthetic people: PCK@0.05, PCK@0.1, COCO OKS AP, per keypoint.

    python -m vitpose_ros.synthetic.evaluate --model M.onnx [--frames 200] [--mode both] [--flip-test]
                                             [--compare OTHER.onnx]

``--compare`` runs a second model (e.g. the INT8 copy) on the same frames and prints both side by
side with the difference and the mean keypoint shift in pixels between them.

Frames come from ``vitpose_ros.synthetic`` at seeds from 10**9 up (training never uses those).
The estimator gets the renderer's boxes (what a detector would give). PCK counts a visible
keypoint (v = 2) as correct when it lies within threshold x max(box width, box height) of the
truth. OKS uses the standard COCO sigmas over labelled keypoints (v > 0) with the box area as the
object scale; AP is COCO's 101-point interpolated average over OKS 0.50:0.05:0.95, persons ranked
by mean keypoint score. numpy only (plus the estimator).
"""
from __future__ import annotations

import argparse
import json
import pathlib
import sys
from dataclasses import dataclass, field

import numpy as np

from ..core.cli import cli_error
from .train import EVAL_SEED_BASE

COCO_SIGMAS = np.array([0.26, 0.25, 0.25, 0.35, 0.35, 0.79, 0.79, 0.72, 0.72, 0.62, 0.62,
                        1.07, 1.07, 0.87, 0.87, 0.89, 0.89]) / 10.0
OKS_THRESHOLDS = np.linspace(0.5, 0.95, 10)
MODES = ("crops", "scenes")


def eval_seed(mode: str, index: int) -> int:
    """Held-out seed of the index-th evaluation frame of a mode."""
    return EVAL_SEED_BASE + (0 if mode == "crops" else 10**6) + index


def render_eval_frame(mode: str, index: int):
    from .. import synthetic

    seed = eval_seed(mode, index)
    return synthetic.render_person_crop(seed) if mode == "crops" else synthetic.render_scene(seed)


@dataclass
class Accumulator:
    """Collects per-person predictions and truth; computes the metrics at the end."""

    predictions: list = field(default_factory=list)  # (K,3) x, y, score
    truths: list = field(default_factory=list)  # (K,3) x, y, v
    boxes: list = field(default_factory=list)  # (4,)

    def add(self, predicted: np.ndarray, truth: np.ndarray, boxes: np.ndarray) -> None:
        for p, t, b in zip(predicted, truth, boxes):
            self.predictions.append(np.asarray(p, np.float64))
            self.truths.append(np.asarray(t, np.float64))
            self.boxes.append(np.asarray(b, np.float64))

    def results(self) -> dict:
        if not self.predictions:
            return {"persons": 0}
        pred, truth, boxes = np.stack(self.predictions), np.stack(self.truths), np.stack(self.boxes)
        return {
            "persons": len(pred),
            "pck@0.05": pck(pred, truth, boxes, 0.05),
            "pck@0.1": pck(pred, truth, boxes, 0.1),
            "oks_ap": oks_ap(pred, truth, boxes),
            "per_keypoint_pck@0.05": per_keypoint_pck(pred, truth, boxes, 0.05).tolist(),
        }


def _normalised_errors(pred, truth, boxes):
    scale = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    err = np.linalg.norm(pred[..., :2] - truth[..., :2], axis=-1) / scale[:, None]
    return np.where(np.isfinite(err), err, np.inf)


def pck(pred, truth, boxes, threshold: float) -> float:
    visible = truth[..., 2] == 2
    if not visible.any():
        return float("nan")
    return float((_normalised_errors(pred, truth, boxes)[visible] <= threshold).mean())


def per_keypoint_pck(pred, truth, boxes, threshold: float) -> np.ndarray:
    visible = truth[..., 2] == 2
    correct = (_normalised_errors(pred, truth, boxes) <= threshold) & visible
    with np.errstate(invalid="ignore"):
        return correct.sum(0) / visible.sum(0)


def oks(pred, truth, boxes) -> np.ndarray:
    """Object keypoint similarity of each person (NaN where nothing is labelled)."""
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    d2 = ((pred[..., :2] - truth[..., :2]) ** 2).sum(-1)
    d2 = np.where(np.isfinite(d2), d2, np.inf)
    k2 = (2 * COCO_SIGMAS) ** 2
    e = d2 / (2 * area[:, None] * k2[None] + np.finfo(float).eps)
    labelled = truth[..., 2] > 0
    with np.errstate(invalid="ignore"):
        return (np.exp(-e) * labelled).sum(1) / labelled.sum(1)


def oks_ap(pred, truth, boxes) -> float:
    """COCO-style AP: 101-point interpolated precision, averaged over OKS thresholds."""
    similarity = oks(pred, truth, boxes)
    keep = np.isfinite(similarity)
    similarity = similarity[keep]
    if similarity.size == 0:
        return float("nan")
    order = np.argsort(-np.nanmean(pred[keep][..., 2], axis=1), kind="stable")
    similarity = similarity[order]
    return float(np.mean([interpolated_ap(similarity >= threshold, len(similarity)) for threshold in OKS_THRESHOLDS]))


def interpolated_ap(hits, num_truth: int) -> float:
    """COCO's 101-point interpolated average precision of ranked results: ``hits`` (bool, best
    score first) says which are true positives, ``num_truth`` how many there are to find."""
    hits = np.asarray(hits, bool)
    if num_truth == 0 or hits.size == 0:
        return 0.0 if num_truth else float("nan")
    tp = np.cumsum(hits)
    precision = tp / np.arange(1, len(hits) + 1)
    recall = tp / num_truth
    precision = np.maximum.accumulate(precision[::-1])[::-1]  # interpolate: max to the right
    idx = np.searchsorted(recall, np.linspace(0, 1, 101), side="left")
    return float(np.where(idx < len(precision), precision[np.minimum(idx, len(precision) - 1)], 0).mean())


def evaluate(estimator, mode: str, frames: int, progress: bool = False) -> dict:
    acc = Accumulator()
    for i in range(frames):
        image, boxes, truth = render_eval_frame(mode, i)
        if len(boxes):
            acc.add(estimator.estimate(image, boxes), truth, boxes)
        if progress and (i + 1) % max(1, frames // 10) == 0:
            print(f"  {mode}: {i + 1}/{frames}", file=sys.stderr)
    return acc.results()


def compare(estimators, mode: str, frames: int, progress: bool = False) -> dict:
    """Two models on the same frames: each one's results, and how far their keypoints are apart."""
    accumulators = [Accumulator(), Accumulator()]
    shifts = []
    for i in range(frames):
        image, boxes, truth = render_eval_frame(mode, i)
        if not len(boxes):
            continue
        predicted = [estimator.estimate(image, boxes) for estimator in estimators]
        for acc, p in zip(accumulators, predicted):
            acc.add(p, truth, boxes)
        shifts.append(np.linalg.norm(predicted[0][..., :2] - predicted[1][..., :2], axis=-1).ravel())
        if progress and (i + 1) % max(1, frames // 10) == 0:
            print(f"  {mode}: {i + 1}/{frames}", file=sys.stderr)
    shift = np.concatenate(shifts) if shifts else np.zeros(0)
    shift = shift[np.isfinite(shift)]
    return {"reference": accumulators[0].results(), "compared": accumulators[1].results(),
            "mean_shift_px": float(shift.mean()) if shift.size else float("nan"),
            "p95_shift_px": float(np.percentile(shift, 95)) if shift.size else float("nan")}


def format_comparison(name: str, comparison: dict, labels: tuple[str, str]) -> str:
    ref, other = comparison["reference"], comparison["compared"]
    if not ref.get("persons"):
        return f"{name}: no persons"
    width = max(len(label) for label in labels)
    lines = [f"{name}: {ref['persons']} persons"]
    for label, r in zip(labels, (ref, other)):
        lines.append(f"    {label:<{width}}  PCK@0.05 {r['pck@0.05']:.4f}  PCK@0.1 {r['pck@0.1']:.4f}  "
                     f"OKS AP {r['oks_ap']:.4f}")
    lines.append(f"    {'difference':<{width}}  PCK@0.05 {other['pck@0.05'] - ref['pck@0.05']:+.4f}  "
                 f"PCK@0.1 {other['pck@0.1'] - ref['pck@0.1']:+.4f}  OKS AP {other['oks_ap'] - ref['oks_ap']:+.4f}")
    lines.append(f"    keypoint shift between the two: mean {comparison['mean_shift_px']:.3f} px, "
                 f"95th percentile {comparison['p95_shift_px']:.3f} px")
    return "\n".join(lines)


def format_results(name: str, results: dict, keypoint_names) -> str:
    if not results.get("persons"):
        return f"{name}: no persons"
    lines = [f"{name}: {results['persons']} persons  PCK@0.05 {results['pck@0.05']:.3f}  "
             f"PCK@0.1 {results['pck@0.1']:.3f}  OKS AP {results['oks_ap']:.3f}"]
    per = results["per_keypoint_pck@0.05"]
    lines += [f"    {n:<15} {v:.3f}" for n, v in zip(keypoint_names, per)]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="vitpose-evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="ONNX model")
    parser.add_argument("--frames", type=int, default=200, help="held-out frames per mode")
    parser.add_argument("--mode", choices=("both",) + MODES, default="both")
    parser.add_argument("--flip-test", action="store_true")
    parser.add_argument("--providers", default="tensorrt,cuda,cpu")
    parser.add_argument("--json", help="also write the results as JSON")
    parser.add_argument("--compare", metavar="MODEL2",
                        help="a second ONNX model (e.g. the INT8 copy) run on the same frames; prints both")
    args = parser.parse_args(argv)
    from ..core.engine import ModelError
    from ..core.estimator import PoseEstimator

    try:
        estimators = [PoseEstimator(path, providers=args.providers, flip_test=args.flip_test)
                      for path in [args.model] + ([args.compare] if args.compare else [])]
    except (ModelError, ValueError) as exc:
        return cli_error("vitpose-evaluate", exc)
    estimator = estimators[0]
    results = {}
    for mode in MODES if args.mode == "both" else (args.mode,):
        if args.compare:
            results[mode] = compare(estimators, mode, args.frames, progress=True)
            labels = tuple(f"{e.metadata.precision} {pathlib.Path(p).name}"
                           for e, p in zip(estimators, (args.model, args.compare)))
            print(format_comparison(f"{mode} ({args.frames} frames)", results[mode], labels))
            continue
        results[mode] = evaluate(estimator, mode, args.frames, progress=True)
        print(format_results(f"{mode} ({args.frames} frames)", results[mode], estimator.skeleton.keypoint_names))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
