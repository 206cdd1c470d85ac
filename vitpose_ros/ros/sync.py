"""Pair images with detection arrays (and depth images) by stamp, without message_filters (pure Python).

Detectors copy the image header, so a detection array normally has an image of exactly its stamp.
Rules:
- exact stamp match pairs at once, whichever of the two arrives first;
- otherwise a detection array is paired with the nearest image within ``slop`` once the camera has
  moved past its stamp (an image at or after it is cached, so no exact match can still come);
- caches are bounded (``cache_size`` each); entries older than ``max_age`` behind the newest stamp
  seen, or pushed out by the bound, are dropped and counted.
Stamps are integer nanoseconds. ``StampCache`` is one such bounded cache; the node also keeps one
for depth images, which it looks up by the colour image's stamp (``take_nearest``).

Age is measured from the newest stamp seen, so after time goes back (a bag on ``--loop``, a sim
reset, a driver restart) every new message would be too old. ``TimeJumpDetector`` notices that on
each input; the node then clears the caches (``StampSync.reset``, ``StampCache.clear``) and goes on.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass


@dataclass
class SyncCounters:
    pairs: int = 0
    images_dropped: int = 0
    detections_dropped: int = 0


class StampCache:
    """Messages by stamp, oldest first; bounded by count and age; drops are counted. Not locked."""

    def __init__(self, cache_size: int = 30, max_age_ns: int = 2_000_000_000):
        self.cache_size = int(cache_size)
        self.max_age_ns = int(max_age_ns)
        self._items: OrderedDict[int, object] = OrderedDict()
        self.newest: int | None = None  # newest stamp ever inserted
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, stamp: int) -> bool:
        return stamp in self._items

    def stamps(self):
        return iter(self._items)

    def last_stamp(self) -> int | None:
        return next(reversed(self._items)) if self._items else None

    def insert(self, stamp: int, message) -> None:
        if stamp in self._items:  # a duplicate stamp replaces the older message
            del self._items[stamp]
            self.dropped += 1
        out_of_order = bool(self._items) and stamp < next(reversed(self._items))
        self._items[stamp] = message
        if out_of_order:  # keep oldest-first order (late arrivals are rare, caches small)
            for key in sorted(self._items):
                self._items.move_to_end(key)
        while len(self._items) > self.cache_size:
            self._items.popitem(last=False)
            self.dropped += 1
        self.newest = stamp if self.newest is None else max(self.newest, stamp)

    def nearest(self, stamp: int, slop_ns: int) -> int | None:
        best = min(self._items, key=lambda s: abs(s - stamp), default=None)
        if best is None or abs(best - stamp) > slop_ns:
            return None
        return best

    def pop(self, stamp: int):
        return self._items.pop(stamp)

    def take_nearest(self, stamp: int, slop_ns: int):
        """The message nearest ``stamp`` within ``slop_ns`` (removed), or None; older ones are dropped:
        the consumer works forward in time and will not ask for them."""
        best = self.nearest(stamp, slop_ns)
        if best is None:
            return None
        while next(iter(self._items)) < best:
            self._items.popitem(last=False)
            self.dropped += 1
        return self._items.pop(best)

    def clear(self) -> None:
        """Forget every message (counted as dropped) and the newest stamp: time starts over."""
        self.dropped += len(self._items)
        self._items.clear()
        self.newest = None

    def expire(self, newest: int) -> None:
        horizon = newest - self.max_age_ns
        while self._items and next(iter(self._items)) < horizon:
            self._items.popitem(last=False)
            self.dropped += 1


class StampSync:
    def __init__(self, slop_ns: int, cache_size: int = 30, max_age_ns: int = 2_000_000_000):
        self.slop_ns = int(slop_ns)
        self.max_age_ns = int(max_age_ns)  # how long a message waits for its partner
        self._images = StampCache(cache_size, max_age_ns)
        self._detections = StampCache(cache_size, max_age_ns)
        self._lock = threading.Lock()
        self._pairs = 0

    @property
    def counters(self) -> SyncCounters:
        return SyncCounters(self._pairs, self._images.dropped, self._detections.dropped)

    def cache_sizes(self) -> tuple[int, int]:
        with self._lock:
            return len(self._images), len(self._detections)

    def reset(self) -> None:
        """Drop everything waiting (counted) and start the age horizon afresh."""
        with self._lock:
            self._images.clear()
            self._detections.clear()

    def add_image(self, stamp: int, image) -> list[tuple[int, object, object]]:
        """Returns the pairs this image completes: (image stamp, image, detections)."""
        with self._lock:
            self._images.insert(stamp, image)
            pairs = []
            if stamp in self._detections:
                pairs.append(self._take(stamp, stamp))
            # The camera is now past these detections' stamps: settle them by nearest image.
            for det_stamp in [s for s in self._detections.stamps() if s <= stamp]:
                nearest = self._images.nearest(det_stamp, self.slop_ns)
                if nearest is not None:
                    pairs.append(self._take(nearest, det_stamp))
            self._expire()
            return pairs

    def add_detections(self, stamp: int, detections) -> list[tuple[int, object, object]]:
        with self._lock:
            self._detections.insert(stamp, detections)
            pairs = []
            if stamp in self._images:
                pairs.append(self._take(stamp, stamp))
            elif len(self._images) and self._images.last_stamp() >= stamp:
                nearest = self._images.nearest(stamp, self.slop_ns)
                if nearest is not None:
                    pairs.append(self._take(nearest, stamp))
            self._expire()
            return pairs

    def take_unpaired_images(self, before_ns: int) -> list[tuple[int, object]]:
        """Remove and return (stamp, image) of the images older than ``before_ns`` still unpaired,
        oldest first: those that will get no detections (for detect_every's carried boxes)."""
        with self._lock:
            stale = [s for s in self._images.stamps() if s < before_ns]
            return [(s, self._images.pop(s)) for s in stale]

    # -- internals (lock held) ---------------------------------------------------------------

    def _take(self, image_stamp: int, det_stamp: int):
        self._pairs += 1
        return image_stamp, self._images.pop(image_stamp), self._detections.pop(det_stamp)

    def _expire(self) -> None:
        newest = max(s for s in (self._images.newest, self._detections.newest) if s is not None)
        self._images.expire(newest)
        self._detections.expire(newest)


class TimeJumpDetector:
    """Notices input stamps going back by more than ``window_ns`` behind the newest stamp seen.

    ``check(stamp)`` per message, across all inputs of one node, answers:
    - ``OK``: in order (or back by less than the window: late arrivals, a detector's lag);
    - ``JUMP``: time went back (bag loop, sim reset, driver restart); this stamp starts the new timeline;
    - ``STALE``: a straggler from the end of the old timeline, arriving after the jump (a detector
      still answering the last frames before a loop); its partners are gone, drop it.
    """

    OK, JUMP, STALE = "ok", "jump", "stale"

    def __init__(self, window_ns: int):
        self.window_ns = int(window_ns)
        self.newest: int | None = None
        self.jumps = 0
        self.last_jump_s = 0.0  # how far the last jump went back (s)
        self._before_jump: int | None = None  # the newest stamp of the timeline before the last jump
        self._lock = threading.Lock()

    def check(self, stamp: int) -> str:
        with self._lock:
            if self.newest is None:
                self.newest = stamp
                return self.OK
            if stamp < self.newest - self.window_ns:
                self.last_jump_s = (self.newest - stamp) / 1e9
                self._before_jump, self.newest = self.newest, stamp
                self.jumps += 1
                return self.JUMP
            old_tail = (self._before_jump is not None
                        and self._before_jump - self.window_ns <= stamp <= self._before_jump)
            if old_tail and stamp > self.newest + self.window_ns:
                return self.STALE
            self.newest = max(self.newest, stamp)
            return self.OK

