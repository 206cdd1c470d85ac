"""Random people: joint angles per kind of pose (inside ``LIMITS``), facing, tilt, build and
colours (``sample_pose``), and placing a figure in an image or a detector-like crop."""
from __future__ import annotations

import math

import cv2
import numpy as np

from .figure import _mix, _unit_geometry
from .pose import LIMITS, MIN_HEIGHT_PX, POSE_KINDS, Pose

_KIND_P = (0.22, 0.15, 0.06, 0.15, 0.1, 0.1, 0.22)  # probability of each of POSE_KINDS


def _skin_colour(rng):
    light, dark = np.array([255, 224, 196.0]), np.array([88, 54, 36.0])
    t = rng.uniform(0, 1)
    return tuple(float(v) for v in np.clip(light + (dark - light) * t + rng.normal(0, 8, 3), 0, 255))


_HAIR = ((20, 15, 10), (60, 40, 25), (110, 75, 40), (200, 170, 100), (160, 70, 30), (170, 170, 170),
         (240, 240, 235))


def _hsv_colour(rng, s_range=(0.0, 1.0), v_range=(0.1, 1.0)):
    hsv = np.uint8([[[rng.integers(0, 180), rng.uniform(*s_range) * 255, rng.uniform(*v_range) * 255]]])
    return tuple(float(v) for v in cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0])


def _clip_angles(values: dict) -> dict:
    out = {}
    for k, v in values.items():
        lo, hi = LIMITS[k]
        clip = lambda x: min(max(float(x), lo), hi)  # noqa: E731
        out[k] = tuple(clip(x) for x in v) if isinstance(v, tuple) else clip(v)
    return out


def _sample_angles(rng, kind: str) -> dict:
    u = rng.uniform
    pair = lambda lo, hi: (float(u(lo, hi)), float(u(lo, hi)))  # noqa: E731
    a = dict(head_yaw=float(np.clip(rng.normal(0, 25), -70, 70)), head_pitch=float(rng.normal(5, 12)),
             torso_lean=float(rng.normal(0, 5)), torso_side=float(rng.normal(0, 4)),
             shoulder_flex=(float(rng.normal(5, 12)), float(rng.normal(5, 12))), shoulder_abd=pair(3, 25),
             elbow_flex=pair(0, 40), elbow_twist=pair(-20, 50),
             hip_flex=pair(-5, 10), hip_abd=pair(0, 12), knee_flex=pair(0, 15))
    if kind == "walking" or kind == "running":
        ph = u(-1, 1)
        amp = u(15, 35) if kind == "walking" else u(35, 60)
        a["hip_flex"] = (5 + amp * ph, 5 - amp * ph)
        back = (ph < 0, ph >= 0)  # the leg behind bends more
        kmax = 45 if kind == "walking" else 110
        kfront = 20 if kind == "walking" else 60
        a["knee_flex"] = tuple(float(u(5, kmax) if bk else u(0, kfront)) for bk in back)
        a["shoulder_flex"] = (-0.8 * amp * ph, 0.8 * amp * ph)
        a["elbow_flex"] = pair(10, 50) if kind == "walking" else pair(60, 110)
        a["shoulder_abd"] = pair(3, 15)
        if kind == "running":
            a["torso_lean"] = float(u(5, 20))
    elif kind == "arms_raised":
        flex, abd, elb = list(a["shoulder_flex"]), list(a["shoulder_abd"]), list(a["elbow_flex"])
        for i in range(2):
            if rng.random() < 0.75:
                if rng.random() < 0.5:
                    flex[i], abd[i] = u(80, 180), u(0, 40)
                else:
                    flex[i], abd[i] = u(-10, 30), u(60, 170)
                elb[i] = u(0, 90)
        a["shoulder_flex"], a["shoulder_abd"], a["elbow_flex"] = tuple(flex), tuple(abd), tuple(elb)
    elif kind == "sitting":
        a.update(hip_flex=pair(70, 105), knee_flex=pair(70, 110), hip_abd=pair(0, 20),
                 torso_lean=float(u(-15, 20)), shoulder_flex=pair(-10, 60), shoulder_abd=pair(0, 30),
                 elbow_flex=pair(20, 100))
    elif kind == "crouching":
        a.update(hip_flex=pair(90, 130), knee_flex=pair(100, 150), hip_abd=pair(5, 35),
                 torso_lean=float(u(15, 50)), shoulder_flex=pair(0, 90), elbow_flex=pair(0, 120))
    elif kind == "random":
        for k in ("shoulder_flex", "shoulder_abd", "elbow_flex", "elbow_twist", "hip_flex", "hip_abd",
                  "knee_flex"):
            a[k] = pair(*LIMITS[k])
        a["torso_lean"] = float(u(-15, 45))
        a["torso_side"] = float(u(-20, 20))
    elif kind != "standing":
        raise ValueError(f"unknown pose kind {kind!r}; one of {POSE_KINDS}")
    return _clip_angles(a)


def sample_pose(rng: np.random.Generator, width: int = 640, height: int = 480,
                kind: str | None = None) -> Pose:
    """A random figure placed in a ``width`` x ``height`` image (standing height between
    ``MIN_HEIGHT_PX`` and the image height, log-uniform; about 30% may be cut by the border).

    ``kind`` (one of ``POSE_KINDS``) forces the kind of pose; default random. Facing: about
    45% roughly toward the camera, 20% roughly away, the rest any direction."""
    pose = _sample_unplaced(rng, kind)
    _place(rng, pose, width, height, _unit_geometry(pose)[0])
    return pose


def _sample_unplaced(rng, kind=None) -> Pose:
    """A random pose (angles, facing, tilt, build, colours) with its placement and height not yet set."""
    if kind is None:
        kind = POSE_KINDS[int(rng.choice(len(POSE_KINDS), p=_KIND_P))]
    angles = _sample_angles(rng, kind)
    r = rng.random()
    yaw = rng.normal(0, 30) if r < 0.45 else rng.normal(180, 30) if r < 0.65 else rng.uniform(-180, 180)
    yaw = (yaw + 180.0) % 360.0 - 180.0
    r = rng.random()
    tilt = rng.normal(0, 6) if r < 0.85 else rng.uniform(-45, 45) if r < 0.97 else rng.uniform(-100, 100)
    shirt = _hsv_colour(rng)
    pants = _hsv_colour(rng, (0.0, 0.8), (0.08, 0.8)) if rng.random() < 0.7 else _hsv_colour(rng)
    skin = _skin_colour(rng)
    hair = _HAIR[int(rng.integers(0, len(_HAIR)))]
    hair = tuple(min(max(c + v, 0.0), 255.0) for c, v in zip(hair, rng.normal(0, 10, 3)))
    if rng.random() < 0.08:  # bald / shaved
        hair = _mix(skin, 0, 0.15)
    return Pose(
        yaw=float(yaw), tilt=float(tilt), build=float(rng.uniform(0.85, 1.2)),
        head_size=float(rng.uniform(0.92, 1.08)), skin=skin, hair=hair, shirt=shirt, pants=pants,
        shoes=_hsv_colour(rng, (0, 0.6), (0.05, 0.95)), long_sleeves=bool(rng.random() < 0.5),
        shorts=bool(rng.random() < 0.2), hairline=float(rng.uniform(-0.45, -0.15)), **angles)


def _place(rng, pose: Pose, width, height, unit_ext):
    """Random height (log-uniform) and position in a ``width`` x ``height`` image; sometimes the
    figure may stick out of the image by up to 45%. ``unit_ext``: ``_unit_geometry(pose)[0]``."""
    hmax = max(float(height), MIN_HEIGHT_PX * 1.01)
    pose.height = float(math.exp(rng.uniform(math.log(MIN_HEIGHT_PX), math.log(hmax))))
    ext = unit_ext * pose.height
    bw, bh = ext[2] - ext[0], ext[3] - ext[1]
    cut = 0.0 if rng.random() < 0.7 else rng.uniform(0.0, 0.45)  # fraction that may be outside
    cx = _uniform_centre(rng, width, bw, cut)
    cy = _uniform_centre(rng, height, bh, cut)
    pose.x = float(cx - (ext[0] + ext[2]) / 2)
    pose.y = float(cy - (ext[1] + ext[3]) / 2)


def _uniform_centre(rng, size, extent, cut):
    lo, hi = extent / 2 - cut * extent, size - extent / 2 + cut * extent
    if lo > hi:  # larger than the image: keep it roughly centred
        lo, hi = hi, lo
    return rng.uniform(lo, hi)


def _fit_in_crop(rng, pose: Pose, width, height, pad):
    """Scale and place ``pose`` as a top-down pipeline crops it: its extent fitted to the crop's
    aspect ratio, padded ``pad`` times, centred up to about 5% off."""
    unit = _unit_geometry(pose)[0]
    ew, eh = unit[2] - unit[0], unit[3] - unit[1]
    aspect = width / height
    box_h = max(eh, ew / aspect)  # the detector box fitted to the crop's aspect ratio
    pose.height = float(height / (pad * box_h))
    centre = np.array([width / 2, height / 2]) + rng.normal(0, 0.05, 2) * [width, height]
    pose.x = float(centre[0] - pose.height * (unit[0] + unit[2]) / 2)
    pose.y = float(centre[1] - pose.height * (unit[1] + unit[3]) / 2)
