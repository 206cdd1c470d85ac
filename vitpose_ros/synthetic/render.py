"""Procedurally drawn people with COCO-17 keypoints (numpy + OpenCV only).

Used to train and evaluate a small ViTPose without a real data set, and to feed the demo camera.

    image, boxes, keypoints = render_scene(seed)            # 640x480, 1..4 people
    image, boxes, keypoints = render_person_crop(seed)      # 192x256, one person, detector-like crop
    pose = sample_pose(np.random.default_rng(0))            # a Pose you can edit / animate
    image, boxes, keypoints = render_poses([pose], 640, 480, background_seed=3)

Conventions
-----------
* ``image``: uint8 (H, W, 3) **RGB**.
* ``keypoints``: float32 (N, 17, 3), COCO order (``KEYPOINT_NAMES``), columns x, y, visibility.
  Pixel centres are at integer coordinates (OpenCV's drawing convention: a keypoint at (10.0, 4.0)
  is the centre of pixel column 10, row 4); every shape is drawn with sub-pixel precision.
  Visibility: 0 = absent (outside the image, or a face point on the far side of the head, e.g.
  nose/eyes of a person facing away), 1 = occluded (inside the image but covered by another
  figure, an occluder shape, another part of the same body, or just behind the head outline),
  2 = visible. Coordinates are kept for v=0 points too; treat them as unlabelled.
* ``boxes``: float32 (N, 4) x0, y0, x1, y1: the figure's full drawn extent (occluded parts
  included), clipped to the image's pixel extent [-0.5, W-0.5] x [-0.5, H-0.5], then each side moved
  by up to ``BOX_JITTER`` of the box size (gaussian, like a detector) and clipped again. So every
  keypoint inside the image lies within its box grown by ``BOX_JITTER`` of the box size per side.
* Drawing: ``Pose``s are drawn in list order (later = nearer the camera). Within a figure the parts
  are painter-sorted by depth. The person's LEFT limbs (and ear) are a lighter shade of their
  colour, the RIGHT ones a darker shade; the face (eyes, nose, mouth, hairline) and the V collar
  on the shirt front show which way the figure faces; shoes point forward.

Geometry: a 3-D stick skeleton (body frame: X = the person's left, Y = down, Z = forward; units
of standing height) posed by joint angles, turned by ``yaw`` about the vertical, projected
orthographically, rotated in the image plane by ``tilt``, scaled by ``height`` px and placed with
its pelvis centre at (``x``, ``y``). ``yaw`` 0 faces the camera (the person's left is on the
image's right), 180 faces away, +90 faces the image's right (person turned to their own left).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import cv2
import numpy as np

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

BOX_JITTER = 0.08  # max shift of each box side, as a fraction of the box width/height
_BOX_JITTER_SIGMA = 0.03
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
_KIND_P = (0.22, 0.15, 0.06, 0.15, 0.1, 0.1, 0.22)

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
_OCCLUDER_LABEL = 65535
# Parts on which a keypoint counts as visible (torso added for shoulders/hips on its near side).
_KP_PARTS = (
    (HEAD,), (HEAD,), (HEAD,), (HEAD,), (HEAD,),
    (L_UPPER_ARM,), (R_UPPER_ARM,), (L_UPPER_ARM, L_FOREARM), (R_UPPER_ARM, R_FOREARM),
    (L_FOREARM, L_HAND), (R_FOREARM, R_HAND),
    (L_THIGH,), (R_THIGH,), (L_THIGH, L_SHIN), (R_THIGH, R_SHIN), (L_SHIN, L_FOOT), (R_SHIN, R_FOOT),
)

_SHIFT = 4  # cv2 sub-pixel bits
_ONE = 1 << _SHIFT
_LEFT_TINT = 0.38  # left limbs: mix toward white by this much; right limbs: toward black
_FACE_V1_MAX_NZ = 0.6  # face point behind the head outline: v=1 if its normal's z < this, else 0


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


# ----------------------------------------------------------------------------------- geometry


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
_LIGHT = _unit([-0.35, -0.55, -0.75])  # toward the light, camera frame


@dataclass
class _Figure:
    keypoints: np.ndarray  # (17, 2) image px
    face_state: np.ndarray  # (17,) int: 2 not hidden by the head, 1 / 0 hidden (v to report)
    torso_ok: np.ndarray  # (17,) bool: torso pixels count as visible for this keypoint
    parts: list = field(default_factory=list)  # (depth, kind, geometry, rgb, part_id)
    extent: np.ndarray = None  # (4,) x0 y0 x1 y1 of everything drawn


def _mix(c, target, t):
    return tuple(float(x + (target - x) * t) for x in c)


def _side_tint(c, side):  # side +1 = left (lighter), -1 = right (darker)
    return _mix(c, 255.0 if side > 0 else 0.0, _LEFT_TINT)


def _build_figure(p: Pose) -> _Figure:
    s = float(p.height)
    b = float(p.build)
    to_cam = _BODY_TO_CAMERA @ _ry(p.yaw)
    tr = math.radians(p.tilt)
    ct, st = math.cos(tr), math.sin(tr)
    a2 = s * np.array([[ct, -st], [st, ct]])
    root = np.array([p.x, p.y], dtype=np.float64)

    pts: dict[str, np.ndarray] = {}
    torso_r = _rz(p.torso_side) @ _rx(-p.torso_lean)
    pts["pelvis"] = np.zeros(3)
    pts["neck_base"] = torso_r @ np.array([0, _SHOULDER_Y - 0.01, 0])
    pts["neck_top"] = torso_r @ np.array([0, _NECK_TOP_Y, 0])
    head_r = _ry(p.head_yaw) @ _rx(-p.head_pitch)  # head-local -> body
    rh = _HEAD_R * p.head_size
    pts["head"] = pts["neck_top"] + head_r @ np.array([0, -0.058, 0.008]) * p.head_size

    for side, tag in ((1, "l"), (-1, "r")):
        i = 0 if side > 0 else 1
        # arm: abduct, then flex (in the torso frame); elbow bends toward the rotated "forward"
        sh = torso_r @ np.array([side * _SHOULDER_HALF * b, _SHOULDER_Y, 0])
        rot = _rx(p.shoulder_flex[i]) @ _rz(-side * p.shoulder_abd[i])
        d = rot @ np.array([0.0, 1.0, 0.0])
        bend = rot @ np.array([0.0, 0.0, 1.0])
        bend = _rodrigues(bend, d, -side * p.elbow_twist[i])
        e = math.radians(p.elbow_flex[i])
        fd = d * math.cos(e) + bend * math.sin(e)
        pts[tag + "_shoulder"] = sh
        pts[tag + "_elbow"] = sh + torso_r @ (d * _UPPER_ARM)
        pts[tag + "_wrist"] = pts[tag + "_elbow"] + torso_r @ (fd * _FOREARM)
        pts[tag + "_hand"] = pts[tag + "_wrist"] + torso_r @ (fd * _HAND)
        # leg: abduct then flex in the body frame; knee bends toward the rotated "back"
        hip = np.array([side * _HIP_HALF * b, 0.0, 0.0])
        rot = _rx(p.hip_flex[i]) @ _rz(-side * p.hip_abd[i])
        d = rot @ np.array([0.0, 1.0, 0.0])
        bend = rot @ np.array([0.0, 0.0, -1.0])
        k = math.radians(p.knee_flex[i])
        sd = d * math.cos(k) + bend * math.sin(k)
        pts[tag + "_hip"] = hip
        pts[tag + "_knee"] = hip + d * _THIGH
        pts[tag + "_ankle"] = pts[tag + "_knee"] + sd * _SHIN
        fwd = np.array([0.0, 0.0, 1.0]) - sd * sd[2]
        n = np.linalg.norm(fwd)
        fwd = fwd / n if n > 0.2 else _unit(np.array([0.0, 0.0, 1.0]) + 0.5 * sd)
        pts[tag + "_heel"] = pts[tag + "_ankle"] + sd * 0.02 - fwd * 0.025
        pts[tag + "_toe"] = pts[tag + "_ankle"] + sd * 0.02 + fwd * 0.1

    # torso silhouette: chest (leans with the spine) and pelvis hulls of elliptic cross-sections
    widen = np.array([b, 1.0, 1.0])
    n_chest = len(_CHEST_RINGS)
    torso3 = np.concatenate([(_CHEST_RINGS * widen) @ torso_r.T, _PELVIS_RINGS * widen], 0)
    collar3 = (_COLLAR * widen) @ torso_r.T

    names = list(pts)
    body = np.stack([pts[n] for n in names], 0)
    allp = np.concatenate([body, torso3, collar3], 0)
    cam = allp @ to_cam.T
    img_xy = cam[:, :2] @ a2.T + root
    depth = cam[:, 2]
    nb, nt = len(names), len(torso3)
    P = {n: img_xy[i] for i, n in enumerate(names)}
    Z = {n: depth[i] for i, n in enumerate(names)}
    torso_xy = img_xy[nb:nb + nt]
    collar_xy = img_xy[nb + nt:]

    # head and face
    head_cam = to_cam @ head_r  # head-local -> camera
    hc = P["head"]
    r_px = rh * s
    feat_local = [_NOSE_TIP, _EYE_DIR[0], _EYE_DIR[1], _EAR_DIR[0] * _EAR_KP_R, _EAR_DIR[1] * _EAR_KP_R]
    kp = np.zeros((17, 2))
    face_state = np.full(17, 2, dtype=np.int64)
    for j, loc in enumerate(feat_local):
        c = head_cam @ loc
        kp[j] = hc + (a2 @ c[:2]) * rh
        nz = c[2] / np.linalg.norm(c)
        radial = math.hypot(c[0], c[1])
        if j in (1, 2):
            visible = nz < -0.05
        else:  # nose and ears stick out of the skull: visible past the outline too
            visible = nz < 0 or radial > 1.0
        if not visible:
            face_state[j] = 1 if nz < _FACE_V1_MAX_NZ else 0
    body_kp = ["shoulder", "elbow", "wrist", "hip", "knee", "ankle"]
    for j, nm in enumerate(body_kp):
        kp[5 + 2 * j] = P["l_" + nm]
        kp[6 + 2 * j] = P["r_" + nm]

    # shoulders / hips on the far side of the torso are hidden by it
    torso_ok = np.zeros(17, dtype=bool)
    half = {"shoulder": _SHOULDER_HALF * b * s, "hip": _HIP_HALF * b * s}
    for j, nm, ref in ((5, "l_shoulder", "neck_base"), (6, "r_shoulder", "neck_base"),
                       (11, "l_hip", "pelvis"), (12, "r_hip", "pelvis")):
        torso_ok[j] = (Z[nm] - Z[ref]) * s < 0.5 * half[nm[2:]]

    # parts
    parts = []
    sleeve = p.shirt if p.long_sleeves else p.skin
    shin_c = p.skin if p.shorts else p.pants
    zs = lambda a, b_=None: float(Z[a] if b_ is None else (Z[a] + Z[b_]) / 2) * s  # noqa: E731
    for side, tag in ((1, "l"), (-1, "r")):
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
            parts.append((zs(tag + a, tag + bb) + bias * s, "seg",
                          (P[tag + a], P[tag + bb], wa * b * s, wb * b * s), _side_tint(col, side), pid))
    parts.append((zs("neck_base", "pelvis"), "poly", torso_xy[:n_chest], p.shirt, TORSO))
    parts.append((zs("pelvis") - 1e-4 * s, "poly", torso_xy[n_chest:], p.pants, TORSO))
    front_z = float(to_cam[2] @ (torso_r @ np.array([0, 0, 1.0])))  # < 0: chest toward camera
    if front_z < -0.25:  # V collar on the shirt front
        parts.append((zs("neck_base", "pelvis") - 1e-6, "poly", collar_xy, p.skin, TORSO))
    parts.append((zs("neck_base", "neck_top") + 0.03 * s, "seg",
                  (P["neck_base"], P["neck_top"], _W_NECK * b * s, _W_NECK * b * s),
                  _mix(p.skin, 0, 0.1), NECK))
    # head (with ears and nose) drawn as one item just in front of its centre
    ears = []
    for side, i in ((1, 0), (-1, 1)):
        c = head_cam @ _EAR_DIR[i]
        ears.append((hc + (a2 @ c[:2]) * rh, c[2], _side_tint(_mix(p.skin, 0, 0.12), side)))
    nose = None
    nose_tip = head_cam @ _NOSE_TIP
    if nose_tip[2] < 0.3:
        loc = [_unit([0, -0.1, 1]), _unit([0.14, 0.12, 0.95]), _NOSE_TIP, _unit([-0.14, 0.12, 0.95])]
        nose = np.array([hc + (a2 @ (head_cam @ q)[:2]) * rh for q in loc])
    up2 = a2 @ (head_cam @ np.array([0, -1.0, 0]))[:2]
    parts.append((float(Z["head"]) * s - 0.5 * r_px, "head",
                  dict(center=hc, r=r_px, head_cam=head_cam, tilt=p.tilt, ears=ears, nose=nose,
                       up_angle=math.degrees(math.atan2(up2[1], up2[0])) + 90.0, skin=p.skin,
                       hair=p.hair, hairline=p.hairline), p.skin, HEAD))

    # extent of everything drawn (outline and anti-aliasing fringe included): discs (centre, radius)
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
    extent = np.concatenate([(centres - radii).min(0), (centres + radii).max(0)])
    return _Figure(keypoints=kp, face_state=face_state, torso_ok=torso_ok, parts=parts, extent=extent)


def pose_keypoints(pose: Pose) -> np.ndarray:
    """(17, 2) float32 image positions of ``pose``'s keypoints (no visibility, nothing drawn)."""
    return _build_figure(pose).keypoints.astype(np.float32)


def pose_extent(pose: Pose) -> np.ndarray:
    """(4,) x0, y0, x1, y1 of everything ``pose`` draws, unclipped."""
    return _build_figure(pose).extent.copy()


# ------------------------------------------------------------------------------------ drawing


def _fx(pt):
    return (int(round(pt[0] * _ONE)), int(round(pt[1] * _ONE)))


def _col(c):
    return (int(round(c[0])), int(round(c[1])), int(round(c[2])))


def _draw_seg(img, labels, label, a, b, wa, wb, colour, outline):
    """Tapered limb: a quad between discs of diameter ``wa`` at ``a`` and ``wb`` at ``b``, with a
    darker ``outline`` px rim (the label map gets the outlined shape)."""
    ax, ay, bx, by = float(a[0]) * _ONE, float(a[1]) * _ONE, float(b[0]) * _ONE, float(b[1]) * _ONE
    dx, dy = bx - ax, by - ay
    length = math.hypot(dx, dy)
    nx, ny = (-dy / length, dx / length) if length > 1e-3 else (1.0, 0.0)
    ca, cb = (round(ax), round(ay)), (round(bx), round(by))
    shapes = []
    for grow in (outline, 0.0):
        ra, rb = (wa / 2 + grow) * _ONE, (wb / 2 + grow) * _ONE
        quad = np.array([[ax + nx * ra, ay + ny * ra], [bx + nx * rb, by + ny * rb],
                         [bx - nx * rb, by - ny * rb], [ax - nx * ra, ay - ny * ra]]).round().astype(np.int32)
        shapes.append((quad, max(1, round(ra)), max(1, round(rb))))
    for target, (quad, ra, rb), col, lt in ((img, shapes[0], _col(_mix(colour, 0, 0.5)), cv2.LINE_AA),
                                            (img, shapes[1], _col(colour), cv2.LINE_AA),
                                            (labels, shapes[0], label, cv2.LINE_8)):
        cv2.fillConvexPoly(target, quad, col, lt, _SHIFT)
        cv2.circle(target, ca, ra, col, -1, lt, _SHIFT)
        cv2.circle(target, cb, rb, col, -1, lt, _SHIFT)


def _draw_poly(img, labels, label, pts, colour, outline, with_outline=True):
    hull = cv2.convexHull(np.round(pts * _ONE).astype(np.int32))
    if with_outline:
        o = max(1, int(round(outline * 2)))  # polylines thickness is in whole pixels
        cv2.polylines(img, [hull], True, _col(_mix(colour, 0, 0.5)), o, cv2.LINE_AA, _SHIFT)
        cv2.polylines(labels, [hull], True, label, o, cv2.LINE_8, _SHIFT)
    cv2.fillConvexPoly(img, hull, _col(colour), cv2.LINE_AA, _SHIFT)
    cv2.fillConvexPoly(labels, hull, label, cv2.LINE_8, _SHIFT)


def _draw_ear(img, labels, label, g, ear):
    centre, _, colour = ear
    r = g["r"]
    axes = (max(1, int(round(0.15 * r * _ONE))), max(1, int(round(0.24 * r * _ONE))))
    ang = g["up_angle"]
    cv2.ellipse(img, _fx(centre), axes, ang, 0, 360, _col(_mix(colour, 0, 0.3)), -1, cv2.LINE_AA, _SHIFT)
    inner = (max(1, axes[0] - _ONE // 2), max(1, axes[1] - _ONE // 2))
    cv2.ellipse(img, _fx(centre), inner, ang, 0, 360, _col(colour), -1, cv2.LINE_AA, _SHIFT)
    cv2.ellipse(labels, _fx(centre), axes, ang, 0, 360, label, -1, cv2.LINE_8, _SHIFT)


def _draw_head(img, labels, label, g):
    h, w = labels.shape
    cx, cy = g["center"]
    r = g["r"]
    for ear in g["ears"]:
        if ear[1] > -0.3:  # behind (or at) the outline plane: drawn first, the head covers it
            _draw_ear(img, labels, label, g, ear)
    x0, x1 = max(0, int(math.floor(cx - r - 1))), min(w - 1, int(math.ceil(cx + r + 1)))
    y0, y1 = max(0, int(math.floor(cy - r - 1))), min(h - 1, int(math.ceil(cy + r + 1)))
    if x1 >= x0 and y1 >= y0:
        xs = np.arange(x0, x1 + 1, dtype=np.float32) - np.float32(cx)
        ys = np.arange(y0, y1 + 1, dtype=np.float32)[:, None] - np.float32(cy)
        t = math.radians(g["tilt"])
        c, s = math.cos(t), math.sin(t)
        u = (c * xs + s * ys) / r  # undo the in-plane tilt: camera-frame unit offsets
        v = (-s * xs + c * ys) / r
        d2 = u * u + v * v
        dist = np.sqrt(d2) * r
        alpha = np.clip(r - dist + 0.5, 0.0, 1.0)[..., None]
        nz = -np.sqrt(np.clip(1.0 - d2, 0.0, 1.0))
        n = np.stack([u, v, nz], -1)
        nl = n @ g["head_cam"]  # head-local normal: (left, down, forward)
        nd, nf = nl[..., 1], nl[..., 2]
        skin = np.array(g["skin"], np.float32)
        hair = np.array(g["hair"], np.float32)
        is_hair = (nd < g["hairline"]) | ((nf < -0.15) & (nd < 0.5))
        colour = np.where(is_hair[..., None], hair, skin)
        eye = (nl @ _EYE_DIR[0] > _EYE_COS) | (nl @ _EYE_DIR[1] > _EYE_COS)
        colour[eye] = (35.0, 30.0, 30.0)
        mouth = (np.abs(nd - _MOUTH_DIR[1]) < 0.045) & (np.abs(nl[..., 0]) < 0.22) & (nf > 0.6)
        colour[mouth] = skin * np.float32(0.55) + np.float32([40, 0, 0])
        shade = 0.62 + 0.38 * np.clip(n @ _LIGHT, 0.0, 1.0)
        colour = colour * shade[..., None].astype(np.float32)
        roi = img[y0:y1 + 1, x0:x1 + 1]
        roi[...] = np.clip(roi * (1 - alpha) + colour * alpha + 0.5, 0, 255).astype(np.uint8)
        lroi = labels[y0:y1 + 1, x0:x1 + 1]
        lroi[d2 <= 1.0] = label
    for ear in g["ears"]:
        if ear[1] <= -0.3:
            _draw_ear(img, labels, label, g, ear)
    if g["nose"] is not None:
        _draw_poly(img, labels, label, g["nose"], _mix(g["skin"], 0, 0.2), 0, with_outline=False)


def _outline_px(height_px: float) -> float:
    return min(max(0.004 * float(height_px), 0.5), 2.0)


def _draw_figure(img, labels, fig: _Figure, index: int, height_px: float):
    outline = _outline_px(height_px)
    base = index * 16
    for depth, kind, g, colour, pid in sorted(fig.parts, key=lambda q: -q[0]):
        if kind == "seg":
            _draw_seg(img, labels, base + pid, *g, colour, outline)
        elif kind == "poly":
            _draw_poly(img, labels, base + pid, g, colour, outline, with_outline=pid == TORSO and len(g) > 3)
        else:
            _draw_head(img, labels, base + pid, g)


# -------------------------------------------------------------------------------- backgrounds


def _rand_colour(rng, lo=0, hi=256):
    return tuple(int(v) for v in rng.integers(lo, hi, 3))


def _clutter(rng, img, count, scale):
    h, w = img.shape[:2]
    for _ in range(count):
        col = _rand_colour(rng)
        kind = rng.integers(0, 6)
        cx, cy = rng.uniform(-0.1 * w, 1.1 * w), rng.uniform(-0.1 * h, 1.1 * h)
        size = scale * rng.uniform(0.03, 0.4)
        aa = cv2.LINE_AA
        if kind == 0:
            x0, y0 = int(cx - size), int(cy - size * rng.uniform(0.2, 2))
            x1, y1 = int(cx + size * rng.uniform(0.2, 2)), int(cy + size)
            cv2.rectangle(img, (x0, y0), (x1, y1), col, -1 if rng.random() < 0.7 else int(rng.integers(1, 6)))
        elif kind == 1:
            cv2.circle(img, (int(cx), int(cy)), max(1, int(size / 2)), col,
                       -1 if rng.random() < 0.7 else int(rng.integers(1, 5)), aa)
        elif kind == 2:
            axes = (max(1, int(size / 2)), max(1, int(size * rng.uniform(0.1, 0.6))))
            cv2.ellipse(img, (int(cx), int(cy)), axes,
                        float(rng.uniform(0, 180)), 0, 360, col, -1, aa)
        elif kind == 3:
            k = int(rng.integers(3, 7))
            pts = np.stack([cx + rng.uniform(-size, size, k), cy + rng.uniform(-size, size, k)], 1)
            pts = pts.astype(np.int32)
            cv2.fillPoly(img, [pts], col, aa)
        elif kind == 4:  # line / pole
            a = rng.uniform(0, np.pi)
            dx, dy = math.cos(a) * size * 2, math.sin(a) * size * 2
            cv2.line(img, (int(cx - dx), int(cy - dy)), (int(cx + dx), int(cy + dy)), col,
                     int(rng.integers(1, max(2, int(size / 6)))), aa)
        else:  # limb-like distractor capsule in a skin or clothing colour
            a = rng.uniform(0, np.pi)
            dx, dy = math.cos(a) * size, math.sin(a) * size
            if rng.random() < 0.5:
                col = tuple(int(v) for v in _skin_colour(rng))
            cv2.line(img, (int(cx - dx), int(cy - dy)), (int(cx + dx), int(cy + dy)), col,
                     max(1, int(size * rng.uniform(0.1, 0.3))), aa)


def _background(rng, w, h) -> np.ndarray:
    kind = rng.integers(0, 5)
    if kind == 0:  # smooth gradient
        corners = rng.integers(0, 256, (2, 2, 3)).astype(np.uint8)
        img = cv2.resize(corners, (w, h), interpolation=cv2.INTER_LINEAR)
    elif kind == 1:  # low-frequency colour noise
        gh, gw = int(rng.integers(2, 10)), int(rng.integers(2, 10))
        small = rng.integers(0, 256, (gh, gw, 3)).astype(np.uint8)
        img = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    elif kind == 2:  # wall and floor
        top, bottom = _rand_colour(rng), _rand_colour(rng)
        img = np.empty((h, w, 3), np.uint8)
        hy = int(rng.uniform(0.2, 0.8) * h)
        img[:hy] = top
        img[hy:] = bottom
        step = int(rng.integers(12, 60))
        line = tuple(int(v * 0.8) for v in bottom)
        for x in range(-w, 2 * w, step):  # floor boards / tiles in perspective
            cv2.line(img, (w // 2 + (x - w // 2) // 4, hy), (x, h), line, 1, cv2.LINE_AA)
    elif kind == 3:  # stripes or checks
        c1, c2 = _rand_colour(rng), _rand_colour(rng)
        img = np.empty((h, w, 3), np.uint8)
        img[:] = c1
        step = int(rng.integers(6, 50))
        thick = int(rng.integers(1, step))
        if rng.random() < 0.5:
            for x in range(0, w + h, step):
                cv2.line(img, (x, 0), (x - h, h), c2, thick, cv2.LINE_AA)
        else:
            yy, xx = np.ogrid[:h, :w]
            mask = ((yy // step + xx // step) % 2).astype(bool)
            img[mask] = c2
    else:  # flat with noise texture
        img = np.empty((h, w, 3), np.uint8)
        img[:] = _rand_colour(rng)
        small = rng.integers(-40, 41, (max(1, h // 4), max(1, w // 4), 1)).astype(np.int16)
        tex = cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)[..., None]
        img = np.clip(img.astype(np.int16) + tex, 0, 255).astype(np.uint8)
    _clutter(rng, img, int(rng.integers(0, 16)), max(w, h))
    if rng.random() < 0.5:  # tone it down toward grey: real backdrops are rarely all saturated
        grey = cv2.cvtColor(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
        a = float(rng.uniform(0.2, 0.9))
        img = cv2.addWeighted(img, a, grey, 1.0 - a, 0.0)
    return img


def _augment(rng, img):
    if rng.random() < 0.5:  # brightness / contrast
        img = cv2.convertScaleAbs(img, alpha=float(rng.uniform(0.7, 1.25)), beta=float(rng.uniform(-30, 30)))
    if rng.random() < 0.35:
        k = 3 if rng.random() < 0.7 else 5
        img = cv2.GaussianBlur(img, (k, k), float(rng.uniform(0.4, 1.3)))
    if rng.random() < 0.5:  # sensor noise
        a = int(rng.integers(3, 13))
        noise = rng.integers(-a, a + 1, img.shape[:2], dtype=np.int16)[..., None]
        img = np.clip(img.astype(np.int16) + noise, 0, 255).astype(np.uint8)
    if rng.random() < 0.15:
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(25, 90))])
        img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    return img


def _draw_occluder(rng, img, labels, near: np.ndarray, size: float):
    h, w = labels.shape
    cx, cy = near + rng.normal(0, 0.25 * size, 2)
    col = _rand_colour(rng)
    kind = rng.integers(0, 3)
    if kind == 0:
        hw, hh = size * rng.uniform(0.2, 0.7), size * rng.uniform(0.2, 0.7)
        pts = np.array([[cx - hw, cy - hh], [cx + hw, cy - hh], [cx + hw, cy + hh], [cx - hw, cy + hh]])
        a = rng.uniform(-0.4, 0.4)
        rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
        pts = (pts - [cx, cy]) @ rot.T + [cx, cy]
    elif kind == 1:
        k = int(rng.integers(3, 8))
        ang = np.sort(rng.uniform(0, 2 * np.pi, k))
        rad = size * rng.uniform(0.2, 0.6, k)
        pts = np.stack([cx + rad * np.cos(ang), cy + rad * np.sin(ang)], 1)
    else:
        ang = np.linspace(0, 2 * np.pi, 20, endpoint=False)
        rx, ry = size * rng.uniform(0.15, 0.5), size * rng.uniform(0.15, 0.5)
        pts = np.stack([cx + rx * np.cos(ang), cy + ry * np.sin(ang)], 1)
    q = [np.round(pts * _ONE).astype(np.int32)]
    cv2.fillPoly(img, q, col, cv2.LINE_AA, _SHIFT)
    cv2.polylines(img, q, True, tuple(int(c * 0.6) for c in col), 1, cv2.LINE_AA, _SHIFT)
    cv2.fillPoly(labels, q, _OCCLUDER_LABEL, cv2.LINE_8, _SHIFT)


# ----------------------------------------------------------------------------------- rendering


def _visibility(fig: _Figure, index: int, labels: np.ndarray) -> np.ndarray:
    h, w = labels.shape
    kp = fig.keypoints
    vis = np.zeros(17, np.float32)
    for k in range(17):
        x, y = kp[k]
        if not (-0.5 <= x < w - 0.5 and -0.5 <= y < h - 0.5):
            continue
        if fig.face_state[k] < 2:
            vis[k] = fig.face_state[k]
            continue
        lab = int(labels[int(math.floor(y + 0.5)), int(math.floor(x + 0.5))])
        if lab == 0:  # raster rounding at a thin part's edge: nothing covers it
            vis[k] = 2
            continue
        part = lab - index * 16
        ok = 0 < part < 16 and (part in _KP_PARTS[k] or (part == TORSO and fig.torso_ok[k]))
        vis[k] = 2 if ok else 1
    return vis


def _jitter_box(rng, ext, w, h, jitter: bool):
    lo, hi = -0.5, np.array([w - 0.5, h - 0.5])
    box = np.concatenate([np.clip(ext[:2], lo, hi), np.clip(ext[2:], lo, hi)])
    if jitter:
        size = np.maximum(box[2:] - box[:2], 1.0)
        d = np.clip(rng.normal(0, _BOX_JITTER_SIGMA, 4), -BOX_JITTER, BOX_JITTER) * np.tile(size, 2)
        box = box + d
        box = np.concatenate([np.clip(box[:2], lo, hi), np.clip(box[2:], lo, hi)])
        box[2:] = np.maximum(box[2:], box[:2])
    return box


def render_poses(poses, width: int = 640, height: int = 480, background_seed: int = 0, *,
                 occluders: int = 0, background: np.ndarray | None = None, augment: bool = True,
                 box_jitter: bool = True, return_labels: bool = False):
    """Draw ``poses`` (list order = depth order, last nearest) over a background.

    Background, occluder placement, box jitter and photometric augmentation all come from
    ``np.random.default_rng(background_seed)``, so a fixed seed gives a steady backdrop while the
    poses move. ``background`` (uint8 HxWx3 RGB) replaces the generated one; ``augment=False``
    skips blur/noise/contrast/JPEG; ``occluders`` random shapes are put near random figures at
    random depths. Returns (image, boxes (N,4), keypoints (N,17,3)) [+ the uint16 part-label map
    with ``return_labels``: figure i part p -> i*16+p, occluder 65535, background 0].
    """
    rng = np.random.default_rng(background_seed)
    if background is not None:
        if background.shape != (height, width, 3) or background.dtype != np.uint8:
            raise ValueError(f"background must be uint8 ({height}, {width}, 3), got "
                             f"{background.dtype} {background.shape}")
        img = background.copy()
    else:
        img = _background(rng, width, height)
    labels = np.zeros((height, width), np.uint16)
    figs = [_build_figure(p) for p in poses]
    n = len(figs)
    if n > 4094:
        raise ValueError("at most 4094 figures")
    plan: dict[int, list] = {}
    for _ in range(occluders if n else 0):
        after = int(rng.integers(0, n))  # drawn after figure `after`: may hide it and those behind
        target = int(rng.integers(0, after + 1))
        kp = figs[target].keypoints[int(rng.integers(0, 17))]
        size = float(poses[target].height) * rng.uniform(0.15, 0.5)
        plan.setdefault(after, []).append((kp.copy(), size, int(rng.integers(0, 2**31))))
    for i, (fig, p) in enumerate(zip(figs, poses)):
        _draw_figure(img, labels, fig, i, float(p.height))
        for near, size, sub in plan.get(i, []):
            _draw_occluder(np.random.default_rng(sub), img, labels, near, size)
    keypoints = np.zeros((n, 17, 3), np.float32)
    boxes = np.zeros((n, 4), np.float32)
    for i, fig in enumerate(figs):
        keypoints[i, :, :2] = fig.keypoints
        keypoints[i, :, 2] = _visibility(fig, i, labels)
        boxes[i] = _jitter_box(rng, fig.extent, width, height, box_jitter)
    if augment:
        img = _augment(rng, img)
    if return_labels:
        return img, boxes, keypoints, labels
    return img, boxes, keypoints


# ------------------------------------------------------------------------------------ sampling


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


def _unit_geometry(pose: Pose) -> tuple[np.ndarray, np.ndarray]:
    """(extent (4,), keypoints (17,2)) of ``pose`` relative to its pelvis per unit of height
    (built at a 1000 px scale, so the outline's pixel margin hardly counts). Image positions are
    ``unit * pose.height + (pose.x, pose.y)``."""
    fig = _build_figure(dataclasses.replace(pose, x=0.0, y=0.0, height=1000.0))
    return fig.extent / 1000.0, fig.keypoints / 1000.0


def _place(rng, pose: Pose, width, height, unit_ext):
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


def render_scene(seed: int, width: int = 640, height: int = 480, num_people: int | None = None):
    """A ``width`` x ``height`` scene with ``num_people`` figures (default: random 1..4), random
    background, occluder shapes and photometric noise. Deterministic per ``seed``.

    Returns (image uint8 (H,W,3) RGB, boxes float32 (N,4) xyxy, keypoints float32 (N,17,3))."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 5)) if num_people is None else int(num_people)
    poses = []
    for _ in range(n):
        p = _sample_unplaced(rng)
        unit_ext, unit_kp = _unit_geometry(p)
        for _attempt in range(20):  # keep at least a few keypoints inside the image
            _place(rng, p, width, height, unit_ext)
            kp = unit_kp * p.height + (p.x, p.y)
            inside = (kp[:, 0] >= 0) & (kp[:, 0] < width - 1) & (kp[:, 1] >= 0) & (kp[:, 1] < height - 1)
            if inside.sum() >= 6:
                break
        poses.append(p)
    # rough depth order: smaller people further away
    order = np.argsort([p.height * rng.uniform(0.8, 1.25) for p in poses], kind="stable")
    poses = [poses[i] for i in order]
    occ = 0 if rng.random() < 0.5 else int(rng.integers(1, 4))
    return render_poses(poses, width, height, int(rng.integers(0, 2**62)), occluders=occ)


def render_person_crop(seed: int, width: int = 192, height: int = 256):
    """One person roughly filling a ``width`` x ``height`` crop, as a top-down pipeline cuts it from a
    detector box (box fitted to the crop's aspect ratio and padded about 1.25x, with random
    padding and off-centring; sometimes the person is cut by the crop edge), plus sometimes
    other people and occluders. Returns (image, boxes (1,4), keypoints (1,17,3))."""
    rng = np.random.default_rng(seed)
    main = _sample_unplaced(rng)
    pad = rng.uniform(0.85, 1.05) if rng.random() < 0.12 else rng.uniform(1.05, 1.45)
    _fit_in_crop(rng, main, width, height, pad)
    poses = [main]
    r = rng.random()
    for _ in range(0 if r < 0.6 else 1 if r < 0.9 else 2):
        other = _sample_unplaced(rng)
        _fit_in_crop(rng, other, width, height, rng.uniform(0.8, 1.6))
        side = 1 if rng.random() < 0.5 else -1
        other.x += side * rng.uniform(0.3, 0.9) * width
        other.y += rng.uniform(-0.2, 0.2) * height
        if rng.random() < 0.6:
            poses.insert(0, other)
        else:
            poses.append(other)
    occ = 0 if rng.random() < 0.65 else int(rng.integers(1, 3))
    img, boxes, kps = render_poses(poses, width, height, int(rng.integers(0, 2**62)), occluders=occ)
    i = poses.index(main)
    return img, boxes[i:i + 1], kps[i:i + 1]


def _fit_in_crop(rng, pose: Pose, width, height, pad):
    unit = _unit_geometry(pose)[0]
    ew, eh = unit[2] - unit[0], unit[3] - unit[1]
    aspect = width / height
    box_h = max(eh, ew / aspect)  # the detector box fitted to the crop's aspect ratio
    pose.height = float(height / (pad * box_h))
    centre = np.array([width / 2, height / 2]) + rng.normal(0, 0.05, 2) * [width, height]
    pose.x = float(centre[0] - pose.height * (unit[0] + unit[2]) / 2)
    pose.y = float(centre[1] - pose.height * (unit[1] + unit[3]) / 2)


# ---------------------------------------------------------------------------------- utilities


def draw_annotations(image: np.ndarray, boxes: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
    """A copy of ``image`` with boxes and skeletons: left side orange, right side blue, centre
    green; visible points filled, occluded points hollow, absent points not drawn."""
    out = np.ascontiguousarray(image.copy())
    left = {1, 3, 5, 7, 9, 11, 13, 15}
    right = {2, 4, 6, 8, 10, 12, 14, 16}
    for box, kps in zip(boxes, keypoints):
        cv2.rectangle(out, _fx(box[:2]), _fx(box[2:]), (255, 255, 0), 1, cv2.LINE_AA, _SHIFT)
        for a, b in SKELETON:
            if kps[a, 2] > 0 and kps[b, 2] > 0:
                col = ((255, 140, 0) if a in left and b in left else
                       (0, 120, 255) if a in right and b in right else (0, 220, 0))
                cv2.line(out, _fx(kps[a]), _fx(kps[b]), col, 1, cv2.LINE_AA, _SHIFT)
        for k, (x, y, v) in enumerate(kps):
            if v <= 0:
                continue
            col = (255, 140, 0) if k in left else (0, 120, 255) if k in right else (0, 220, 0)
            cv2.circle(out, _fx((x, y)), 3 * _ONE, col, -1 if v >= 2 else 1, cv2.LINE_AA, _SHIFT)
    return out
