"""Heatmaps -> keypoints in image pixels.

``dark-udp`` is ViTPose's official test-time decoder (mmpose ``post_dark_udp`` with the configs'
``modulate_kernel=11``): arg-max, Gaussian blur (k=11) of the heatmap, clip to [0.001, 50], log,
one Newton step on the log-heatmap (gradient and Hessian by central differences), then the UDP
back-transform. The kernel travels in the model's metadata: 11 for ViTPose's sigma-2 targets,
smaller for models trained with sharper ones (``dark_kernel_for_sigma``). One guard is ours: the
Newton step is clamped to one heatmap pixel, which changes nothing for a real peak and keeps flat
maps from throwing keypoints out of the crop. ``argmax`` stops after the arg-max. Score = the raw
heatmap maximum (before blur).

UDP back-transform: heatmap pixel x_h in [0, w-1] covers the crop's [c - s/2, c + s/2]:
    x_image = x_h / (w - 1) * s + c - s / 2

numpy + OpenCV only.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from .metadata import DARK_KERNEL

METHODS = ("dark-udp", "argmax")
_CV_MAX_CHANNELS = 128  # OpenCV 5 takes at most 128 channels per image (4.x: 512)


def dark_kernel_for_sigma(sigma: float) -> int:
    """The odd blur kernel whose OpenCV default sigma (0.3 * ((k - 1) / 2 - 1) + 0.8) is nearest
    the training targets' sigma: the pairing of mmpose's configs (sigma 2 -> 11, sigma 3 -> 17).
    Blurring a sharp heatmap with a wide kernel drags the peak toward its neighbours' mass."""
    half = max(1, math.floor((sigma - 0.8) / 0.3 + 1.5 - 1e-9))  # a tie goes to the smaller kernel
    return 2 * half + 1


def argmax_coords(heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N,K,h,w) -> integer peak coords (N,K,2) as float (x, y), and peak values (N,K)."""
    n, k, h, w = heatmaps.shape
    flat = heatmaps.reshape(n, k, h * w)
    idx = flat.argmax(axis=2)
    maxvals = np.take_along_axis(flat, idx[..., None], axis=2)[..., 0]
    coords = np.stack([idx % w, idx // w], axis=-1).astype(np.float64)
    return coords, maxvals


def gaussian_blur_stack(maps: np.ndarray, kernel: int) -> np.ndarray:
    """Blur each (h,w) map of an (M,h,w) stack, many maps per OpenCV call (as channels)."""
    m, h, w = maps.shape
    out = np.empty((m, h, w), np.float32)
    for start in range(0, m, _CV_MAX_CHANNELS):
        chunk = np.ascontiguousarray(maps[start:start + _CV_MAX_CHANNELS].transpose(1, 2, 0), np.float32)
        blurred = cv2.GaussianBlur(chunk, (kernel, kernel), 0)
        out[start:start + _CV_MAX_CHANNELS] = blurred.reshape(h, w, -1).transpose(2, 0, 1)
    return out


def dark_refine(heatmaps: np.ndarray, coords: np.ndarray, kernel: int = DARK_KERNEL) -> np.ndarray:
    """One Newton step on the blurred log-heatmap around each arg-max (the DARK/UDP refinement)."""
    n, k, h, w = heatmaps.shape
    logmaps = np.log(np.clip(gaussian_blur_stack(heatmaps.reshape(n * k, h, w), kernel), 0.001, 50.0))
    padded = np.pad(logmaps, ((0, 0), (1, 1), (1, 1)), mode="edge")
    x = coords[..., 0].reshape(-1).astype(np.int64) + 1  # +1: padding offset
    y = coords[..., 1].reshape(-1).astype(np.int64) + 1
    m = np.arange(n * k)

    def at(dx, dy):
        return padded[m, y + dy, x + dx]

    centre = at(0, 0)
    dx = 0.5 * (at(1, 0) - at(-1, 0))
    dy = 0.5 * (at(0, 1) - at(0, -1))
    dxx = at(1, 0) - 2 * centre + at(-1, 0)
    dyy = at(0, 1) - 2 * centre + at(0, -1)
    dxy = 0.5 * (at(1, 1) - at(1, 0) - at(0, 1) + 2 * centre - at(-1, 0) - at(0, -1) + at(-1, -1))
    hessian = np.stack([np.stack([dxx, dxy], -1), np.stack([dxy, dyy], -1)], -2)
    hessian = hessian + np.finfo(np.float32).eps * np.eye(2)
    step = np.linalg.solve(hessian, np.stack([dx, dy], -1)[..., None])[..., 0]
    # A real peak moves by < 0.5 px. Flat or non-concave maps (no person there) give wild steps;
    # keep those within the arg-max's neighbourhood so a keypoint never leaves its crop.
    step = np.clip(step, -1.0, 1.0)
    return coords - step.reshape(n, k, 2)


def heatmap_to_image(coords: np.ndarray, heatmap_size: tuple[int, int], centers: np.ndarray,
                     crop_sizes: np.ndarray) -> np.ndarray:
    """UDP back-transform: heatmap (x, y) (N,K,2) -> image pixels. heatmap_size = (h, w)."""
    h, w = heatmap_size
    per_pixel = crop_sizes / np.array([w - 1, h - 1], np.float64)  # image pixels per heatmap pixel
    return coords * per_pixel[:, None, :] + (centers - 0.5 * crop_sizes)[:, None, :]


def decode_heatmaps(heatmaps: np.ndarray, centers: np.ndarray, crop_sizes: np.ndarray,
                    method: str = "dark-udp", kernel: int = DARK_KERNEL) -> np.ndarray:
    """(N,K,h,w) heatmaps of crops with given centres/sizes (N,2) -> (N,K,3) float32 x, y, score."""
    if method not in METHODS:
        raise ValueError(f"unknown decode method {method!r}; known: {', '.join(METHODS)}")
    heatmaps = np.asarray(heatmaps, np.float32)
    if heatmaps.ndim != 4:
        raise ValueError(f"heatmaps must be (N, K, h, w), got shape {heatmaps.shape}")
    n, k, h, w = heatmaps.shape
    if n == 0:
        return np.zeros((0, k, 3), np.float32)
    coords, scores = argmax_coords(heatmaps)
    if method == "dark-udp":
        coords = dark_refine(heatmaps, coords, kernel)
    xy = heatmap_to_image(coords, (h, w), np.asarray(centers, np.float64), np.asarray(crop_sizes, np.float64))
    return np.concatenate([xy, scores[..., None]], axis=-1).astype(np.float32)
