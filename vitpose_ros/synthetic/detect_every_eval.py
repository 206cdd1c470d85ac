"""Accuracy of carried boxes (``detect_every``) on the synthetic camera's moving people.

The shipped demo model estimates the animated people of the synthetic camera's ``random`` scene;
every ``every``-th frame it gets the renderer's boxes (a perfect detector), the frames in between
the boxes ``BoxCarry`` makes from the previous frame's keypoints. PCK@0.05 against the ground
truth, as in ``vitpose_ros.synthetic.evaluate`` (scale: the true box of every frame); a person
the carry dropped counts as all keypoints missed. Also the time per frame of the pose estimate
and of the carry's own bookkeeping.
"""
from __future__ import annotations

import time

import numpy as np

from ..core.box_carry import BoxCarry
from .depth_scenes import focal_length, render_people
from .evaluate import pck


def detect_every_figures(estimator, every: int, frames: int = 60, rate: float = 30.0, people: int = 2,
                         seed: int = 0, width: int = 640, height: int = 480, score_threshold: float = 0.3) -> dict:
    """PCK@0.05 and per-frame times (ms) of one scene with detections every ``every`` frames."""
    from .camera_node import AnimatedPeople  # the camera's own animation (imports rclpy)

    scene = AnimatedPeople(seed, people, width, height)
    carry = BoxCarry(every, score_threshold)
    predicted, truths, scales = [], [], []
    estimate_s = carry_s = 0.0
    carried_frames = 0
    for i in range(frames):
        frame = render_people(scene.people_at(i / rate), width, height, focal_length(width), seed, with_depth=False)
        t0 = time.perf_counter()
        carried = carry.carried()
        if carried is None:
            boxes, ids = carry.detected(frame.boxes, frame.identities)
        else:
            boxes, ids = carried
            carried_frames += 1
        t1 = time.perf_counter()
        keypoints = estimator.estimate(frame.image, boxes)
        t2 = time.perf_counter()
        carry.observe(keypoints, ids)
        t3 = time.perf_counter()
        estimate_s += t2 - t1
        carry_s += (t1 - t0) + (t3 - t2)
        rows = {int(identity): row for row, identity in enumerate(ids)}
        for identity, truth, box in zip(frame.identities, frame.keypoints, frame.boxes):
            row = rows.get(int(identity))
            predicted.append(keypoints[row] if row is not None else np.full(truth.shape, np.nan))
            truths.append(truth)
            scales.append(box)
    return {"pck@0.05": pck(np.stack(predicted), np.stack(truths), np.stack(scales), 0.05),
            "estimate_ms": 1e3 * estimate_s / frames, "carry_ms": 1e3 * carry_s / frames,
            "carried_fraction": carried_frames / frames}


def pooled_detect_every_figures(estimator, every: int, seeds=range(5), **options) -> dict:
    """``detect_every_figures`` averaged over scenes (seeds)."""
    runs = [detect_every_figures(estimator, every, seed=seed, **options) for seed in seeds]
    return {key: float(np.mean([r[key] for r in runs])) for key in runs[0]}
