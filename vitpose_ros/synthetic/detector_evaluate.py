"""Person-detection accuracy on held-out synthetic scenes: AP@0.5 (COCO 101-point), recall, precision.

    python -m vitpose_ros.synthetic.detector_evaluate \
        --model vitpose_ros/synthetic/models/person_detector_synthetic.onnx [--frames 500] [--min-score 0.05]

Frames are ``render_scene`` at the pose evaluation's scene seeds (from 10**9 + 10**6 up, never used
in training) with the figures' exact extents as truth (``box_jitter=False``). Detections of all
frames are ranked by score; each is a true positive when its best-overlapping still unmatched
truth box of the same frame has IoU >= 0.5 (greedy, best score first, as COCO matches).
Recall and precision are also given at the node's default score threshold. numpy only (plus the
detector).
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from ..core.cli import cli_error
from ..core.tracking import box_iou
from .evaluate import eval_seed, interpolated_ap

IOU_THRESHOLD = 0.5


def match_detections(boxes, scores, truth, iou_threshold: float = IOU_THRESHOLD) -> np.ndarray:
    """Which of one frame's detections are true positives (greedy, highest score first)."""
    order = np.argsort(-np.asarray(scores), kind="stable")
    hits = np.zeros(len(order), bool)
    if not len(truth) or not len(order):
        return hits
    iou = box_iou(np.asarray(boxes)[order], truth)
    taken = np.zeros(len(truth), bool)
    for rank in range(len(order)):
        candidates = np.where(taken, -1.0, iou[rank])
        best = int(np.argmax(candidates))
        if candidates[best] >= iou_threshold:
            taken[best] = True
            hits[order[rank]] = True
    return hits


class DetectionAccumulator:
    """Per-frame detections and truth boxes; ``results`` ranks all of them together."""

    def __init__(self, iou_threshold: float = IOU_THRESHOLD):
        self.iou_threshold = iou_threshold
        self.scores, self.hits, self.num_truth, self.frames = [], [], 0, 0

    def add(self, boxes, scores, truth) -> None:
        self.hits.append(match_detections(boxes, scores, truth, self.iou_threshold))
        self.scores.append(np.asarray(scores, np.float64))
        self.num_truth += len(truth)
        self.frames += 1

    def results(self, score_threshold: float = 0.3) -> dict:
        scores = np.concatenate(self.scores) if self.scores else np.zeros(0)
        hits = np.concatenate(self.hits) if self.hits else np.zeros(0, bool)
        order = np.argsort(-scores, kind="stable")
        kept = scores >= score_threshold
        return {"frames": self.frames, "persons": self.num_truth,
                f"ap@{self.iou_threshold:g}": interpolated_ap(hits[order], self.num_truth),
                "score_threshold": score_threshold,
                "recall": float(hits[kept].sum() / self.num_truth) if self.num_truth else float("nan"),
                "precision": float(hits[kept].mean()) if kept.any() else float("nan")}


def render_eval_scene(index: int):
    """The index-th held-out scene with exact boxes: (image, boxes (N,4), keypoints (N,17,3))."""
    from .scenes import render_scene

    return render_scene(eval_seed("scenes", index), box_jitter=False)


def evaluate_detector(detector, frames: int, min_score: float = 0.05, score_threshold: float = 0.3,
                      progress: bool = False) -> dict:
    """``detector``: a ``core.detector.PersonDetector``; all its persons above ``min_score`` are ranked."""
    acc = DetectionAccumulator()
    for i in range(frames):
        image, truth, _ = render_eval_scene(i)
        boxes, scores = detector.detect_persons(image, min_score=min_score)
        acc.add(boxes, scores, truth)
        if progress and (i + 1) % max(1, frames // 10) == 0:
            print(f"  {i + 1}/{frames}", file=sys.stderr)
    return acc.results(score_threshold)


def format_detection_results(name: str, results: dict) -> str:
    return (f"{name}: {results['frames']} frames, {results['persons']} persons  AP@0.5 {results['ap@0.5']:.3f}  "
            f"recall {results['recall']:.3f} / precision {results['precision']:.3f} at score >= "
            f"{results['score_threshold']:g}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="vitpose-detector-evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="detector ONNX file (the detector contract)")
    parser.add_argument("--frames", type=int, default=500, help="held-out scenes")
    parser.add_argument("--min-score", type=float, default=0.05, help="lowest score ranked for AP")
    parser.add_argument("--score-threshold", type=float, default=0.3, help="where recall/precision are read")
    parser.add_argument("--providers", default="tensorrt,cuda,cpu")
    parser.add_argument("--json", help="also write the results as JSON")
    args = parser.parse_args(argv)
    from ..core.detector import PersonDetector
    from ..core.engine import ModelError

    try:
        detector = PersonDetector(args.model, providers=args.providers)
    except (ModelError, ValueError) as exc:
        return cli_error("vitpose-detector-evaluate", exc)
    results = evaluate_detector(detector, args.frames, args.min_score, args.score_threshold, progress=True)
    print(format_detection_results(f"held-out scenes ({args.model})", results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
