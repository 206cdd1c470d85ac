"""One Euro filter (Casiez, Roussel and Vogel, CHI 2012) per (person id, keypoint), numpy only.

A low-pass filter whose cut-off rises with speed: still joints are smoothed hard (little jitter),
fast ones lightly (little lag). Per sample, with dt from the image stamps:

    alpha(fc) = 1 / (1 + 1 / (2 pi fc dt))
    v_hat     = low-pass((x - x_prev) / dt, d_cutoff)        (the 2D velocity, per keypoint)
    x_hat     = low-pass(x, min_cutoff + beta * |v_hat|)

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
    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.05, d_cutoff: float = 0.5):
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self._state: dict[int, tuple] = {}  # id -> (stamp s, x_hat (K,2), v_hat (K,2), valid (K,))

    def reset(self) -> None:
        self._state.clear()

    def __call__(self, keypoints: np.ndarray, ids, stamp_s: float, score_threshold: float) -> np.ndarray:
        """Smoothed copy of ``keypoints`` (N, K, 3: x, y, score); scores are not changed."""
        out = np.array(keypoints, np.float32, copy=True)
        previous, self._state = self._state, {}
        for row, person_id in enumerate(int(i) for i in ids):
            if person_id == 0 or person_id in self._state:  # no identity, or a duplicate id this frame
                continue
            xy, score = out[row, :, :2].astype(np.float64), out[row, :, 2]
            good = (score >= score_threshold) & np.isfinite(xy).all(1)
            state = previous.get(person_id)
            if state is not None and stamp_s > state[0]:
                dt = stamp_s - state[0]
                last_xy, last_velocity, last_good = state[1], state[2], state[3]
                cont = (good & last_good)[:, None]  # keypoints that continue; the others restart raw
                velocity = last_velocity + _alpha(self.d_cutoff, dt) * ((xy - last_xy) / dt - last_velocity)
                velocity = np.where(cont, velocity, 0.0)
                a = _alpha(self.min_cutoff + self.beta * np.linalg.norm(velocity, axis=1), dt)[:, None]
                xy = np.where(cont, last_xy + a * (xy - last_xy), xy)
            else:
                velocity = np.zeros_like(xy)
            out[row, :, :2] = np.where(good[:, None], xy, out[row, :, :2])
            self._state[person_id] = (stamp_s, xy, velocity, good)
        return out
