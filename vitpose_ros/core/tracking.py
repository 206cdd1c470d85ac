"""Person identities across frames (numpy only): detector ids -> stable integers, or a box tracker.

Row i of every output stays detection i; these only say *which person* row i is:

- ``PersonIds``: what the node publishes. A detection with a detector id (``Detection2D.id``: any
  string) gets that id's integer; one without gets its ``BoxTracker`` track's. Both come from one
  counter, so the two kinds never share a number; ids unseen for ``max_age_s`` are forgotten;
- ``BoxTracker``: for detectors without ids. Each track predicts its box centre with a
  constant-velocity model (per second of stamp time) and keeps a smoothed box size (sizes jump
  with swinging limbs, so they are not extrapolated); detections are assigned to tracks greedily,
  best pair first, by the IoU of detection and predicted box (at least ``iou_threshold``) times
  the ratio of their heights (smaller / larger); pairs below the IoU threshold whose centres are
  less than half the track's height apart (fast motion, a new track's unknown velocity) come
  after all IoU pairs, nearest first. Unmatched detections open new tracks; tracks
  unseen for ``max_age_s`` are dropped. Prediction and height keep two people apart when they
  cross: their boxes move in opposite directions, and the farther person's box, which may lie
  inside the nearer one's, is shorter.

Id 0 means "no identity" everywhere (the /pose/keypoints ``id`` field).
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

NO_ID = 0


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix (len(a), len(b)) of x1, y1, x2, y2 boxes."""
    a, b = np.asarray(a, float).reshape(-1, 4), np.asarray(b, float).reshape(-1, 4)
    lo = np.maximum(a[:, None, :2], b[None, :, :2])
    hi = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=2)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def _to_cxcywh(boxes):
    boxes = np.asarray(boxes, float)
    return np.concatenate([(boxes[..., :2] + boxes[..., 2:]) / 2, boxes[..., 2:] - boxes[..., :2]], axis=-1)


def _to_xyxy(state):
    return np.concatenate([state[..., :2] - state[..., 2:] / 2, state[..., :2] + state[..., 2:] / 2], axis=-1)


def greedy_assignment(score: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """(row, column) pairs, best score first, each row and column used once, score > threshold.

    One sort, then a walk down it (ties in row-major order, as repeated arg-max would take them)."""
    pairs: list[tuple[int, int]] = []
    if score.size == 0:
        return pairs
    order = np.argsort(-score, axis=None, kind="stable")
    rows_used, columns_used = set(), set()
    columns = score.shape[1]
    for index, value in zip(order.tolist(), score.ravel()[order].tolist()):
        if not value > threshold:
            break
        row, column = divmod(index, columns)
        if row not in rows_used and column not in columns_used:
            pairs.append((row, column))
            rows_used.add(row)
            columns_used.add(column)
    return pairs


class BoxTracker:
    """Constant-velocity IoU tracker; ``update`` gives each detection a track id.

    Tracks are rows of a few arrays (id, box state cx/cy/w/h, centre velocity per second, last
    stamp), so one update is a handful of array operations whatever the number of people."""

    def __init__(self, iou_threshold: float = 0.2, max_age_s: float = 1.0, velocity_smoothing: float = 0.5):
        self.iou_threshold = iou_threshold
        self.max_age_s = max_age_s
        self.velocity_smoothing = velocity_smoothing  # weight of the newest velocity measurement
        self._ids = np.zeros(0, np.uint32)
        self._states = np.zeros((0, 4))  # cx, cy, w, h
        self._velocities = np.zeros((0, 2))  # centre, per second (sizes are not extrapolated)
        self._stamps = np.zeros(0)  # last seen (s)
        self._next_id = 1
        self.lost: list[int] = []  # ids dropped by the last update

    @property
    def active_ids(self) -> list[int]:
        return self._ids.tolist()

    def reset(self) -> None:
        self.lost = self.active_ids
        self._keep(np.zeros(len(self._ids), bool))

    def _keep(self, mask: np.ndarray) -> None:
        self._ids, self._states = self._ids[mask], self._states[mask]
        self._velocities, self._stamps = self._velocities[mask], self._stamps[mask]

    def _match_scores(self, predicted: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """(tracks, detections) score: > 0 may match, higher first; IoU pairs score above the rest."""
        iou = box_iou(predicted, boxes)
        track_h = np.maximum(predicted[:, 3] - predicted[:, 1], 1e-6)[:, None]
        box_h = np.maximum(boxes[:, 3] - boxes[:, 1], 1e-6)[None, :]
        height_ratio = np.minimum(track_h, box_h) / np.maximum(track_h, box_h)
        centre_distance = np.linalg.norm(_to_cxcywh(predicted)[:, None, :2] - _to_cxcywh(boxes)[None, :, :2], axis=2)
        closeness = np.clip(1.0 - centre_distance / (0.5 * track_h), 0.0, 1.0)
        fallback = self.iou_threshold * height_ratio * closeness * 0.5  # always below an IoU pair's score
        return np.where(iou >= self.iou_threshold, (1.0 + iou) * height_ratio, fallback)

    def update(self, boxes: np.ndarray, stamp_s: float) -> np.ndarray:
        """Track ids (uint32, (N,)) for ``boxes`` (N, 4) seen at ``stamp_s`` seconds."""
        boxes = np.asarray(boxes, float).reshape(-1, 4)
        if len(self._ids) and stamp_s < self._stamps.max():
            self.reset()  # time went backwards (bag loop, sim reset): start over
        else:
            self.lost = []
        centres = self._states[:, :2] + self._velocities * (stamp_s - self._stamps)[:, None]
        predicted = _to_xyxy(np.concatenate([centres, self._states[:, 2:]], axis=1))
        pairs = np.array(greedy_assignment(self._match_scores(predicted, boxes), 0.0), np.int64).reshape(-1, 2)
        tracks, matched = pairs[:, 0], pairs[:, 1]
        measured = _to_cxcywh(boxes)
        w = self.velocity_smoothing
        dt = stamp_s - self._stamps[tracks]
        moving = (dt > 0)[:, None]
        step = (measured[matched, :2] - self._states[tracks, :2]) / np.where(moving, dt[:, None], 1.0)
        previous = self._velocities[tracks]
        self._velocities[tracks] = np.where(moving, w * step + (1 - w) * previous, previous)
        self._states[tracks] = np.concatenate(
            [measured[matched, :2], w * measured[matched, 2:] + (1 - w) * self._states[tracks, 2:]], axis=1)
        self._stamps[tracks] = stamp_s
        ids = np.zeros(len(boxes), np.uint32)
        ids[matched] = self._ids[tracks]
        new = np.flatnonzero(ids == NO_ID)  # unmatched detections open tracks
        ids[new] = np.arange(self._next_id, self._next_id + len(new), dtype=np.uint32)
        self._next_id += len(new)
        self._ids = np.concatenate([self._ids, ids[new]])
        self._states = np.concatenate([self._states, measured[new]])
        self._velocities = np.concatenate([self._velocities, np.zeros((len(new), 2))])
        self._stamps = np.concatenate([self._stamps, np.full(len(new), float(stamp_s))])
        fresh = stamp_s - self._stamps <= self.max_age_s
        self.lost += self._ids[~fresh].tolist()
        self._keep(fresh)
        return ids


class _AgingIds:
    """Keys -> person ids, least recently seen first, so forgetting the stale ones is a walk from the front."""

    def __init__(self):
        self._entries: OrderedDict = OrderedDict()  # key -> (person id, last seen stamp s)

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key) -> int | None:
        entry = self._entries.get(key)
        return None if entry is None else entry[0]

    def set(self, key, person_id: int, stamp_s: float) -> None:
        self._entries[key] = (person_id, stamp_s)
        self._entries.move_to_end(key)

    def forget_before(self, horizon_s: float) -> None:
        while self._entries and next(iter(self._entries.values()))[1] < horizon_s:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()


class PersonIds:
    """Person id per detection: the detector's id where the detection has one, else the tracker's.

    Every box of every frame goes through ``tracker`` (when there is one), so its tracks stay
    current whichever ids a frame uses. Detector ids and tracks get their integers from one
    counter, never reused, so a detector id and a tracker id never share a number. A track that
    carried a detector id keeps that person's number on frames where the detector gives none.
    Within a frame no number is given twice (a detector id repeated in one frame: the second
    detection takes its track's). Keys and tracks unseen for ``max_age_s`` (stamp time) are
    forgotten, so a detector whose ids keep rising (yolo_ros tracking) keeps the maps small; one
    seen again after that gets a new number. Time going back starts over (numbers still not reused).
    Without a tracker, detections without a detector id get ``NO_ID``.
    """

    def __init__(self, tracker: BoxTracker | None = None, max_age_s: float = 1.0):
        self.tracker = tracker
        self.max_age_s = max_age_s
        self._by_key = _AgingIds()  # detector id string -> person id
        self._by_track = _AgingIds()  # tracker track id -> person id
        self._next_id = 1
        self._newest: float | None = None

    def __len__(self) -> int:
        """Entries remembered (detector ids and tracks)."""
        return len(self._by_key) + len(self._by_track)

    def reset(self) -> None:
        self._by_key.clear()
        self._by_track.clear()
        if self.tracker is not None:
            self.tracker.reset()
        self._newest = None

    def _allocate(self) -> int:
        number = self._next_id
        self._next_id = self._next_id % np.iinfo(np.uint32).max + 1  # 1 .. 2**32 - 1, never NO_ID
        return number

    def assign(self, boxes: np.ndarray, detection_ids, stamp_s: float
               ) -> tuple[np.ndarray, list[tuple[str, int]]]:
        """(ids uint32 (N,), [(detector id, number) first seen in this call]) for ``boxes`` (N, 4) and
        their detector ids (N strings, "" where the detector gave none) seen at ``stamp_s`` seconds."""
        boxes = np.asarray(boxes, float).reshape(-1, 4)
        if self._newest is not None and stamp_s < self._newest:
            self.reset()  # bag loop, sim reset: the remembered last-seen stamps mean nothing now
        self._newest = stamp_s
        tracks = None
        if self.tracker is not None:
            self.tracker.max_age_s = self.max_age_s
            tracks = self.tracker.update(boxes, stamp_s).tolist()
        ids, new, used = np.zeros(len(boxes), np.uint32), [], set()
        for row, key in enumerate(detection_ids):  # detector ids first: they win over a track's memory
            if not key:
                continue
            number = self._by_key.get(key)
            if number is None:
                number = self._allocate()
                new.append((key, number))
            if number in used:
                continue
            self._by_key.set(key, number, stamp_s)
            ids[row] = number
            used.add(number)
            if tracks is not None:
                self._by_track.set(tracks[row], number, stamp_s)
        if tracks is not None:
            for row in np.flatnonzero(ids == NO_ID).tolist():
                number = self._by_track.get(tracks[row])
                if number is None or number in used:
                    number = self._allocate()
                self._by_track.set(tracks[row], number, stamp_s)
                ids[row] = number
                used.add(number)
        horizon = stamp_s - self.max_age_s
        self._by_key.forget_before(horizon)
        self._by_track.forget_before(horizon)
        return ids, new
