"""One Euro filter (Casiez, Roussel and Vogel, CHI 2012) per (person id, keypoint), numpy only.

A low-pass filter whose cut-off rises with speed: still joints are smoothed hard (little jitter),
fast ones lightly (little lag). Per sample, with dt from the image stamps:

    alpha(fc) = 1 / (1 + 1 / (2 pi fc dt))
    v_hat     = low-pass((x - x_prev) / dt, d_cutoff)        (the 2D velocity, per keypoint)
    x_hat     = low-pass(x, min_cutoff + beta * |v_hat|)

``trend=True`` (the default) low-passes around the constant-velocity prediction instead of the
last value (the filter's trend form, Holt's double exponential smoothing with One Euro's cut-off):

    x_pred = x_hat_prev + v_hat_prev * dt
    x_hat  = x_pred + alpha(min_cutoff + beta * |v_hat_prev|) * (x - x_pred)
    v_hat  = low-pass((x_hat - x_hat_prev) / dt, d_cutoff)

Steady motion then passes without lag, so the cut-off can sit much lower than the plain filter's
without losing accuracy on fast motion (``synthetic.smoothing_eval`` measures both; figures:
docs/benchmarks.md, "Keypoint smoothing").

State is kept per person id and keypoint; a keypoint restarts from its raw value after its score
fell below the threshold, and a person's state is dropped when the person is missing from a frame
(its track was lost) or when time goes backwards. Persons with id 0 (no identity) pass unfiltered.
"""
from __future__ import annotations

import math

import numpy as np


def _alpha(cutoff_hz, dt):  # cutoff_hz: a number or an array
    return 1.0 / (1.0 + 1.0 / (2.0 * math.pi * cutoff_hz * dt))


class KeypointSmoother:
    def __init__(self, min_cutoff: float = 3.0, beta: float = 0.01, d_cutoff: float = 8.0, trend: bool = True):
        self.min_cutoff, self.beta, self.d_cutoff, self.trend = min_cutoff, beta, d_cutoff, trend
        self._state: dict[int, tuple] = {}  # id -> (stamp s, x_hat (K,2), v_hat (K,2), valid (K,))

    def reset(self) -> None:
        self._state.clear()

    def __call__(self, keypoints: np.ndarray, ids, stamp_s: float, score_threshold: float) -> np.ndarray:
        """Smoothed copy of ``keypoints`` (N, K, 3: x, y, score); scores are not changed.

        All persons are filtered in one set of array operations (the per-person work is only the
        state lookup), so the cost hardly grows with the number of people."""
        out = np.array(keypoints, np.float32, copy=True)
        ids = np.asarray(ids, np.int64).reshape(-1)
        previous, self._state = self._state, {}
        seen: set[int] = set()  # no identity, or a duplicate id this frame: unfiltered
        rows = np.array([row for row, i in enumerate(ids.tolist())
                         if i != 0 and not (i in seen or seen.add(i))], np.int64)
        if len(rows) == 0:
            return out
        xy = out[rows, :, :2].astype(np.float64)
        good = (out[rows, :, 2] >= score_threshold) & np.isfinite(xy).all(-1)
        states = [previous.get(int(ids[row])) for row in rows]
        known = np.array([state is not None and stamp_s > state[0] for state in states])
        velocity = np.zeros_like(xy)
        if known.any():
            k = np.flatnonzero(known)
            dt = stamp_s - np.array([states[i][0] for i in k])[:, None, None]
            last_xy = np.stack([states[i][1] for i in k])
            last_velocity = np.stack([states[i][2] for i in k])
            cont = (good[k] & np.stack([states[i][3] for i in k]))[..., None]  # the others restart raw
            if self.trend:
                predicted = last_xy + last_velocity * dt
                a = _alpha(self.min_cutoff + self.beta * np.linalg.norm(last_velocity, axis=-1, keepdims=True), dt)
                filtered = predicted + a * (xy[k] - predicted)
                v = last_velocity + _alpha(self.d_cutoff, dt) * ((filtered - last_xy) / dt - last_velocity)
            else:
                v = last_velocity + _alpha(self.d_cutoff, dt) * ((xy[k] - last_xy) / dt - last_velocity)
                a = _alpha(self.min_cutoff + self.beta * np.linalg.norm(v, axis=-1, keepdims=True), dt)
                filtered = last_xy + a * (xy[k] - last_xy)
            velocity[k] = np.where(cont, v, 0.0)
            xy[k] = np.where(cont, filtered, xy[k])
        out[rows, :, :2] = np.where(good[..., None], xy, out[rows, :, :2])
        for i, row in enumerate(rows):
            self._state[int(ids[row])] = (stamp_s, xy[i], velocity[i], good[i])
        return out
