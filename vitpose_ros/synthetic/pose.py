"""What a synthetic person is: the ``Pose`` (placement, joint angles, looks), the COCO-17 keypoint
tables it is annotated with, the joint-angle limits poses stay inside, and pose blending.

How the numbers become a figure (body frame, ``yaw``, ``tilt``, units) is in ``figure``'s docstring.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

KEYPOINT_NAMES = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)
NUM_KEYPOINTS = 17
# COCO skeleton, 0-based.
SKELETON = (
    (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7), (6, 8),
    (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6),
)
FLIP_PAIRS = ((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16))

MIN_HEIGHT_PX = 60.0  # smallest standing height sample_pose draws

# Joint-angle limits in degrees (inclusive), per Pose field; sample_pose stays inside them.
LIMITS = {
    "head_yaw": (-70.0, 70.0), "head_pitch": (-30.0, 40.0),
    "torso_lean": (-20.0, 60.0), "torso_side": (-25.0, 25.0),
    "shoulder_flex": (-50.0, 180.0), "shoulder_abd": (0.0, 170.0),
    "elbow_flex": (0.0, 150.0), "elbow_twist": (-45.0, 90.0),
    "hip_flex": (-30.0, 130.0), "hip_abd": (-10.0, 50.0), "knee_flex": (0.0, 155.0),
}
POSE_KINDS = ("standing", "walking", "running", "arms_raised", "sitting", "crouching", "random")


@dataclass
class Pose:
    """One figure. Angles in degrees; ``(left, right)`` pairs for the limbs."""

    x: float = 320.0  # pelvis centre, image px
    y: float = 260.0
    height: float = 300.0  # standing height in px (the scale)
    tilt: float = 0.0  # in-plane rotation, clockwise on screen
    yaw: float = 0.0  # 0 faces the camera, 180 away, +90 faces image right
    head_yaw: float = 0.0  # relative to the body, + = turned to the person's left
    head_pitch: float = 0.0  # + = looking down
    torso_lean: float = 0.0  # + = bent forward
    torso_side: float = 0.0  # + = bent toward the person's left
    shoulder_flex: tuple[float, float] = (0.0, 0.0)  # arm forward/up (180 = straight up)
    shoulder_abd: tuple[float, float] = (12.0, 12.0)  # arm out to the side
    elbow_flex: tuple[float, float] = (10.0, 10.0)
    elbow_twist: tuple[float, float] = (0.0, 0.0)  # + swings the forearm toward the midline
    hip_flex: tuple[float, float] = (0.0, 0.0)  # thigh forward
    hip_abd: tuple[float, float] = (4.0, 4.0)  # thigh out to the side
    knee_flex: tuple[float, float] = (5.0, 5.0)
    build: float = 1.0  # width multiplier
    head_size: float = 1.0
    skin: tuple[float, float, float] = (224.0, 172.0, 140.0)  # RGB
    hair: tuple[float, float, float] = (60.0, 40.0, 25.0)
    shirt: tuple[float, float, float] = (40.0, 90.0, 200.0)
    pants: tuple[float, float, float] = (50.0, 50.0, 70.0)
    shoes: tuple[float, float, float] = (30.0, 30.0, 30.0)
    long_sleeves: bool = False
    shorts: bool = False
    hairline: float = -0.3  # hair covers the head where (unit normal . down) < hairline


_WRAP_FIELDS = ("yaw", "tilt")


def _lerp_angle(a: float, b: float, t: float) -> float:
    d = (b - a + 180.0) % 360.0 - 180.0
    return a + d * t


def interpolate_pose(a: Pose, b: Pose, t: float) -> Pose:
    """Blend two poses: numbers linearly (``yaw``/``tilt`` along the shorter arc), flags from
    ``a`` for t < 0.5 else ``b``. t=0 gives ``a``'s values, t=1 ``b``'s."""
    values = {}
    for f in dataclasses.fields(Pose):
        va, vb = getattr(a, f.name), getattr(b, f.name)
        if isinstance(va, bool):
            values[f.name] = va if t < 0.5 else vb
        elif isinstance(va, tuple):
            values[f.name] = tuple(float(x + (y - x) * t) for x, y in zip(va, vb))
        elif f.name in _WRAP_FIELDS:
            values[f.name] = float(_lerp_angle(va, vb, t))
        else:
            values[f.name] = float(va + (vb - va) * t)
    return Pose(**values)
