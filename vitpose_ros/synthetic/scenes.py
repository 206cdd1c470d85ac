"""Whole frames of synthetic people with their annotations: the renderer's data contract.

    image, boxes, keypoints = render_scene(seed)            # 640x480, 1..4 people
    image, boxes, keypoints = render_person_crop(seed)      # 192x256, one person, detector-like crop
    pose = sample_pose(np.random.default_rng(0))            # a Pose you can edit / animate
    image, boxes, keypoints = render_poses([pose], 640, 480, background_seed=3)

Conventions
-----------
* ``image``: uint8 (H, W, 3) **RGB**.
* ``keypoints``: float32 (N, 17, 3), COCO order (``KEYPOINT_NAMES``), columns x, y, visibility.
  Pixel centres are at integer coordinates (OpenCV's drawing convention: a keypoint at (10.0, 4.0)
  is the centre of pixel column 10, row 4); every shape is drawn with sub-pixel precision.
  Visibility: 0 = absent (outside the image, or a face point on the far side of the head, e.g.
  nose/eyes of a person facing away), 1 = occluded (inside the image but covered by another
  figure, an occluder shape, another part of the same body, or just behind the head outline),
  2 = visible. Coordinates are kept for v=0 points too; treat them as unlabelled.
* ``boxes``: float32 (N, 4) x0, y0, x1, y1: the figure's full drawn extent (occluded parts
  included), clipped to the image's pixel extent [-0.5, W-0.5] x [-0.5, H-0.5], then each side moved
  by up to ``BOX_JITTER`` of the box size (gaussian, like a detector) and clipped again. So every
  keypoint inside the image lies within its box grown by ``BOX_JITTER`` of the box size per side.
* Drawing: ``Pose``s are drawn in list order (later = nearer the camera). Within a figure the parts
  are painter-sorted by depth. The person's LEFT limbs (and ear) are a lighter shade of their
  colour, the RIGHT ones a darker shade; the face (eyes, nose, mouth, hairline) and the V collar
  on the shirt front show which way the figure faces; shoes point forward.

How a ``Pose`` becomes a figure (body frame, ``yaw``, ``tilt``, units): ``figure``'s docstring.
"""
from __future__ import annotations

import cv2
import numpy as np

from .backdrop import _augment, _background, _draw_occluder
from .figure import _build_figure, _unit_geometry
from .pose import SKELETON
from .raster import _ONE, _SHIFT, _draw_figure, _fx, _visibility
from .sampling import _fit_in_crop, _place, _sample_unplaced

BOX_JITTER = 0.08  # max shift of each box side, as a fraction of the box width/height
_BOX_JITTER_SIGMA = 0.03


def _jitter_box(rng, ext, w, h, jitter: bool):
    """A figure's box: its extent clipped to the image, each side then moved like a detector's."""
    lo, hi = -0.5, np.array([w - 0.5, h - 0.5])
    box = np.concatenate([np.clip(ext[:2], lo, hi), np.clip(ext[2:], lo, hi)])
    if jitter:
        size = np.maximum(box[2:] - box[:2], 1.0)
        d = np.clip(rng.normal(0, _BOX_JITTER_SIGMA, 4), -BOX_JITTER, BOX_JITTER) * np.tile(size, 2)
        box = box + d
        box = np.concatenate([np.clip(box[:2], lo, hi), np.clip(box[2:], lo, hi)])
        box[2:] = np.maximum(box[2:], box[:2])
    return box


def _plan_occluders(rng, figs, poses, count: int) -> dict[int, list]:
    """Where ``count`` occluder shapes go: {figure index they are drawn right after: [(near point,
    size px, shape seed)]}. Each sits near a keypoint of that figure or of one behind it."""
    n = len(figs)
    plan: dict[int, list] = {}
    for _ in range(count if n else 0):
        after = int(rng.integers(0, n))  # drawn after figure `after`: may hide it and those behind
        target = int(rng.integers(0, after + 1))
        kp = figs[target].keypoints[int(rng.integers(0, 17))]
        size = float(poses[target].height) * rng.uniform(0.15, 0.5)
        plan.setdefault(after, []).append((kp.copy(), size, int(rng.integers(0, 2**31))))
    return plan


def render_poses(poses, width: int = 640, height: int = 480, background_seed: int = 0, *,
                 occluders: int = 0, background: np.ndarray | None = None, augment: bool = True,
                 box_jitter: bool = True, return_labels: bool = False):
    """Draw ``poses`` (list order = depth order, last nearest) over a background.

    Background, occluder placement, box jitter and photometric augmentation all come from
    ``np.random.default_rng(background_seed)``, so a fixed seed gives a steady backdrop while the
    poses move. ``background`` (uint8 HxWx3 RGB) replaces the generated one; ``augment=False``
    skips blur/noise/contrast/JPEG; ``occluders`` random shapes are put near random figures at
    random depths. Returns (image, boxes (N,4), keypoints (N,17,3)) [+ the uint16 part-label map
    with ``return_labels``: figure i part p -> i*16+p, occluder 65535, background 0].
    """
    rng = np.random.default_rng(background_seed)
    if background is not None:
        if background.shape != (height, width, 3) or background.dtype != np.uint8:
            raise ValueError(f"background must be uint8 ({height}, {width}, 3), got "
                             f"{background.dtype} {background.shape}")
        img = background.copy()
    else:
        img = _background(rng, width, height)
    labels = np.zeros((height, width), np.uint16)
    figs = [_build_figure(p) for p in poses]
    n = len(figs)
    if n > 4094:
        raise ValueError("at most 4094 figures")
    plan = _plan_occluders(rng, figs, poses, occluders)
    for i, (fig, p) in enumerate(zip(figs, poses)):
        _draw_figure(img, labels, fig, i, float(p.height))
        for near, size, sub in plan.get(i, []):
            _draw_occluder(np.random.default_rng(sub), img, labels, near, size)
    keypoints = np.zeros((n, 17, 3), np.float32)
    boxes = np.zeros((n, 4), np.float32)
    for i, fig in enumerate(figs):
        keypoints[i, :, :2] = fig.keypoints
        keypoints[i, :, 2] = _visibility(fig, i, labels)
        boxes[i] = _jitter_box(rng, fig.extent, width, height, box_jitter)
    if augment:
        img = _augment(rng, img)
    if return_labels:
        return img, boxes, keypoints, labels
    return img, boxes, keypoints


def _place_near(rng, pose, unit_ext, other_extent) -> None:
    """Move an already sized ``pose`` so that its box overlaps ``other_extent`` (x0, y0, x1, y1):
    centres apart by up to 0.7 of the wider box horizontally and 0.3 of the taller one vertically."""
    ext = unit_ext * pose.height
    size = np.maximum(ext[2:] - ext[:2], other_extent[2:] - other_extent[:2])
    centre = (other_extent[:2] + other_extent[2:]) / 2 + rng.uniform(-1, 1, 2) * size * (0.7, 0.3)
    pose.x = float(centre[0] - (ext[0] + ext[2]) / 2)
    pose.y = float(centre[1] - (ext[1] + ext[3]) / 2)


def render_scene(seed: int, width: int = 640, height: int = 480, num_people: int | None = None,
                 box_jitter: bool = True, crowded: bool = False):
    """A ``width`` x ``height`` scene with ``num_people`` figures (default: random 1..4), random
    background, occluder shapes and photometric noise. Deterministic per ``seed``.
    ``box_jitter=False``: the boxes are the figures' exact extents (a detector's training targets).
    ``crowded``: 2..4 figures by default, each after the first standing in front of or behind an
    earlier one (its centre within about the wider one's box width), as people in a group are.

    Returns (image uint8 (H,W,3) RGB, boxes float32 (N,4) xyxy, keypoints float32 (N,17,3))."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2 if crowded else 1, 5)) if num_people is None else int(num_people)
    poses, extents = [], []
    for _ in range(n):
        p = _sample_unplaced(rng)
        unit_ext, unit_kp = _unit_geometry(p)
        for _attempt in range(20):  # keep at least a few keypoints inside the image
            _place(rng, p, width, height, unit_ext)
            if crowded and extents:
                _place_near(rng, p, unit_ext, extents[int(rng.integers(len(extents)))])
            kp = unit_kp * p.height + (p.x, p.y)
            inside = (kp[:, 0] >= 0) & (kp[:, 0] < width - 1) & (kp[:, 1] >= 0) & (kp[:, 1] < height - 1)
            if inside.sum() >= 6:
                break
        poses.append(p)
        extents.append(unit_ext * p.height + (p.x, p.y, p.x, p.y))
    # rough depth order: smaller people further away
    order = np.argsort([p.height * rng.uniform(0.8, 1.25) for p in poses], kind="stable")
    poses = [poses[i] for i in order]
    occ = 0 if rng.random() < 0.5 else int(rng.integers(1, 4))
    return render_poses(poses, width, height, int(rng.integers(0, 2**62)), occluders=occ, box_jitter=box_jitter)


def render_person_crop(seed: int, width: int = 192, height: int = 256):
    """One person roughly filling a ``width`` x ``height`` crop, as a top-down pipeline cuts it from a
    detector box (box fitted to the crop's aspect ratio and padded about 1.25x, with random
    padding and off-centring; sometimes the person is cut by the crop edge), plus sometimes
    other people and occluders. Returns (image, boxes (1,4), keypoints (1,17,3))."""
    rng = np.random.default_rng(seed)
    main = _sample_unplaced(rng)
    pad = rng.uniform(0.85, 1.05) if rng.random() < 0.12 else rng.uniform(1.05, 1.45)
    _fit_in_crop(rng, main, width, height, pad)
    poses = [main]
    r = rng.random()
    for _ in range(0 if r < 0.6 else 1 if r < 0.9 else 2):
        other = _sample_unplaced(rng)
        _fit_in_crop(rng, other, width, height, rng.uniform(0.8, 1.6))
        side = 1 if rng.random() < 0.5 else -1
        other.x += side * rng.uniform(0.3, 0.9) * width
        other.y += rng.uniform(-0.2, 0.2) * height
        if rng.random() < 0.6:
            poses.insert(0, other)
        else:
            poses.append(other)
    occ = 0 if rng.random() < 0.65 else int(rng.integers(1, 3))
    img, boxes, kps = render_poses(poses, width, height, int(rng.integers(0, 2**62)), occluders=occ)
    i = poses.index(main)
    return img, boxes[i:i + 1], kps[i:i + 1]


def draw_annotations(image: np.ndarray, boxes: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
    """A copy of ``image`` with boxes and skeletons: left side orange, right side blue, centre
    green; visible points filled, occluded points hollow, absent points not drawn."""
    out = np.ascontiguousarray(image.copy())
    left = {1, 3, 5, 7, 9, 11, 13, 15}
    right = {2, 4, 6, 8, 10, 12, 14, 16}
    for box, kps in zip(boxes, keypoints):
        cv2.rectangle(out, _fx(box[:2]), _fx(box[2:]), (255, 255, 0), 1, cv2.LINE_AA, _SHIFT)
        for a, b in SKELETON:
            if kps[a, 2] > 0 and kps[b, 2] > 0:
                col = ((255, 140, 0) if a in left and b in left else
                       (0, 120, 255) if a in right and b in right else (0, 220, 0))
                cv2.line(out, _fx(kps[a]), _fx(kps[b]), col, 1, cv2.LINE_AA, _SHIFT)
        for k, (x, y, v) in enumerate(kps):
            if v <= 0:
                continue
            col = (255, 140, 0) if k in left else (0, 120, 255) if k in right else (0, 220, 0)
            cv2.circle(out, _fx((x, y)), 3 * _ONE, col, -1 if v >= 2 else 1, cv2.LINE_AA, _SHIFT)
    return out
