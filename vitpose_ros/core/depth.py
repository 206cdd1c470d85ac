"""Keypoints in metres from a depth image registered to the colour image (numpy only).

The depth image must be aligned to the colour image (RealSense ``aligned_depth_to_color`` and
similar), so pixel (u, v) of a keypoint indexes the depth image directly and the colour camera's
intrinsics back-project it. Per joint the depth is the median of the valid pixels (finite, inside
[min_m, max_m]) in a ``window`` x ``window`` square around the keypoint; a person's depth is the
median of their joints', and a joint's window keeps only pixels within ``max_deviation_m`` of it,
so thin limbs do not pick up the floor or the wall behind them. Joints without such pixels get
NaN x, y, z.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics of the optical frame (x right, y down, z forward)."""

    fx: float
    fy: float
    cx: float
    cy: float

    @classmethod
    def from_camera_info(cls, info) -> "Intrinsics | None":
        """From a sensor_msgs/CameraInfo (read by attribute); None for an uncalibrated camera."""
        k = list(info.k)
        if len(k) != 9 or k[0] <= 0 or k[4] <= 0:
            return None  # uncalibrated camera: K is all zeros
        return cls(fx=k[0], fy=k[4], cx=k[2], cy=k[5])

    @classmethod
    def default_for(cls, width: int, height: int) -> "Intrinsics":
        return cls(fx=float(width), fy=float(width), cx=width / 2.0, cy=height / 2.0)

    def back_project(self, pixels: np.ndarray, depth) -> np.ndarray:
        """(M,2) pixels and a depth (scalar or (M,)) in metres -> (M,3) points z = depth."""
        pixels = np.asarray(pixels, float)
        z = np.broadcast_to(np.asarray(depth, float), pixels.shape[:-1])
        x = (pixels[..., 0] - self.cx) * z / self.fx
        y = (pixels[..., 1] - self.cy) * z / self.fy
        return np.stack([x, y, z], axis=-1)


def _window_depths(keypoints: np.ndarray, depth_m: np.ndarray, window: int) -> np.ndarray:
    """(N, K, window^2) depth samples around each keypoint; NaN outside the image or for NaN pixels."""
    height, width = depth_m.shape
    half = window // 2
    offsets = np.arange(-half, window - half)
    # NaN / inf keypoints land far outside the image and are masked there
    pixels = np.round(np.nan_to_num(keypoints[..., :2], nan=-1e6, posinf=-1e6, neginf=-1e6).clip(-1e6, 1e6))
    u = pixels[..., 0].astype(np.int64)[..., None, None] + offsets[None, :]  # (N, K, 1, w)
    v = pixels[..., 1].astype(np.int64)[..., None, None] + offsets[:, None]  # (N, K, w, 1)
    inside = ((u >= 0) & (u < width)) & ((v >= 0) & (v < height))  # (N, K, w, w)
    flat = (v.clip(0, height - 1) * width + u.clip(0, width - 1)).reshape(*u.shape[:2], -1)
    samples = depth_m.reshape(-1)[flat].astype(np.float64)  # one gather from the raveled image
    return np.where(inside.reshape(flat.shape), samples, np.nan)


def _sorted_median(ordered: np.ndarray, start, stop) -> np.ndarray:
    """Median of ``ordered[..., start:stop]`` along the last axis (ascending); NaN where empty."""
    size, last = stop - start, ordered.shape[-1] - 1
    low = np.take_along_axis(ordered, np.minimum(start + np.maximum(size - 1, 0) // 2, last)[..., None], -1)[..., 0]
    high = np.take_along_axis(ordered, np.minimum(start + size // 2, last)[..., None], -1)[..., 0]
    return np.where(size > 0, (low + high) / 2, np.nan)  # (an empty run's clamped indices are unused)


def _nanmedian(values: np.ndarray) -> np.ndarray:
    """np.nanmedian over the last axis without its all-NaN RuntimeWarning (all-NaN slices give NaN)."""
    ordered = np.sort(values, axis=-1)  # NaN sorts last
    return _sorted_median(ordered, 0, np.isfinite(values).sum(-1))


def keypoints_to_3d(keypoints: np.ndarray, depth_m: np.ndarray, intrinsics: Intrinsics, window: int = 5,
                    max_deviation_m: float = 0.5, min_m: float = 0.1, max_m: float = 20.0,
                    score_threshold: float = 0.0, depth_scale: float = 1.0) -> np.ndarray:
    """(N, K, 3) pixels + score and a depth image -> (N, K, 3) x, y, z in metres.

    The depth image is in metres, or in units of ``depth_scale`` metres (e.g. uint16 millimetres
    with 0.001): only the sampled windows are converted. Zero and NaN pixels are no reading.

    NaN x, y, z where a joint has no valid depth. Only joints scoring >= ``score_threshold`` vote
    for the person's median depth (all joints when none of those has depth).
    """
    keypoints = np.asarray(keypoints, np.float64).reshape(-1, *np.shape(keypoints)[-2:])
    if keypoints.shape[0] == 0:
        return np.zeros((0, keypoints.shape[1], 3), np.float32)
    samples = _window_depths(keypoints, depth_m, window) * depth_scale
    with np.errstate(invalid="ignore"):
        samples = np.where((samples > 0) & (samples >= min_m) & (samples <= max_m), samples, np.nan)  # 0: no reading
    ordered = np.sort(samples, axis=-1)  # NaN last; both passes read medians of runs of this
    valid = np.isfinite(ordered).sum(-1)
    joint_z = _sorted_median(ordered, 0, valid)
    voting = np.where(keypoints[..., 2] >= score_threshold, joint_z, np.nan)
    unsure = ~np.isfinite(voting).any(axis=-1, keepdims=True)  # no confident joint with depth: all vote
    person_z = _nanmedian(np.where(unsure, joint_z, voting))[:, None, None]  # (N, 1, 1)
    # second pass: only the pixels near the person's depth count for each joint; in sorted order
    # they are one run, from the first >= person_z - max_deviation to the last <= person_z + it
    with np.errstate(invalid="ignore"):
        start = (ordered < person_z - max_deviation_m).sum(-1)
        stop = (ordered <= person_z + max_deviation_m).sum(-1)
    joint_z = _sorted_median(ordered, start, np.maximum(stop, start))
    return intrinsics.back_project(keypoints[..., :2], joint_z).astype(np.float32)
