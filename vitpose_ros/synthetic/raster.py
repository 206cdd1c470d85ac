"""Painting a built figure into the image and the part-label map, with sub-pixel precision, and
reading each keypoint's visibility back from that label map.

Label map: uint16, figure i's part p (``figure`` part ids) -> i * 16 + p, occluder shapes 65535,
background 0. Shapes go through OpenCV's fixed-point drawing (``_SHIFT`` fractional bits), so a
point at (10.25, 4.5) really lands between pixel centres.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from .figure import _EYE_COS, _EYE_DIR, _KP_PARTS, _MOUTH_DIR, TORSO, _Figure, _mix, _outline_px, _unit

_SHIFT = 4  # cv2 sub-pixel bits
_ONE = 1 << _SHIFT
OCCLUDER_LABEL = 65535
_LIGHT = _unit([-0.35, -0.55, -0.75])  # toward the light, camera frame


def _fx(pt):
    return (int(round(pt[0] * _ONE)), int(round(pt[1] * _ONE)))


def _col(c):
    return (int(round(c[0])), int(round(c[1])), int(round(c[2])))


def _draw_seg(img, labels, label, a, b, wa, wb, colour, outline):
    """Tapered limb: a quad between discs of diameter ``wa`` at ``a`` and ``wb`` at ``b``, with a
    darker ``outline`` px rim (the label map gets the outlined shape)."""
    ax, ay, bx, by = float(a[0]) * _ONE, float(a[1]) * _ONE, float(b[0]) * _ONE, float(b[1]) * _ONE
    dx, dy = bx - ax, by - ay
    length = math.hypot(dx, dy)
    nx, ny = (-dy / length, dx / length) if length > 1e-3 else (1.0, 0.0)
    ca, cb = (round(ax), round(ay)), (round(bx), round(by))
    shapes = []
    for grow in (outline, 0.0):
        ra, rb = (wa / 2 + grow) * _ONE, (wb / 2 + grow) * _ONE
        quad = np.array([[ax + nx * ra, ay + ny * ra], [bx + nx * rb, by + ny * rb],
                         [bx - nx * rb, by - ny * rb], [ax - nx * ra, ay - ny * ra]]).round().astype(np.int32)
        shapes.append((quad, max(1, round(ra)), max(1, round(rb))))
    for target, (quad, ra, rb), col, lt in ((img, shapes[0], _col(_mix(colour, 0, 0.5)), cv2.LINE_AA),
                                            (img, shapes[1], _col(colour), cv2.LINE_AA),
                                            (labels, shapes[0], label, cv2.LINE_8)):
        cv2.fillConvexPoly(target, quad, col, lt, _SHIFT)
        cv2.circle(target, ca, ra, col, -1, lt, _SHIFT)
        cv2.circle(target, cb, rb, col, -1, lt, _SHIFT)


def _draw_poly(img, labels, label, pts, colour, outline, with_outline=True):
    hull = cv2.convexHull(np.round(pts * _ONE).astype(np.int32))
    if with_outline:
        o = max(1, int(round(outline * 2)))  # polylines thickness is in whole pixels
        cv2.polylines(img, [hull], True, _col(_mix(colour, 0, 0.5)), o, cv2.LINE_AA, _SHIFT)
        cv2.polylines(labels, [hull], True, label, o, cv2.LINE_8, _SHIFT)
    cv2.fillConvexPoly(img, hull, _col(colour), cv2.LINE_AA, _SHIFT)
    cv2.fillConvexPoly(labels, hull, label, cv2.LINE_8, _SHIFT)


def _draw_ear(img, labels, label, g, ear):
    centre, _, colour = ear
    r = g["r"]
    axes = (max(1, int(round(0.15 * r * _ONE))), max(1, int(round(0.24 * r * _ONE))))
    ang = g["up_angle"]
    cv2.ellipse(img, _fx(centre), axes, ang, 0, 360, _col(_mix(colour, 0, 0.3)), -1, cv2.LINE_AA, _SHIFT)
    inner = (max(1, axes[0] - _ONE // 2), max(1, axes[1] - _ONE // 2))
    cv2.ellipse(img, _fx(centre), inner, ang, 0, 360, _col(colour), -1, cv2.LINE_AA, _SHIFT)
    cv2.ellipse(labels, _fx(centre), axes, ang, 0, 360, label, -1, cv2.LINE_8, _SHIFT)


def _draw_head_sphere(img, labels, label, g):
    """The skull, pixel by pixel: a shaded sphere with hair, eyes and mouth placed by each pixel's
    head-local surface normal, anti-aliased at the outline."""
    h, w = labels.shape
    cx, cy = g["center"]
    r = g["r"]
    x0, x1 = max(0, int(math.floor(cx - r - 1))), min(w - 1, int(math.ceil(cx + r + 1)))
    y0, y1 = max(0, int(math.floor(cy - r - 1))), min(h - 1, int(math.ceil(cy + r + 1)))
    if x1 < x0 or y1 < y0:  # entirely outside the image
        return
    xs = np.arange(x0, x1 + 1, dtype=np.float32) - np.float32(cx)
    ys = np.arange(y0, y1 + 1, dtype=np.float32)[:, None] - np.float32(cy)
    t = math.radians(g["tilt"])
    c, s = math.cos(t), math.sin(t)
    u = (c * xs + s * ys) / r  # undo the in-plane tilt: camera-frame unit offsets
    v = (-s * xs + c * ys) / r
    d2 = u * u + v * v
    dist = np.sqrt(d2) * r
    alpha = np.clip(r - dist + 0.5, 0.0, 1.0)[..., None]
    nz = -np.sqrt(np.clip(1.0 - d2, 0.0, 1.0))
    n = np.stack([u, v, nz], -1)
    nl = n @ g["head_cam"]  # head-local normal: (left, down, forward)
    nd, nf = nl[..., 1], nl[..., 2]
    skin = np.array(g["skin"], np.float32)
    hair = np.array(g["hair"], np.float32)
    is_hair = (nd < g["hairline"]) | ((nf < -0.15) & (nd < 0.5))
    colour = np.where(is_hair[..., None], hair, skin)
    eye = (nl @ _EYE_DIR[0] > _EYE_COS) | (nl @ _EYE_DIR[1] > _EYE_COS)
    colour[eye] = (35.0, 30.0, 30.0)
    mouth = (np.abs(nd - _MOUTH_DIR[1]) < 0.045) & (np.abs(nl[..., 0]) < 0.22) & (nf > 0.6)
    colour[mouth] = skin * np.float32(0.55) + np.float32([40, 0, 0])
    shade = 0.62 + 0.38 * np.clip(n @ _LIGHT, 0.0, 1.0)
    colour = colour * shade[..., None].astype(np.float32)
    roi = img[y0:y1 + 1, x0:x1 + 1]
    roi[...] = np.clip(roi * (1 - alpha) + colour * alpha + 0.5, 0, 255).astype(np.uint8)
    lroi = labels[y0:y1 + 1, x0:x1 + 1]
    lroi[d2 <= 1.0] = label


def _draw_head(img, labels, label, g):
    """Ears behind the outline plane, the skull over them, ears in front, then the nose."""
    for ear in g["ears"]:
        if ear[1] > -0.3:  # behind (or at) the outline plane: drawn first, the head covers it
            _draw_ear(img, labels, label, g, ear)
    _draw_head_sphere(img, labels, label, g)
    for ear in g["ears"]:
        if ear[1] <= -0.3:
            _draw_ear(img, labels, label, g, ear)
    if g["nose"] is not None:
        _draw_poly(img, labels, label, g["nose"], _mix(g["skin"], 0, 0.2), 0, with_outline=False)


def _draw_figure(img, labels, fig: _Figure, index: int, height_px: float):
    """Paint figure ``index``'s parts far to near (label i * 16 + part)."""
    outline = _outline_px(height_px)
    base = index * 16
    for depth, kind, g, colour, pid in sorted(fig.parts, key=lambda q: -q[0]):
        if kind == "seg":
            _draw_seg(img, labels, base + pid, *g, colour, outline)
        elif kind == "poly":
            _draw_poly(img, labels, base + pid, g, colour, outline, with_outline=pid == TORSO and len(g) > 3)
        else:
            _draw_head(img, labels, base + pid, g)


def _visibility(fig: _Figure, index: int, labels: np.ndarray) -> np.ndarray:
    """(17,) float32 COCO visibility of figure ``index``'s keypoints once everything is drawn:
    0 outside the image or on the far side of the head, 1 covered (by anything but the keypoint's
    own parts), 2 visible."""
    h, w = labels.shape
    kp = fig.keypoints
    vis = np.zeros(17, np.float32)
    for k in range(17):
        x, y = kp[k]
        if not (-0.5 <= x < w - 0.5 and -0.5 <= y < h - 0.5):
            continue
        if fig.face_state[k] < 2:
            vis[k] = fig.face_state[k]
            continue
        lab = int(labels[int(math.floor(y + 0.5)), int(math.floor(x + 0.5))])
        if lab == 0:  # raster rounding at a thin part's edge: nothing covers it
            vis[k] = 2
            continue
        part = lab - index * 16
        ok = 0 < part < 16 and (part in _KP_PARTS[k] or (part == TORSO and fig.torso_ok[k]))
        vis[k] = 2 if ok else 1
    return vis
