"""Draw skeletons on an image (used by the CLI, the node's /pose/image and the demo). OpenCV only."""
from __future__ import annotations

import cv2
import numpy as np

from .skeletons import Skeleton


def draw_poses(image_rgb: np.ndarray, keypoints: np.ndarray, skeleton: Skeleton,
               score_threshold: float = 0.3, boxes_xyxy: np.ndarray | None = None) -> np.ndarray:
    """A copy of the RGB image with limbs, joints (and boxes) drawn; low-score keypoints left out."""
    canvas = np.ascontiguousarray(image_rgb).copy()
    scale = max(1, round(max(canvas.shape[:2]) / 640))
    shift = 4  # sub-pixel drawing: coordinates carry 4 fractional bits
    factor = 1 << shift
    for person_index, person in enumerate(keypoints):
        ok = np.isfinite(person[:, :2]).all(1) & (person[:, 2] >= score_threshold)
        pts = np.round(np.nan_to_num(person[:, :2]) * factor).astype(np.int64)
        if boxes_xyxy is not None and np.isfinite(boxes_xyxy[person_index]).all():
            x1, y1, x2, y2 = np.round(boxes_xyxy[person_index]).astype(int)
            cv2.rectangle(canvas, (x1, y1), (x2, y2), (255, 255, 255), scale)
        for (a, b), color in zip(skeleton.limbs, skeleton.limb_colors):
            if ok[a] and ok[b]:
                cv2.line(canvas, tuple(map(int, pts[a])), tuple(map(int, pts[b])), color, 2 * scale,
                         cv2.LINE_AA, shift)
        for k in np.flatnonzero(ok):
            cv2.circle(canvas, tuple(map(int, pts[k])), 3 * scale * factor, skeleton.keypoint_colors[k], -1,
                       cv2.LINE_AA, shift)
    return canvas
