"""Person boxes between detections, from each person's keypoints in the previous frame (numpy only).

Running the detector every ``every`` frames and taking the boxes in between from the last
keypoints lets pose run at camera rate while the detector runs slower. A carried box is the
extent of the person's confident keypoints (score >= ``score_threshold``), grown about its centre
by ``padding`` (the crop's own padding, so a keypoint extent comes out about the size of a
detector's box); the person keeps its id. A person with fewer than ``min_keypoints`` confident
keypoints has collapsed (left the image, hidden) and is not carried until the next detection.

A detector also misses people now and then, most often someone half hidden behind another person.
With ``hold_missed`` = M, a person of the previous frame whom no fresh detection overlaps (IoU of
their previous box with every detection below ``HELD_IOU``) keeps a box from its keypoints and its
id for up to M detection frames in a row; a detection of them ends the hold.

Per frame the caller does one of:

    boxes, ids = carry.detected(detector_boxes, ids)     # fresh detections (+ held persons; resets the age)
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
from .tracking import box_iou

HELD_IOU = 0.3  # a detection overlapping a person's previous box this much is that person again


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
                 min_keypoints: int = 3, hold_missed: int = 0):
        if int(every) < 1:
            raise ValueError(f"detect_every must be at least 1, got {every}")
        if int(hold_missed) < 0:
            raise ValueError(f"hold_missed must be at least 0, got {hold_missed}")
        self.every = int(every)
        self.hold_missed = int(hold_missed)
        self.score_threshold = score_threshold
        self.padding = padding
        self.min_keypoints = min_keypoints
        self.frames_since_detection: int | None = None  # None: no detection yet
        self.reset()

    @property
    def detection_due(self) -> bool:
        """A detector should run on this frame: every ``every`` frames, and whenever nobody is carried."""
        return (self.frames_since_detection is None or self.frames_since_detection + 1 >= self.every
                or not len(self._boxes))

    def detected(self, boxes, ids) -> tuple[np.ndarray, np.ndarray]:
        """This frame has fresh detections: its boxes are them (as given, as arrays), then the persons
        held though missed (``hold_missed``), with their ids."""
        self.frames_since_detection = 0
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        ids = np.asarray(ids, np.uint32).reshape(-1)
        held = self._held(boxes, ids)
        self._frame_boxes = np.concatenate([boxes, self._boxes[held]])
        self._frame_misses = np.concatenate([np.zeros(len(boxes), int), self._misses[held] + 1])
        return self._frame_boxes.copy(), np.concatenate([ids, self._ids[held]])

    def _held(self, boxes: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """Which carried persons this frame's detections missed and may still be held."""
        held = (self._misses < self.hold_missed) & ~np.isin(self._ids, ids)
        if held.any() and len(boxes):
            held &= box_iou(self._last_boxes, boxes).max(axis=1) < HELD_IOU
        return held

    def carried(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Boxes and ids for a frame without detections, or None when the last detections are too old."""
        if self.frames_since_detection is None or self.frames_since_detection + 1 >= self.every:
            return None
        self.frames_since_detection += 1
        self._frame_boxes, self._frame_misses = self._boxes.copy(), self._misses.copy()
        return self._boxes.copy(), self._ids.copy()

    def observe(self, keypoints: np.ndarray, ids) -> None:
        """The frame's keypoints (rows as its boxes): the next frame's carried boxes."""
        boxes, kept = boxes_from_keypoints(keypoints, self.score_threshold, self.padding, self.min_keypoints)
        ids = np.asarray(ids, np.uint32).reshape(-1)
        if len(self._frame_boxes) != len(ids):
            raise ValueError(f"observe() takes the rows of this frame's {len(self._frame_boxes)} boxes (from "
                             f"detected() or carried()), got {len(ids)}")
        self._boxes, self._ids = boxes[kept], ids[kept]
        self._last_boxes, self._misses = self._frame_boxes[kept], self._frame_misses[kept]

    def reset(self) -> None:
        self.frames_since_detection = None
        self._boxes, self._ids = np.zeros((0, 4)), np.zeros(0, np.uint32)
        self._last_boxes, self._misses = np.zeros((0, 4)), np.zeros(0, int)  # box each was seen in, misses in a row
        self._frame_boxes, self._frame_misses = np.zeros((0, 4)), np.zeros(0, int)  # this frame's rows

