"""Person boxes between detections, from each person's keypoints in the previous frame (numpy only).

Running the detector every ``every`` frames and taking the boxes in between from the last
keypoints lets pose run at camera rate while the detector runs slower. A carried box is the
extent of the person's confident keypoints (score >= ``score_threshold``), grown about its centre
by ``padding`` (the crop's own padding, so a keypoint extent comes out about the size of a
detector's box); the person keeps its id. A person with fewer than ``min_keypoints`` confident
keypoints has collapsed (left the image, hidden) and is not carried until the next detection.

Per frame the caller does one of:

    boxes, ids = carry.detected(detector_boxes, ids)     # fresh detections (resets the age)
    carried = carry.carried()                            # (boxes, ids), or None when not allowed
    ...estimate...
    carry.observe(keypoints, ids)                        # what the next frame's boxes come from

``carried()`` gives boxes only while the last detections are from one of the last ``every``
frames (their own frame counted): with ``every == 1`` nothing is ever carried.
``detection_due`` says when a detector run by the caller should run again.
"""
from __future__ import annotations

import numpy as np

from .preprocess import DEFAULT_PADDING


def boxes_from_keypoints(keypoints: np.ndarray, score_threshold: float, padding: float = DEFAULT_PADDING,
                         min_keypoints: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """(N, K, 3) x, y, score -> (boxes (N, 4) x1 y1 x2 y2, kept bool (N,)).

    A box is the padded extent of the person's keypoints scoring at least ``score_threshold``;
    kept is False where fewer than ``min_keypoints`` do, or their extent is empty."""
    keypoints = np.asarray(keypoints, np.float64)
    if keypoints.ndim != 3 or keypoints.shape[2] != 3:
        raise ValueError(f"keypoints must have shape (N, K, 3), got {keypoints.shape}")
    confident = (keypoints[..., 2] >= score_threshold) & np.isfinite(keypoints[..., :2]).all(axis=-1)
    x = np.where(confident, keypoints[..., 0], np.nan)
    y = np.where(confident, keypoints[..., 1], np.nan)
    boxes = np.zeros((len(keypoints), 4))
    kept = confident.sum(axis=1) >= max(int(min_keypoints), 1)
    if kept.any():
        lo = np.stack([np.nanmin(x[kept], axis=1), np.nanmin(y[kept], axis=1)], axis=1)
        hi = np.stack([np.nanmax(x[kept], axis=1), np.nanmax(y[kept], axis=1)], axis=1)
        centre, half = (lo + hi) / 2, (hi - lo) / 2 * padding
        boxes[kept] = np.concatenate([centre - half, centre + half], axis=1)
    kept &= (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    return boxes, kept


class BoxCarry:
    """Carries person boxes and ids from frame to frame between detections (see the module doc)."""

    def __init__(self, every: int = 1, score_threshold: float = 0.3, padding: float = DEFAULT_PADDING,
                 min_keypoints: int = 3):
        if int(every) < 1:
            raise ValueError(f"detect_every must be at least 1, got {every}")
        self.every = int(every)
        self.score_threshold = score_threshold
        self.padding = padding
        self.min_keypoints = min_keypoints
        self.frames_since_detection: int | None = None  # None: no detection yet
        self._boxes = np.zeros((0, 4))
        self._ids = np.zeros(0, np.uint32)

    @property
    def detection_due(self) -> bool:
        """A detector should run on this frame: every ``every`` frames, and whenever nobody is carried."""
        return (self.frames_since_detection is None or self.frames_since_detection + 1 >= self.every
                or not len(self._boxes))

    def detected(self, boxes, ids) -> tuple[np.ndarray, np.ndarray]:
        """This frame has fresh detections: they are its boxes (returned as given, as arrays)."""
        self.frames_since_detection = 0
        return np.asarray(boxes, np.float64).reshape(-1, 4), np.asarray(ids, np.uint32).reshape(-1)

    def carried(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Boxes and ids for a frame without detections, or None when the last detections are too old."""
        if self.frames_since_detection is None or self.frames_since_detection + 1 >= self.every:
            return None
        self.frames_since_detection += 1
        return self._boxes.copy(), self._ids.copy()

    def observe(self, keypoints: np.ndarray, ids) -> None:
        """The frame's keypoints (rows as its boxes): the next frame's carried boxes."""
        boxes, kept = boxes_from_keypoints(keypoints, self.score_threshold, self.padding, self.min_keypoints)
        self._boxes, self._ids = boxes[kept], np.asarray(ids, np.uint32).reshape(-1)[kept]

    def reset(self) -> None:
        self.frames_since_detection = None
        self._boxes, self._ids = np.zeros((0, 4)), np.zeros(0, np.uint32)
