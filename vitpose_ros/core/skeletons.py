"""Keypoint layouts of the datasets ViTPose is trained on (pure Python + numpy).

For each dataset: keypoint names, horizontal-flip pairs, limbs (lines to draw) and colours.

Names, their order, the flip pairs and the limbs are the facts of mmpose's dataset configs
(``configs/_base_/datasets/{coco,coco_wholebody,mpii,aic,ap10k}.py`` in open-mmlab/mmpose; the
ViTPose repository carries identical copies). APT-36K has no config of its own: ViTPose trains
and evaluates it with the AP-10K ``dataset_info`` (same 17 animal keypoints).

Colours are ours, not mmpose's: one palette for every dataset, chosen by side, so a user can
always tell left from right -- left is green, right is orange, the centre line is blue (mmpose's
own COCO body palette), the 68 face points of COCO-WholeBody are white. A limb takes the colour
of its side when both ends are on that side, else the centre colour.

Flip pairs are written ``(left, right)``; for face points, which have no side in their names,
``(i, mirror(i))`` with the lower index first.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

LEFT_COLOR = (0, 255, 0)  # green
RIGHT_COLOR = (255, 128, 0)  # orange
CENTER_COLOR = (51, 153, 255)  # blue
FACE_COLOR = (255, 255, 255)  # white


@dataclass(frozen=True)
class Skeleton:
    name: str
    keypoint_names: tuple[str, ...]
    flip_pairs: tuple[tuple[int, int], ...]
    limbs: tuple[tuple[int, int], ...]
    limb_colors: tuple[tuple[int, int, int], ...]
    keypoint_colors: tuple[tuple[int, int, int], ...]

    @property
    def num_keypoints(self) -> int:
        return len(self.keypoint_names)

    def flip_permutation(self) -> np.ndarray:
        """Index array ``p`` with ``flipped[k] = original[p[k]]`` (swaps each flip pair)."""
        perm = np.arange(self.num_keypoints, dtype=np.int64)
        for a, b in self.flip_pairs:
            perm[a], perm[b] = b, a
        return perm


# ---------------------------------------------------------------------------------------------
# Helpers: sides from names, flip pairs from names, limbs and colours from name pairs.

# "left_knee", "left_hand_root" (COCO, MPII, AIC, WholeBody); "L_Eye", "L_F_Paw" (AP-10K).
_SIDE_RE = re.compile(r"^(left|right)_|^(L|R)_")


def _side(name: str) -> str:
    """'left', 'right' or 'center' from a keypoint name."""
    m = _SIDE_RE.match(name)
    if m is None:
        return "center"
    return "left" if (m.group(1) or m.group(2)).lower() in ("left", "l") else "right"


def _mirror_name(name: str) -> str | None:
    """The name of the opposite-side keypoint, or None for a centre keypoint."""
    m = _SIDE_RE.match(name)
    if m is None:
        return None
    swap = {"left": "right", "right": "left", "L": "R", "R": "L"}
    return swap[m.group(1) or m.group(2)] + "_" + name[m.end():]


def _flip_pairs_by_name(names: tuple[str, ...]) -> list[tuple[int, int]]:
    """(left, right) index pairs of every left-named keypoint and its right-named mirror."""
    index = {n: i for i, n in enumerate(names)}
    return [(i, index[_mirror_name(n)]) for i, n in enumerate(names) if _side(n) == "left"]


def _side_color(side: str) -> tuple[int, int, int]:
    return {"left": LEFT_COLOR, "right": RIGHT_COLOR}.get(side, CENTER_COLOR)


def _build(name: str, names: tuple[str, ...], flip_pairs, links, keypoint_colors=None) -> Skeleton:
    """A Skeleton from names, index flip pairs and limbs given as (name, name) links."""
    index = {n: i for i, n in enumerate(names)}
    limbs = tuple((index[a], index[b]) for a, b in links)
    limb_colors = tuple(
        _side_color(_side(a)) if _side(a) == _side(b) else CENTER_COLOR for a, b in links
    )
    if keypoint_colors is None:
        keypoint_colors = tuple(_side_color(_side(n)) for n in names)
    return Skeleton(name, names, tuple(tuple(p) for p in flip_pairs), limbs, limb_colors,
                    tuple(keypoint_colors))


# ---------------------------------------------------------------------------------------------
# COCO-17 (mmpose configs/_base_/datasets/coco.py)

COCO_NAMES = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)
COCO_LINKS = (
    ("left_ankle", "left_knee"), ("left_knee", "left_hip"),
    ("right_ankle", "right_knee"), ("right_knee", "right_hip"),
    ("left_hip", "right_hip"), ("left_shoulder", "left_hip"), ("right_shoulder", "right_hip"),
    ("left_shoulder", "right_shoulder"),
    ("left_shoulder", "left_elbow"), ("right_shoulder", "right_elbow"),
    ("left_elbow", "left_wrist"), ("right_elbow", "right_wrist"),
    ("left_eye", "right_eye"), ("nose", "left_eye"), ("nose", "right_eye"),
    ("left_eye", "left_ear"), ("right_eye", "right_ear"),
    ("left_ear", "left_shoulder"), ("right_ear", "right_shoulder"),
)


def _coco() -> Skeleton:
    return _build("coco", COCO_NAMES, _flip_pairs_by_name(COCO_NAMES), COCO_LINKS)


# ---------------------------------------------------------------------------------------------
# COCO-WholeBody-133 (mmpose configs/_base_/datasets/coco_wholebody.py):
# 17 COCO body + 6 feet + 68 face ("face-0".."face-67", iBUG-68 order)
# + 21 left hand + 21 right hand (root, then 4 points per finger, thumb to pinky).

FEET_NAMES = ("left_big_toe", "left_small_toe", "left_heel",
              "right_big_toe", "right_small_toe", "right_heel")
FEET_LINKS = tuple((f"{s}_ankle", f"{s}_{p}") for s in ("left", "right")
                   for p in ("big_toe", "small_toe", "heel"))
FINGERS = ("thumb", "forefinger", "middle_finger", "ring_finger", "pinky_finger")


def _hand_names(side: str) -> tuple[str, ...]:
    return (f"{side}_hand_root",) + tuple(f"{side}_{f}{j}" for f in FINGERS for j in range(1, 5))


def _hand_links(side: str) -> tuple[tuple[str, str], ...]:
    links = []
    for f in FINGERS:  # root -> 1 -> 2 -> 3 -> 4 along each finger
        chain = [f"{side}_hand_root"] + [f"{side}_{f}{j}" for j in range(1, 5)]
        links += list(zip(chain[:-1], chain[1:]))
    return tuple(links)


def _ibug68_mirror() -> dict[int, int]:
    """Mirror map of the 68-point iBUG face markup (0-based); centre points map to themselves."""
    groups = [
        range(0, 17),  # jaw line, 0 <-> 16
        range(17, 27),  # eyebrows, 17 <-> 26
        range(31, 36),  # nose bottom, 31 <-> 35, 33 centre
        range(48, 55),  # outer lip top, 48 <-> 54, 51 centre
        range(55, 60),  # outer lip bottom, 55 <-> 59, 57 centre
        range(60, 65),  # inner lip top, 60 <-> 64, 62 centre
        range(65, 68),  # inner lip bottom, 65 <-> 67, 66 centre
    ]
    mirror = {i: i for i in range(68)}  # 27..30 (nose bridge) stay centre
    for g in groups:
        for i, j in zip(g, reversed(g)):
            mirror[i] = j
    # Eyes: right eye 36..41 and left eye 42..47 run in opposite directions around the eye.
    for i, j in zip((36, 37, 38, 39, 40, 41), (45, 44, 43, 42, 47, 46)):
        mirror[i], mirror[j] = j, i
    return mirror


def _wholebody() -> Skeleton:
    face = tuple(f"face-{i}" for i in range(68))
    names = COCO_NAMES + FEET_NAMES + face + _hand_names("left") + _hand_names("right")
    face0 = len(COCO_NAMES) + len(FEET_NAMES)  # 23
    mirror = _ibug68_mirror()
    face_pairs = [(face0 + i, face0 + j) for i, j in mirror.items() if i < j]
    flip_pairs = sorted(_flip_pairs_by_name(names) + face_pairs)
    links = COCO_LINKS + FEET_LINKS + _hand_links("left") + _hand_links("right")
    kp_colors = [FACE_COLOR if n.startswith("face-") else _side_color(_side(n)) for n in names]
    return _build("wholebody", names, flip_pairs, links, kp_colors)


# ---------------------------------------------------------------------------------------------
# MPII-16 (mmpose configs/_base_/datasets/mpii.py)

MPII_NAMES = (
    "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle",
    "pelvis", "thorax", "upper_neck", "head_top",
    "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow", "left_wrist",
)
MPII_LINKS = (
    ("right_ankle", "right_knee"), ("right_knee", "right_hip"), ("right_hip", "pelvis"),
    ("pelvis", "left_hip"), ("left_hip", "left_knee"), ("left_knee", "left_ankle"),
    ("pelvis", "thorax"), ("thorax", "upper_neck"), ("upper_neck", "head_top"),
    ("upper_neck", "right_shoulder"), ("right_shoulder", "right_elbow"),
    ("right_elbow", "right_wrist"),
    ("upper_neck", "left_shoulder"), ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"),
)


def _mpii() -> Skeleton:
    return _build("mpii", MPII_NAMES, _flip_pairs_by_name(MPII_NAMES), MPII_LINKS)


# ---------------------------------------------------------------------------------------------
# AIC-14, AI Challenger (mmpose configs/_base_/datasets/aic.py)

AIC_NAMES = (
    "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow", "left_wrist",
    "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
    "head_top", "neck",
)
AIC_LINKS = (
    ("right_wrist", "right_elbow"), ("right_elbow", "right_shoulder"),
    ("right_shoulder", "neck"), ("neck", "left_shoulder"),
    ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"),
    ("right_ankle", "right_knee"), ("right_knee", "right_hip"), ("right_hip", "left_hip"),
    ("left_hip", "left_knee"), ("left_knee", "left_ankle"), ("head_top", "neck"),
    ("right_shoulder", "right_hip"), ("left_shoulder", "left_hip"),
)


def _aic() -> Skeleton:
    return _build("aic", AIC_NAMES, _flip_pairs_by_name(AIC_NAMES), AIC_LINKS)


# ---------------------------------------------------------------------------------------------
# AP-10K-17, animals (mmpose configs/_base_/datasets/ap10k.py; names kept as spelt there).
# APT-36K: same layout (ViTPose's APT-36K configs use the AP-10K dataset_info).

AP10K_NAMES = (
    "L_Eye", "R_Eye", "Nose", "Neck", "Root of tail",
    "L_Shoulder", "L_Elbow", "L_F_Paw", "R_Shoulder", "R_Elbow", "R_F_Paw",
    "L_Hip", "L_Knee", "L_B_Paw", "R_Hip", "R_Knee", "R_B_Paw",
)
AP10K_LINKS = (
    ("L_Eye", "R_Eye"), ("L_Eye", "Nose"), ("R_Eye", "Nose"),
    ("Nose", "Neck"), ("Neck", "Root of tail"),
    ("Neck", "L_Shoulder"), ("L_Shoulder", "L_Elbow"), ("L_Elbow", "L_F_Paw"),
    ("Neck", "R_Shoulder"), ("R_Shoulder", "R_Elbow"), ("R_Elbow", "R_F_Paw"),
    ("Root of tail", "L_Hip"), ("L_Hip", "L_Knee"), ("L_Knee", "L_B_Paw"),
    ("Root of tail", "R_Hip"), ("R_Hip", "R_Knee"), ("R_Knee", "R_B_Paw"),
)


def _animal(name: str) -> Skeleton:
    return _build(name, AP10K_NAMES, _flip_pairs_by_name(AP10K_NAMES), AP10K_LINKS)


# ---------------------------------------------------------------------------------------------

SKELETONS: dict[str, Skeleton] = {
    "coco": _coco(),
    "wholebody": _wholebody(),
    "mpii": _mpii(),
    "aic": _aic(),
    "ap10k": _animal("ap10k"),
    "apt36k": _animal("apt36k"),
}

# Other spellings accepted by get_skeleton (after lower-casing).
_ALIASES = {"coco_wholebody": "wholebody", "coco-wholebody": "wholebody",
            "ap-10k": "ap10k", "apt-36k": "apt36k"}


def generic_skeleton(num_keypoints: int) -> Skeleton:
    """Names "kp0".."kp<N-1>", no flip pairs, no limbs, all points in the centre colour."""
    if num_keypoints <= 0:
        raise ValueError(f"num_keypoints must be positive, got {num_keypoints}")
    names = tuple(f"kp{i}" for i in range(num_keypoints))
    return Skeleton("generic", names, (), (), (), (CENTER_COLOR,) * num_keypoints)


def get_skeleton(dataset: str, num_keypoints: int | None = None) -> Skeleton:
    """The skeleton of ``dataset`` (case-insensitive; see ``SKELETONS`` for the names).

    With ``num_keypoints`` given it must equal the dataset's count, else ValueError. An unknown
    dataset raises ValueError -- unless ``num_keypoints`` is given: then a generic skeleton
    (named "generic", keypoints "kp0".."kp<N-1>", no flip pairs, no limbs) is returned, so a
    model with a custom keypoint set still runs, just without flip test or limbs.
    """
    key = str(dataset).strip().lower()
    key = _ALIASES.get(key, key)
    skeleton = SKELETONS.get(key)
    if skeleton is None:
        if num_keypoints is None:
            raise ValueError(
                f"unknown dataset {dataset!r}; known: {', '.join(SKELETONS)} "
                "(or pass num_keypoints for a generic skeleton)"
            )
        return generic_skeleton(num_keypoints)
    if num_keypoints is not None and num_keypoints != skeleton.num_keypoints:
        raise ValueError(
            f"dataset {dataset!r} has {skeleton.num_keypoints} keypoints, not {num_keypoints}"
        )
    return skeleton
