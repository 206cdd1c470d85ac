"""What is around the people: generated backgrounds with clutter, occluder shapes put in front of
figures, and the camera-like photometric augmentation (contrast, blur, sensor noise, JPEG)."""
from __future__ import annotations

import math

import cv2
import numpy as np

from .raster import OCCLUDER_LABEL, _ONE, _SHIFT
from .sampling import _skin_colour


def _rand_colour(rng, lo=0, hi=256):
    return tuple(int(v) for v in rng.integers(lo, hi, 3))


def _clutter(rng, img, count, scale):
    """``count`` distractor shapes: boxes, discs, ellipses, polygons, poles and limb-like capsules."""
    h, w = img.shape[:2]
    for _ in range(count):
        col = _rand_colour(rng)
        kind = rng.integers(0, 6)
        cx, cy = rng.uniform(-0.1 * w, 1.1 * w), rng.uniform(-0.1 * h, 1.1 * h)
        size = scale * rng.uniform(0.03, 0.4)
        aa = cv2.LINE_AA
        if kind == 0:
            x0, y0 = int(cx - size), int(cy - size * rng.uniform(0.2, 2))
            x1, y1 = int(cx + size * rng.uniform(0.2, 2)), int(cy + size)
            cv2.rectangle(img, (x0, y0), (x1, y1), col, -1 if rng.random() < 0.7 else int(rng.integers(1, 6)))
        elif kind == 1:
            cv2.circle(img, (int(cx), int(cy)), max(1, int(size / 2)), col,
                       -1 if rng.random() < 0.7 else int(rng.integers(1, 5)), aa)
        elif kind == 2:
            axes = (max(1, int(size / 2)), max(1, int(size * rng.uniform(0.1, 0.6))))
            cv2.ellipse(img, (int(cx), int(cy)), axes,
                        float(rng.uniform(0, 180)), 0, 360, col, -1, aa)
        elif kind == 3:
            k = int(rng.integers(3, 7))
            pts = np.stack([cx + rng.uniform(-size, size, k), cy + rng.uniform(-size, size, k)], 1)
            pts = pts.astype(np.int32)
            cv2.fillPoly(img, [pts], col, aa)
        elif kind == 4:  # line / pole
            a = rng.uniform(0, np.pi)
            dx, dy = math.cos(a) * size * 2, math.sin(a) * size * 2
            cv2.line(img, (int(cx - dx), int(cy - dy)), (int(cx + dx), int(cy + dy)), col,
                     int(rng.integers(1, max(2, int(size / 6)))), aa)
        else:  # limb-like distractor capsule in a skin or clothing colour
            a = rng.uniform(0, np.pi)
            dx, dy = math.cos(a) * size, math.sin(a) * size
            if rng.random() < 0.5:
                col = tuple(int(v) for v in _skin_colour(rng))
            cv2.line(img, (int(cx - dx), int(cy - dy)), (int(cx + dx), int(cy + dy)), col,
                     max(1, int(size * rng.uniform(0.1, 0.3))), aa)


def _background(rng, w, h) -> np.ndarray:
    """A random ``w`` x ``h`` RGB backdrop (gradient, colour noise, wall and floor, stripes or checks,
    or a textured flat colour) with clutter shapes, sometimes toned toward grey."""
    kind = rng.integers(0, 5)
    if kind == 0:  # smooth gradient
        corners = rng.integers(0, 256, (2, 2, 3)).astype(np.uint8)
        img = cv2.resize(corners, (w, h), interpolation=cv2.INTER_LINEAR)
    elif kind == 1:  # low-frequency colour noise
        gh, gw = int(rng.integers(2, 10)), int(rng.integers(2, 10))
        small = rng.integers(0, 256, (gh, gw, 3)).astype(np.uint8)
        img = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    elif kind == 2:  # wall and floor
        top, bottom = _rand_colour(rng), _rand_colour(rng)
        img = np.empty((h, w, 3), np.uint8)
        hy = int(rng.uniform(0.2, 0.8) * h)
        img[:hy] = top
        img[hy:] = bottom
        step = int(rng.integers(12, 60))
        line = tuple(int(v * 0.8) for v in bottom)
        for x in range(-w, 2 * w, step):  # floor boards / tiles in perspective
            cv2.line(img, (w // 2 + (x - w // 2) // 4, hy), (x, h), line, 1, cv2.LINE_AA)
    elif kind == 3:  # stripes or checks
        c1, c2 = _rand_colour(rng), _rand_colour(rng)
        img = np.empty((h, w, 3), np.uint8)
        img[:] = c1
        step = int(rng.integers(6, 50))
        thick = int(rng.integers(1, step))
        if rng.random() < 0.5:
            for x in range(0, w + h, step):
                cv2.line(img, (x, 0), (x - h, h), c2, thick, cv2.LINE_AA)
        else:
            yy, xx = np.ogrid[:h, :w]
            mask = ((yy // step + xx // step) % 2).astype(bool)
            img[mask] = c2
    else:  # flat with noise texture
        img = np.empty((h, w, 3), np.uint8)
        img[:] = _rand_colour(rng)
        small = rng.integers(-40, 41, (max(1, h // 4), max(1, w // 4), 1)).astype(np.int16)
        tex = cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)[..., None]
        img = np.clip(img.astype(np.int16) + tex, 0, 255).astype(np.uint8)
    _clutter(rng, img, int(rng.integers(0, 16)), max(w, h))
    if rng.random() < 0.5:  # tone it down toward grey: real backdrops are rarely all saturated
        grey = cv2.cvtColor(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
        a = float(rng.uniform(0.2, 0.9))
        img = cv2.addWeighted(img, a, grey, 1.0 - a, 0.0)
    return img


def _augment(rng, img):
    """Camera-like degradations, each applied at random: contrast/brightness, blur, noise, JPEG."""
    if rng.random() < 0.5:  # brightness / contrast
        img = cv2.convertScaleAbs(img, alpha=float(rng.uniform(0.7, 1.25)), beta=float(rng.uniform(-30, 30)))
    if rng.random() < 0.35:
        k = 3 if rng.random() < 0.7 else 5
        img = cv2.GaussianBlur(img, (k, k), float(rng.uniform(0.4, 1.3)))
    if rng.random() < 0.5:  # sensor noise
        a = int(rng.integers(3, 13))
        noise = rng.integers(-a, a + 1, img.shape[:2], dtype=np.int16)[..., None]
        img = np.clip(img.astype(np.int16) + noise, 0, 255).astype(np.uint8)
    if rng.random() < 0.15:
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(25, 90))])
        img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    return img


def _draw_occluder(rng, img, labels, near: np.ndarray, size: float):
    """A rectangle, polygon or ellipse about ``size`` px across near ``near``, labelled occluder."""
    h, w = labels.shape
    cx, cy = near + rng.normal(0, 0.25 * size, 2)
    col = _rand_colour(rng)
    kind = rng.integers(0, 3)
    if kind == 0:
        hw, hh = size * rng.uniform(0.2, 0.7), size * rng.uniform(0.2, 0.7)
        pts = np.array([[cx - hw, cy - hh], [cx + hw, cy - hh], [cx + hw, cy + hh], [cx - hw, cy + hh]])
        a = rng.uniform(-0.4, 0.4)
        rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
        pts = (pts - [cx, cy]) @ rot.T + [cx, cy]
    elif kind == 1:
        k = int(rng.integers(3, 8))
        ang = np.sort(rng.uniform(0, 2 * np.pi, k))
        rad = size * rng.uniform(0.2, 0.6, k)
        pts = np.stack([cx + rad * np.cos(ang), cy + rad * np.sin(ang)], 1)
    else:
        ang = np.linspace(0, 2 * np.pi, 20, endpoint=False)
        rx, ry = size * rng.uniform(0.15, 0.5), size * rng.uniform(0.15, 0.5)
        pts = np.stack([cx + rx * np.cos(ang), cy + ry * np.sin(ang)], 1)
    q = [np.round(pts * _ONE).astype(np.int32)]
    cv2.fillPoly(img, q, col, cv2.LINE_AA, _SHIFT)
    cv2.polylines(img, q, True, tuple(int(c * 0.6) for c in col), 1, cv2.LINE_AA, _SHIFT)
    cv2.fillPoly(labels, q, OCCLUDER_LABEL, cv2.LINE_8, _SHIFT)
