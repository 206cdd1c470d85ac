"""A ``Pose`` as a 3-D stick figure seen by the camera: keypoints, the parts to draw, their extent.

Geometry: a 3-D stick skeleton (body frame: X = the person's left, Y = down, Z = forward; units
of standing height) posed by joint angles, turned by ``yaw`` about the vertical, projected
orthographically, rotated in the image plane by ``tilt``, scaled by ``height`` px and placed with
its pelvis centre at (``x``, ``y``). ``yaw`` 0 faces the camera (the person's left is on the
image's right), 180 faces away, +90 faces the image's right (person turned to their own left).

Nothing is drawn here: ``_build_figure`` returns the keypoints, which face points the head hides,
and a list of depth-tagged parts (limb segments, torso polygons, the head) that ``raster`` paints.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from .pose import Pose

# Body proportions (units of standing height).
_HIP_HALF = 0.085
_SHOULDER_HALF = 0.10
_SHOULDER_Y = -0.29
_NECK_TOP_Y = -0.355
_HEAD_R = 0.064
_UPPER_ARM, _FOREARM, _HAND = 0.165, 0.15, 0.055
_THIGH, _SHIN = 0.235, 0.235
_W_UPPER_ARM = (0.052, 0.04)
_W_FOREARM = (0.04, 0.03)
_W_HAND = (0.042, 0.034)
_W_THIGH = (0.088, 0.062)
_W_SHIN = (0.06, 0.042)
_W_FOOT = (0.045, 0.035)
_W_NECK = 0.05

# Part ids (label map = figure_index * 16 + part; 0 = background, 65535 = occluder shape).
TORSO, NECK, HEAD = 1, 2, 3
L_UPPER_ARM, L_FOREARM, L_HAND, R_UPPER_ARM, R_FOREARM, R_HAND = 4, 5, 6, 7, 8, 9
L_THIGH, L_SHIN, L_FOOT, R_THIGH, R_SHIN, R_FOOT = 10, 11, 12, 13, 14, 15
# Parts on which a keypoint counts as visible (torso added for shoulders/hips on its near side).
_KP_PARTS = (
    (HEAD,), (HEAD,), (HEAD,), (HEAD,), (HEAD,),
    (L_UPPER_ARM,), (R_UPPER_ARM,), (L_UPPER_ARM, L_FOREARM), (R_UPPER_ARM, R_FOREARM),
    (L_FOREARM, L_HAND), (R_FOREARM, R_HAND),
    (L_THIGH,), (R_THIGH,), (L_THIGH, L_SHIN), (R_THIGH, R_SHIN), (L_SHIN, L_FOOT), (R_SHIN, R_FOOT),
)

_SIDES = ((1, "l"), (-1, "r"))  # +1 = the person's left
_LEFT_TINT = 0.38  # left limbs: mix toward white by this much; right limbs: toward black
_FACE_V1_MAX_NZ = 0.6  # face point behind the head outline: v=1 if its normal's z < this, else 0


# ----------------------------------------------------------------------------------- rotations


def _rx(deg):  # rotates down (0,1,0) toward forward (0,0,1)
    r = math.radians(deg)
    c, s = math.cos(r), math.sin(r)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def _ry(deg):  # rotates forward (0,0,1) toward left (1,0,0)
    r = math.radians(deg)
    c, s = math.cos(r), math.sin(r)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def _rz(deg):  # rotates up (0,-1,0) toward left (1,0,0)
    r = math.radians(deg)
    c, s = math.cos(r), math.sin(r)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


_BODY_TO_CAMERA = np.diag([1.0, 1.0, -1.0])  # yaw 0: left -> +x, down -> +y, forward -> -z


def _unit(v):
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


def _rodrigues(v, axis, deg):
    r = math.radians(deg)
    c, s = math.cos(r), math.sin(r)
    ax, ay, az = axis
    vx, vy, vz = v
    cross = np.array([ay * vz - az * vy, az * vx - ax * vz, ax * vy - ay * vx])
    return v * c + cross * s + axis * (ax * vx + ay * vy + az * vz) * (1 - c)


def _rings(levels):
    ang = np.linspace(0, 2 * np.pi, 8, endpoint=False)
    ring = np.stack([np.cos(ang), np.zeros_like(ang), np.sin(ang)], 1)
    return np.concatenate([ring * np.array([hx, 0, hz]) + np.array([0, y, 0]) for y, hx, hz in levels], 0)


# (y, half width, half depth) cross-sections of the chest and pelvis, and the V collar.
_CHEST_RINGS = _rings(((-0.33, 0.085, 0.045), (-0.31, 0.125, 0.06), (-0.22, 0.115, 0.065),
                       (-0.08, 0.092, 0.055)))
_PELVIS_RINGS = _rings(((-0.08, 0.094, 0.056), (0.045, 0.108, 0.065)))
_COLLAR = np.array([[-0.045, -0.312, 0.05], [0.045, -0.312, 0.05], [0, -0.235, 0.062]])


# Face features, head-local unit directions (X left, Y down, Z forward).
_NOSE_TIP = np.array([0.0, 0.2, 1.12])
_EYE_DIR = (_unit([0.42, -0.1, 0.9]), _unit([-0.42, -0.1, 0.9]))  # left, right
_EAR_DIR = (_unit([0.98, 0.08, -0.17]), _unit([-0.98, 0.08, -0.17]))
_EAR_KP_R = 1.06  # ear keypoint sits on the protruding ear, just outside the skull
_MOUTH_DIR = _unit([0.0, 0.5, 0.86])
_EYE_COS = math.cos(0.15)
# Keypoints 0..4 (nose, eyes, ears) on the head.
_FACE_POINTS = (_NOSE_TIP, _EYE_DIR[0], _EYE_DIR[1], _EAR_DIR[0] * _EAR_KP_R, _EAR_DIR[1] * _EAR_KP_R)
_BODY_KEYPOINTS = ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")  # 5.. in (left, right) pairs


# ------------------------------------------------------------------------------------ colours


def _mix(c, target, t):
    return tuple(float(x + (target - x) * t) for x in c)


def _side_tint(c, side):  # side +1 = left (lighter), -1 = right (darker)
    return _mix(c, 255.0 if side > 0 else 0.0, _LEFT_TINT)


def _outline_px(height_px: float) -> float:
    """Width of the darker rim drawn around limbs and torso, for a figure ``height_px`` tall."""
    return min(max(0.004 * float(height_px), 0.5), 2.0)


# ------------------------------------------------------------------------------------- figure


@dataclass
class _Figure:
    keypoints: np.ndarray  # (17, 2) image px
    face_state: np.ndarray  # (17,) int: 2 not hidden by the head, 1 / 0 hidden (v to report)
    torso_ok: np.ndarray  # (17,) bool: torso pixels count as visible for this keypoint
    parts: list = field(default_factory=list)  # (depth, kind, geometry, rgb, part_id)
    extent: np.ndarray = None  # (4,) x0 y0 x1 y1 of everything drawn


@dataclass
class _View:
    """Body frame -> image: ``yaw`` turn, orthographic projection, ``tilt`` and scale, placement."""

    to_cam: np.ndarray  # (3, 3) body frame -> camera frame (x right, y down, z away from the viewer)
    a2: np.ndarray  # (2, 2) camera x, y (units of height) -> image px offsets: tilt and scale
    root: np.ndarray  # (2,) pelvis centre, image px

    @classmethod
    def of(cls, p: Pose) -> _View:
        tr = math.radians(p.tilt)
        ct, st = math.cos(tr), math.sin(tr)
        return cls(to_cam=_BODY_TO_CAMERA @ _ry(p.yaw), a2=float(p.height) * np.array([[ct, -st], [st, ct]]),
                   root=np.array([p.x, p.y], dtype=np.float64))

    def project(self, points3: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 3) body-frame points -> image px (N, 2) and camera depth (N,) (units of height)."""
        cam = points3 @ self.to_cam.T
        return cam[:, :2] @ self.a2.T + self.root, cam[:, 2]


@dataclass
class _HeadView:
    """The head sphere in the image: head-local directions -> camera frame -> image px."""

    to_cam: np.ndarray  # (3, 3) head-local -> camera
    centre: np.ndarray  # (2,) image px
    a2: np.ndarray  # the figure's _View.a2
    radius: float  # units of standing height

    def camera(self, local) -> np.ndarray:
        return self.to_cam @ local

    def image(self, cam: np.ndarray) -> np.ndarray:
        """Image px of a camera-frame offset from the centre, in head radii."""
        return self.centre + (self.a2 @ cam[:2]) * self.radius


def _arm(p: Pose, side: int, torso_r: np.ndarray) -> dict[str, np.ndarray]:
    """Shoulder, elbow, wrist and hand: abduct, then flex (in the torso frame); the elbow bends
    toward the rotated "forward"."""
    i, tag, b = (0 if side > 0 else 1), ("l" if side > 0 else "r"), float(p.build)
    sh = torso_r @ np.array([side * _SHOULDER_HALF * b, _SHOULDER_Y, 0])
    rot = _rx(p.shoulder_flex[i]) @ _rz(-side * p.shoulder_abd[i])
    d = rot @ np.array([0.0, 1.0, 0.0])
    bend = rot @ np.array([0.0, 0.0, 1.0])
    bend = _rodrigues(bend, d, -side * p.elbow_twist[i])
    e = math.radians(p.elbow_flex[i])
    fd = d * math.cos(e) + bend * math.sin(e)
    elbow = sh + torso_r @ (d * _UPPER_ARM)
    wrist = elbow + torso_r @ (fd * _FOREARM)
    return {tag + "_shoulder": sh, tag + "_elbow": elbow, tag + "_wrist": wrist,
            tag + "_hand": wrist + torso_r @ (fd * _HAND)}


def _leg(p: Pose, side: int) -> dict[str, np.ndarray]:
    """Hip, knee, ankle, heel and toe: abduct then flex in the body frame; the knee bends toward
    the rotated "back"; the foot points forward, square to the shin."""
    i, tag, b = (0 if side > 0 else 1), ("l" if side > 0 else "r"), float(p.build)
    hip = np.array([side * _HIP_HALF * b, 0.0, 0.0])
    rot = _rx(p.hip_flex[i]) @ _rz(-side * p.hip_abd[i])
    d = rot @ np.array([0.0, 1.0, 0.0])
    bend = rot @ np.array([0.0, 0.0, -1.0])
    k = math.radians(p.knee_flex[i])
    sd = d * math.cos(k) + bend * math.sin(k)
    knee = hip + d * _THIGH
    ankle = knee + sd * _SHIN
    fwd = np.array([0.0, 0.0, 1.0]) - sd * sd[2]
    n = np.linalg.norm(fwd)
    fwd = fwd / n if n > 0.2 else _unit(np.array([0.0, 0.0, 1.0]) + 0.5 * sd)
    return {tag + "_hip": hip, tag + "_knee": knee, tag + "_ankle": ankle,
            tag + "_heel": ankle + sd * 0.02 - fwd * 0.025, tag + "_toe": ankle + sd * 0.02 + fwd * 0.1}


def _joints(p: Pose, torso_r: np.ndarray, head_r: np.ndarray) -> dict[str, np.ndarray]:
    """Every joint of the skeleton (and the head centre), body frame."""
    pts = {"pelvis": np.zeros(3), "neck_base": torso_r @ np.array([0, _SHOULDER_Y - 0.01, 0]),
           "neck_top": torso_r @ np.array([0, _NECK_TOP_Y, 0])}
    pts["head"] = pts["neck_top"] + head_r @ np.array([0, -0.058, 0.008]) * p.head_size
    for side, _ in _SIDES:
        pts.update(_arm(p, side, torso_r))
        pts.update(_leg(p, side))
    return pts


def _torso_hull(build: float, torso_r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Torso silhouette points, body frame: chest rings (lean with the spine) then pelvis rings;
    and the V collar's three corners."""
    widen = np.array([build, 1.0, 1.0])
    torso3 = np.concatenate([(_CHEST_RINGS * widen) @ torso_r.T, _PELVIS_RINGS * widen], 0)
    return torso3, (_COLLAR * widen) @ torso_r.T


def _keypoints(head: _HeadView, xy: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(17, 2) image keypoints and the face points' state: 2 unless the head hides the point,
    then 1 (just behind the outline) or 0 (far side of the head)."""
    kp = np.zeros((17, 2))
    face_state = np.full(17, 2, dtype=np.int64)
    for j, loc in enumerate(_FACE_POINTS):
        c = head.camera(loc)
        kp[j] = head.image(c)
        nz = c[2] / np.linalg.norm(c)
        radial = math.hypot(c[0], c[1])
        if j in (1, 2):
            visible = nz < -0.05
        else:  # nose and ears stick out of the skull: visible past the outline too
            visible = nz < 0 or radial > 1.0
        if not visible:
            face_state[j] = 1 if nz < _FACE_V1_MAX_NZ else 0
    for j, nm in enumerate(_BODY_KEYPOINTS):
        kp[5 + 2 * j] = xy["l_" + nm]
        kp[6 + 2 * j] = xy["r_" + nm]
    return kp, face_state


def _torso_may_show(z: dict[str, float], build: float, s: float) -> np.ndarray:
    """(17,) bool: the torso counts as this keypoint's own part. Only shoulders and hips on the
    near side of the torso; those on the far side are hidden by it."""
    torso_ok = np.zeros(17, dtype=bool)
    half = {"shoulder": _SHOULDER_HALF * build * s, "hip": _HIP_HALF * build * s}
    for j, nm, ref in ((5, "l_shoulder", "neck_base"), (6, "r_shoulder", "neck_base"),
                       (11, "l_hip", "pelvis"), (12, "r_hip", "pelvis")):
        torso_ok[j] = (z[nm] - z[ref]) * s < 0.5 * half[nm[2:]]
    return torso_ok


def _depth(z: dict[str, float], s: float, a: str, b: str | None = None) -> float:
    """Painter's depth (px, larger = further) of joint ``a`` or of the middle of ``a``-``b``."""
    return float(z[a] if b is None else (z[a] + z[b]) / 2) * s


def _limb_parts(p: Pose, xy, z, s: float) -> list:
    """Tapered segments of both arms and legs, left tinted lighter and right darker. The small
    depth biases put hands before forearms before upper arms (feet before shins before thighs)."""
    b = float(p.build)
    sleeve = p.shirt if p.long_sleeves else p.skin
    shin_c = p.skin if p.shorts else p.pants
    parts = []
    for side, tag in _SIDES:
        ua, fa, hd, th, sn, ft = ((L_UPPER_ARM, L_FOREARM, L_HAND, L_THIGH, L_SHIN, L_FOOT) if side > 0
                                  else (R_UPPER_ARM, R_FOREARM, R_HAND, R_THIGH, R_SHIN, R_FOOT))
        segs = (
            ("_shoulder", "_elbow", _W_UPPER_ARM, p.shirt, ua, -0.01),
            ("_elbow", "_wrist", _W_FOREARM, sleeve, fa, -0.012),
            ("_wrist", "_hand", _W_HAND, p.skin, hd, -0.014),
            ("_hip", "_knee", _W_THIGH, p.pants, th, -0.005),
            ("_knee", "_ankle", _W_SHIN, shin_c, sn, -0.006),
            ("_heel", "_toe", _W_FOOT, p.shoes, ft, -0.007),
        )
        for a, bb, (wa, wb), col, pid, bias in segs:
            parts.append((_depth(z, s, tag + a, tag + bb) + bias * s, "seg",
                          (xy[tag + a], xy[tag + bb], wa * b * s, wb * b * s), _side_tint(col, side), pid))
    return parts


def _torso_parts(p: Pose, z, s: float, hull_xy: np.ndarray, collar_xy: np.ndarray, view: _View,
                 torso_r: np.ndarray) -> list:
    """Shirt (chest hull), pants (pelvis hull), the V collar when the chest faces the camera, and
    the neck."""
    n_chest = len(_CHEST_RINGS)
    parts = [(_depth(z, s, "neck_base", "pelvis"), "poly", hull_xy[:n_chest], p.shirt, TORSO),
             (_depth(z, s, "pelvis") - 1e-4 * s, "poly", hull_xy[n_chest:], p.pants, TORSO)]
    front_z = float(view.to_cam[2] @ (torso_r @ np.array([0, 0, 1.0])))  # < 0: chest toward camera
    if front_z < -0.25:
        parts.append((_depth(z, s, "neck_base", "pelvis") - 1e-6, "poly", collar_xy, p.skin, TORSO))
    return parts


def _neck_part(p: Pose, xy, z, s: float):
    w = _W_NECK * float(p.build) * s
    return (_depth(z, s, "neck_base", "neck_top") + 0.03 * s, "seg",
            (xy["neck_base"], xy["neck_top"], w, w), _mix(p.skin, 0, 0.1), NECK)


def _head_part(p: Pose, head: _HeadView, z, s: float):
    """The head (with ears and nose) as one item just in front of its centre."""
    r_px = head.radius * s
    ears = []
    for side, _ in _SIDES:
        c = head.camera(_EAR_DIR[0 if side > 0 else 1])
        ears.append((head.image(c), c[2], _side_tint(_mix(p.skin, 0, 0.12), side)))
    nose = None
    if head.camera(_NOSE_TIP)[2] < 0.3:
        loc = [_unit([0, -0.1, 1]), _unit([0.14, 0.12, 0.95]), _NOSE_TIP, _unit([-0.14, 0.12, 0.95])]
        nose = np.array([head.image(head.camera(q)) for q in loc])
    up2 = head.a2 @ head.camera(np.array([0, -1.0, 0]))[:2]
    return (float(z["head"]) * s - 0.5 * r_px, "head",
            dict(center=head.centre, r=r_px, head_cam=head.to_cam, tilt=p.tilt, ears=ears, nose=nose,
                 up_angle=math.degrees(math.atan2(up2[1], up2[0])) + 90.0, skin=p.skin,
                 hair=p.hair, hairline=p.hairline), p.skin, HEAD)


def _parts_extent(parts: list, s: float) -> np.ndarray:
    """(4,) x0 y0 x1 y1 of everything drawn, outline and anti-aliasing fringe included: the
    parts as discs (centre, radius)."""
    pad = _outline_px(s) + 0.5
    centres, radii = [], []
    for _, kind, g, _, _ in parts:
        if kind == "seg":
            centres += [g[0], g[1]]
            radii += [g[2] / 2 + pad, g[3] / 2 + pad]
        elif kind == "poly":
            centres += list(g)
            radii += [pad] * len(g)
        else:
            centres.append(g["center"])
            radii.append(g["r"] + 0.5)
            centres += [e[0] for e in g["ears"]]
            radii += [0.25 * g["r"] + 0.5] * len(g["ears"])
            if g["nose"] is not None:
                centres += list(g["nose"])
                radii += [0.5] * len(g["nose"])
    centres = np.asarray(centres)
    radii = np.asarray(radii)[:, None]
    return np.concatenate([(centres - radii).min(0), (centres + radii).max(0)])


def _build_figure(p: Pose) -> _Figure:
    """Pose -> skeleton (body frame) -> image; keypoints, parts to draw and their extent."""
    s = float(p.height)
    view = _View.of(p)
    torso_r = _rz(p.torso_side) @ _rx(-p.torso_lean)
    head_r = _ry(p.head_yaw) @ _rx(-p.head_pitch)  # head-local -> body
    joints = _joints(p, torso_r, head_r)
    hull3, collar3 = _torso_hull(float(p.build), torso_r)

    # one projection for all points: joints, then the torso hull, then the collar
    names = list(joints)
    img_xy, depth = view.project(np.concatenate([np.stack([joints[n] for n in names], 0), hull3, collar3], 0))
    xy = {n: img_xy[i] for i, n in enumerate(names)}
    z = {n: depth[i] for i, n in enumerate(names)}
    nb, nh = len(names), len(hull3)
    hull_xy, collar_xy = img_xy[nb:nb + nh], img_xy[nb + nh:]

    head = _HeadView(to_cam=view.to_cam @ head_r, centre=xy["head"], a2=view.a2, radius=_HEAD_R * p.head_size)
    keypoints, face_state = _keypoints(head, xy)
    parts = (_limb_parts(p, xy, z, s) + _torso_parts(p, z, s, hull_xy, collar_xy, view, torso_r)
             + [_neck_part(p, xy, z, s), _head_part(p, head, z, s)])
    return _Figure(keypoints=keypoints, face_state=face_state, torso_ok=_torso_may_show(z, float(p.build), s),
                   parts=parts, extent=_parts_extent(parts, s))


def _unit_geometry(pose: Pose) -> tuple[np.ndarray, np.ndarray]:
    """(extent (4,), keypoints (17,2)) of ``pose`` relative to its pelvis per unit of height
    (built at a 1000 px scale, so the outline's pixel margin hardly counts). Image positions are
    ``unit * pose.height + (pose.x, pose.y)``."""
    fig = _build_figure(dataclasses.replace(pose, x=0.0, y=0.0, height=1000.0))
    return fig.extent / 1000.0, fig.keypoints / 1000.0


def pose_keypoints(pose: Pose) -> np.ndarray:
    """(17, 2) float32 image positions of ``pose``'s keypoints (no visibility, nothing drawn)."""
    return _build_figure(pose).keypoints.astype(np.float32)


def pose_extent(pose: Pose) -> np.ndarray:
    """(4,) x0, y0, x1, y1 of everything ``pose`` draws, unclipped."""
    return _build_figure(pose).extent.copy()
