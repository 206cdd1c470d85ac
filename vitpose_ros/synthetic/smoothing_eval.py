"""What One Euro smoothing does on the synthetic camera: jitter down, accuracy kept.

Ground-truth keypoints of the animated synthetic people (the synthetic camera's ``random`` scene)
plus Gaussian pixel noise stand in for a pose estimator's output; the same frames are smoothed
with ``KeypointSmoother`` (ids = the people's identities, stamps = frame times). Jitter is the
mean change of the frame-to-frame step beyond the true one, |(p_t+1 - 2 p_t + p_t-1) - (same of
g)| px over joints visible in all three frames (the acceleration error: shake, not the smooth
motion itself); lag shows in PCK@0.05 against the ground truth, as in
``vitpose_ros.synthetic.evaluate``.
"""
from __future__ import annotations

import numpy as np

from ..core.smoothing import KeypointSmoother
from .evaluate import pck
from .depth_scenes import focal_length, render_people


def smoothing_figures(frames: int = 90, rate: float = 15.0, noise_px: float = 2.0, people: int = 2, seed: int = 0,
                      width: int = 640, height: int = 480, **smoother_options) -> dict:
    """Jitter (px) and PCK@0.05 of the noisy and the smoothed keypoints of one scene;
    ``smoother_options`` go to ``KeypointSmoother`` (default: the node's defaults)."""
    from .camera_node import AnimatedPeople  # the camera's own animation (imports rclpy)

    rng = np.random.default_rng(seed + 1)
    scene = AnimatedPeople(seed, people, width, height)
    smoother = KeypointSmoother(**smoother_options)
    truths, noisy, smoothed, boxes = [], [], [], []
    for i in range(frames):
        frame = render_people(scene.people_at(i / rate), width, height, focal_length(width), seed, with_depth=False)
        order = np.argsort(frame.identities)  # rows by identity: frames line up person by person
        truth = frame.keypoints[order]
        estimate = truth.copy()
        estimate[..., :2] += rng.normal(0.0, noise_px, truth[..., :2].shape)
        estimate[..., 2] = 1.0
        truths.append(truth)
        noisy.append(estimate)
        smoothed.append(smoother(estimate, frame.identities[order], i / rate, 0.5))
        boxes.append(frame.boxes[order])
    truths, noisy, smoothed, boxes = map(np.stack, (truths, noisy, smoothed, boxes))
    visible = (truths[2:, ..., 2] == 2) & (truths[1:-1, ..., 2] == 2) & (truths[:-2, ..., 2] == 2)

    def jitter(points):
        error = np.diff(points[..., :2], n=2, axis=0) - np.diff(truths[..., :2], n=2, axis=0)
        return float(np.linalg.norm(error, axis=-1)[visible].mean())

    def accuracy(points):
        return pck(points.reshape(-1, *points.shape[2:]), truths.reshape(-1, *truths.shape[2:]),
                   boxes.reshape(-1, 4), 0.05)

    return {"jitter_raw_px": jitter(noisy), "jitter_smoothed_px": jitter(smoothed),
            "pck_raw": accuracy(noisy), "pck_smoothed": accuracy(smoothed)}


def pooled_smoothing_figures(seeds=range(10), **options) -> dict:
    """``smoothing_figures`` over several scenes: pooled ratio and PCK drop, the worst scene's, and the means."""
    runs = [smoothing_figures(seed=seed, **options) for seed in seeds]
    mean = {key: float(np.mean([r[key] for r in runs])) for key in runs[0]}
    return {"ratio": mean["jitter_raw_px"] / mean["jitter_smoothed_px"],
            "pck_drop": mean["pck_raw"] - mean["pck_smoothed"],
            "worst_ratio": min(r["jitter_raw_px"] / r["jitter_smoothed_px"] for r in runs),
            "worst_pck_drop": max(r["pck_raw"] - r["pck_smoothed"] for r in runs), **mean}
