"""Pair images with detection arrays by stamp, without message_filters (pure Python, no ROS).

Detectors copy the image header, so a detection array normally has an image of exactly its stamp.
Rules:
- exact stamp match pairs at once, whichever of the two arrives first;
- otherwise a detection array is paired with the nearest image within ``slop`` once the camera has
  moved past its stamp (an image at or after it is cached, so no exact match can still come);
- caches are bounded (``cache_size`` each); entries older than ``max_age`` behind the newest stamp
  seen, or pushed out by the bound, are dropped and counted.
Stamps are integer nanoseconds.
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


class StampSync:
    def __init__(self, slop_ns: int, cache_size: int = 30, max_age_ns: int = 2_000_000_000):
        self.slop_ns = int(slop_ns)
        self.cache_size = int(cache_size)
        self.max_age_ns = int(max_age_ns)
        self._images: OrderedDict[int, object] = OrderedDict()  # stamp -> message, oldest first
        self._detections: OrderedDict[int, object] = OrderedDict()
        self._newest = None
        self._lock = threading.Lock()
        self.counters = SyncCounters()

    def cache_sizes(self) -> tuple[int, int]:
        with self._lock:
            return len(self._images), len(self._detections)

    def add_image(self, stamp: int, image) -> list[tuple[int, object, object]]:
        """Returns the pairs this image completes: (image stamp, image, detections)."""
        with self._lock:
            self._insert(self._images, stamp, image, "images_dropped")
            pairs = []
            if stamp in self._detections:
                pairs.append(self._take(stamp, stamp))
            # The camera is now past these detections' stamps: settle them by nearest image.
            for det_stamp in [s for s in self._detections if s <= stamp]:
                nearest = self._nearest_image(det_stamp)
                if nearest is not None:
                    pairs.append(self._take(nearest, det_stamp))
            self._expire()
            return pairs

    def add_detections(self, stamp: int, detections) -> list[tuple[int, object, object]]:
        with self._lock:
            self._insert(self._detections, stamp, detections, "detections_dropped")
            pairs = []
            if stamp in self._images:
                pairs.append(self._take(stamp, stamp))
            elif self._images and next(reversed(self._images)) >= stamp:
                nearest = self._nearest_image(stamp)
                if nearest is not None:
                    pairs.append(self._take(nearest, stamp))
            self._expire()
            return pairs

    # -- internals (lock held) ---------------------------------------------------------------

    def _insert(self, cache: OrderedDict, stamp: int, message, counter: str) -> None:
        if stamp in cache:  # a duplicate stamp replaces the older message
            del cache[stamp]
            self._count(counter)
        out_of_order = bool(cache) and stamp < next(reversed(cache))
        cache[stamp] = message
        if out_of_order:  # keep oldest-first order (late arrivals are rare, caches small)
            for key in sorted(cache):
                cache.move_to_end(key)
        while len(cache) > self.cache_size:
            cache.popitem(last=False)
            self._count(counter)
        self._newest = stamp if self._newest is None else max(self._newest, stamp)

    def _nearest_image(self, stamp: int):
        best = min(self._images, key=lambda s: abs(s - stamp), default=None)
        if best is None or abs(best - stamp) > self.slop_ns:
            return None
        return best

    def _take(self, image_stamp: int, det_stamp: int):
        self.counters.pairs += 1
        return image_stamp, self._images.pop(image_stamp), self._detections.pop(det_stamp)

    def _expire(self) -> None:
        horizon = self._newest - self.max_age_ns
        for cache, counter in ((self._images, "images_dropped"), (self._detections, "detections_dropped")):
            while cache and next(iter(cache)) < horizon:
                cache.popitem(last=False)
                self._count(counter)

    def _count(self, counter: str) -> None:
        setattr(self.counters, counter, getattr(self.counters, counter) + 1)
