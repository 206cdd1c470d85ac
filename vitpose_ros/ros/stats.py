"""Rolling pipeline figures for /diagnostics (pure Python): fps, latency, drops, persons, input rates."""
from __future__ import annotations

import threading
import time
from collections import deque


class PipelineStats:
    def __init__(self, window_s: float = 5.0, max_samples: int = 1000):
        self.window_s = window_s
        self._samples: deque = deque(maxlen=max_samples)  # (wall time, latency s, persons)
        self._lock = threading.Lock()
        self.frames_processed = 0
        self.frames_superseded = 0  # matched pairs replaced by a newer one before inference
        self.frames_skipped = 0  # bad input: conversion or box errors
        self.depth_missing = 0  # processed frames without a depth image of their stamp
        self.depth_skipped = 0  # depth images rejected (encoding, size, no valid pixel)
        self.inference_failures = 0  # frames whose estimation raised (bad input is frames_skipped)
        self.failures_in_a_row = 0
        self.last_failure = ""
        self.time_jumps = 0  # input stamps went back (bag loop, sim reset, driver restart): pairing restarted
        self.inputs_dropped_at_time_jump = 0  # messages from before a time jump that arrived after it
        self.last: dict[str, float] = {}  # event -> monotonic time it last happened
        self._arrivals: dict[str, deque] = {}  # input -> monotonic arrival times (rates)

    def record(self, latency_s: float, persons: int) -> None:
        with self._lock:
            self.frames_processed += 1
            self.failures_in_a_row = 0
            self._samples.append((time.monotonic(), latency_s, persons))
            self.last["processed"] = self._samples[-1][0]
            self.last.pop("waiting", None)

    def offered(self) -> None:
        """A frame went to inference: ``waiting`` holds the oldest one not followed by a processed frame."""
        now = time.monotonic()
        self.last["paired"] = now
        self.last.setdefault("waiting", now)

    def record_failure(self, reason: str) -> None:
        with self._lock:
            self.inference_failures += 1
            self.failures_in_a_row += 1
            self.last_failure = reason

    def mark(self, event: str) -> None:
        """``event`` happened now (its time is in ``last``)."""
        self.last[event] = time.monotonic()

    def arrived(self, name: str) -> None:
        """A message on input ``name`` arrived: its time and its rate."""
        now = time.monotonic()
        self.last[name] = now
        self._arrivals.setdefault(name, deque(maxlen=1000)).append(now)

    def rate(self, name: str) -> float:
        """Messages per second on input ``name`` over the last ``window_s`` seconds."""
        now = time.monotonic()
        recent = [t for t in self._arrivals.get(name, ()) if now - t <= self.window_s]
        return len(recent) / self.window_s

    def count(self, counter: str) -> None:
        with self._lock:
            setattr(self, counter, getattr(self, counter) + 1)

    def summary(self) -> dict:
        """fps, mean and p95 latency (ms) and mean persons over the last ``window_s`` seconds."""
        now = time.monotonic()
        with self._lock:
            recent = [(t, lat, n) for t, lat, n in self._samples if now - t <= self.window_s]
        if not recent:
            return {"fps": 0.0, "latency_mean_ms": 0.0, "latency_p95_ms": 0.0, "persons_mean": 0.0}
        latencies = sorted(lat for _, lat, _ in recent)
        span = max(now - recent[0][0], 1e-3) if len(recent) > 1 else self.window_s
        p95 = latencies[min(len(latencies) - 1, int(round(0.95 * (len(latencies) - 1))))]
        return {
            "fps": len(recent) / span,
            "latency_mean_ms": 1e3 * sum(latencies) / len(latencies),
            "latency_p95_ms": 1e3 * p95,
            "persons_mean": sum(n for _, _, n in recent) / len(recent),
        }
