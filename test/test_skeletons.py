"""Keypoint layouts: structure checks on every skeleton, plus facts pinned from mmpose's configs."""
import re

import numpy as np
import pytest

from vitpose_ros.core.skeletons import (
    CENTER_COLOR,
    LEFT_COLOR,
    RIGHT_COLOR,
    SKELETONS,
    Skeleton,
    get_skeleton,
)

EXPECTED_COUNTS = {"coco": 17, "wholebody": 133, "mpii": 16, "aic": 14, "ap10k": 17, "apt36k": 17}
ALL = sorted(EXPECTED_COUNTS)

SIDE = re.compile(r"^(left|right|L|R)_(.+)$")


def side_of(name):
    m = SIDE.match(name)
    if m is None:
        return "center"
    return "left" if m.group(1) in ("left", "L") else "right"


# ---------------------------------------------------------------------------------------------
# Structure, every dataset


def test_the_six_datasets_and_their_counts():
    assert set(SKELETONS) == set(EXPECTED_COUNTS)
    for name, count in EXPECTED_COUNTS.items():
        s = SKELETONS[name]
        assert isinstance(s, Skeleton)
        assert s.name == name
        assert s.num_keypoints == count == len(s.keypoint_names)


@pytest.mark.parametrize("name", ALL)
def test_keypoint_names_unique(name):
    names = SKELETONS[name].keypoint_names
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("name", ALL)
def test_flip_pairs_in_range_disjoint_and_not_self(name):
    s = SKELETONS[name]
    flat = [i for pair in s.flip_pairs for i in pair]
    assert all(len(pair) == 2 for pair in s.flip_pairs)
    assert all(0 <= i < s.num_keypoints for i in flat)
    assert len(flat) == len(set(flat)), "a keypoint is in two flip pairs (or paired with itself)"


@pytest.mark.parametrize("name", ALL)
def test_flip_pairs_name_consistent(name):
    s = SKELETONS[name]
    for a, b in s.flip_pairs:
        na, nb = s.keypoint_names[a], s.keypoint_names[b]
        if na.startswith("face-"):
            continue  # checked against the iBUG map in test_wholebody_face_flip_pairs
        ma, mb = SIDE.match(na), SIDE.match(nb)
        assert ma and mb, (na, nb)
        # (left, right), and the names differ only by the side prefix
        assert (side_of(na), side_of(nb)) == ("left", "right"), (na, nb)
        assert ma.group(2) == mb.group(2), (na, nb)


@pytest.mark.parametrize("name", ALL)
def test_every_sided_keypoint_has_its_mirror_paired(name):
    s = SKELETONS[name]
    paired = {i for pair in s.flip_pairs for i in pair}
    for i, n in enumerate(s.keypoint_names):
        assert (side_of(n) != "center") == (i in paired) or n.startswith("face-"), n


@pytest.mark.parametrize("name", ALL)
def test_flip_permutation_is_an_involution_that_swaps_the_pairs(name):
    s = SKELETONS[name]
    p = s.flip_permutation()
    assert p.shape == (s.num_keypoints,)
    assert np.issubdtype(p.dtype, np.integer)
    assert sorted(p.tolist()) == list(range(s.num_keypoints))
    np.testing.assert_array_equal(p[p], np.arange(s.num_keypoints))
    moved = {int(k) for k in np.nonzero(p != np.arange(s.num_keypoints))[0]}
    assert moved == {i for pair in s.flip_pairs for i in pair}
    for a, b in s.flip_pairs:
        assert p[a] == b and p[b] == a


@pytest.mark.parametrize("name", ALL)
def test_limbs_in_range_unique_with_one_colour_each(name):
    s = SKELETONS[name]
    assert len(s.limbs) > 0
    assert len(s.limb_colors) == len(s.limbs)
    for a, b in s.limbs:
        assert 0 <= a < s.num_keypoints and 0 <= b < s.num_keypoints and a != b
    assert len({frozenset(limb) for limb in s.limbs}) == len(s.limbs), "duplicate limb"


@pytest.mark.parametrize("name", ALL)
def test_colours_are_rgb_bytes(name):
    s = SKELETONS[name]
    assert len(s.keypoint_colors) == s.num_keypoints
    for c in s.limb_colors + s.keypoint_colors:
        assert len(c) == 3 and all(isinstance(v, int) and 0 <= v <= 255 for v in c), c


@pytest.mark.parametrize("name", ALL)
def test_colours_tell_left_from_right(name):
    s = SKELETONS[name]
    assert len({LEFT_COLOR, RIGHT_COLOR, CENTER_COLOR}) == 3
    want = {"left": LEFT_COLOR, "right": RIGHT_COLOR, "center": CENTER_COLOR}
    for (a, b), color in zip(s.limbs, s.limb_colors):
        sa, sb = side_of(s.keypoint_names[a]), side_of(s.keypoint_names[b])
        expected = want[sa] if sa == sb else CENTER_COLOR
        assert color == expected, (s.keypoint_names[a], s.keypoint_names[b])
    for n, color in zip(s.keypoint_names, s.keypoint_colors):
        if not n.startswith("face-"):
            assert color == want[side_of(n)], n
    # mirrored limbs get the mirrored colour
    p = s.flip_permutation()
    limb_color = {frozenset(limb): c for limb, c in zip(s.limbs, s.limb_colors)}
    swap = {LEFT_COLOR: RIGHT_COLOR, RIGHT_COLOR: LEFT_COLOR}
    for (a, b), color in zip(s.limbs, s.limb_colors):
        mirrored = frozenset((int(p[a]), int(p[b])))
        assert mirrored in limb_color, "limb without a mirror image"
        assert limb_color[mirrored] == swap.get(color, color)


def test_skeletons_are_immutable():
    with pytest.raises(AttributeError):
        SKELETONS["coco"].name = "x"


# ---------------------------------------------------------------------------------------------
# Facts from mmpose configs/_base_/datasets/*.py

def names_at(dataset, *indices):
    return tuple(SKELETONS[dataset].keypoint_names[i] for i in indices)


def unordered(pairs):
    return {frozenset(p) for p in pairs}


def test_coco_facts():
    s = SKELETONS["coco"]
    assert s.keypoint_names[0] == "nose"
    assert s.keypoint_names[5] == "left_shoulder"
    assert s.keypoint_names[16] == "right_ankle"
    assert unordered(s.flip_pairs) == unordered(
        [(1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16)])
    assert s.flip_permutation().tolist() == [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]
    assert s.limbs == (
        (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7),
        (6, 8), (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6))


def test_mpii_facts():
    s = SKELETONS["mpii"]
    assert names_at("mpii", 0, 6, 7, 8, 9, 15) == (
        "right_ankle", "pelvis", "thorax", "upper_neck", "head_top", "left_wrist")
    assert unordered(s.flip_pairs) == unordered([(0, 5), (1, 4), (2, 3), (10, 15), (11, 14), (12, 13)])
    assert len(s.limbs) == 15
    assert (6, 7) in s.limbs and (8, 9) in s.limbs and (8, 12) in s.limbs


def test_aic_facts():
    s = SKELETONS["aic"]
    assert names_at("aic", 0, 3, 12, 13) == ("right_shoulder", "left_shoulder", "head_top", "neck")
    assert unordered(s.flip_pairs) == unordered([(0, 3), (1, 4), (2, 5), (6, 9), (7, 10), (8, 11)])
    assert len(s.limbs) == 14
    assert (12, 13) in s.limbs and (0, 13) in s.limbs and (6, 9) in s.limbs


@pytest.mark.parametrize("name", ["ap10k", "apt36k"])
def test_animal_facts(name):
    s = SKELETONS[name]
    assert s.keypoint_names[:5] == ("L_Eye", "R_Eye", "Nose", "Neck", "Root of tail")
    assert s.keypoint_names[7] == "L_F_Paw" and s.keypoint_names[16] == "R_B_Paw"
    assert unordered(s.flip_pairs) == unordered(
        [(0, 1), (5, 8), (6, 9), (7, 10), (11, 14), (12, 15), (13, 16)])
    assert len(s.limbs) == 17
    assert (3, 4) in s.limbs and (4, 11) in s.limbs and (4, 14) in s.limbs


def test_apt36k_shares_the_ap10k_layout():
    a, b = SKELETONS["ap10k"], SKELETONS["apt36k"]
    assert (a.keypoint_names, a.flip_pairs, a.limbs) == (b.keypoint_names, b.flip_pairs, b.limbs)


def test_wholebody_layout():
    s = SKELETONS["wholebody"]
    assert s.keypoint_names[:17] == SKELETONS["coco"].keypoint_names
    assert names_at("wholebody", 17, 19, 20, 22) == (
        "left_big_toe", "left_heel", "right_big_toe", "right_heel")
    assert names_at("wholebody", 23, 90) == ("face-0", "face-67")
    assert names_at("wholebody", 91, 92, 96, 100, 104, 108, 111) == (
        "left_hand_root", "left_thumb1", "left_forefinger1", "left_middle_finger1",
        "left_ring_finger1", "left_pinky_finger1", "left_pinky_finger4")
    assert names_at("wholebody", 112, 132) == ("right_hand_root", "right_pinky_finger4")


def test_wholebody_flip_pairs():
    s = SKELETONS["wholebody"]
    pairs = unordered(s.flip_pairs)
    assert len(s.flip_pairs) == 8 + 3 + 29 + 21
    assert unordered(SKELETONS["coco"].flip_pairs) <= pairs
    assert {frozenset((17, 20)), frozenset((18, 21)), frozenset((19, 22))} <= pairs
    assert {frozenset((91 + k, 112 + k)) for k in range(21)} <= pairs


def test_wholebody_face_flip_pairs():
    # Official face swaps (face-i <-> face-j), from the iBUG 68-point markup.
    s = SKELETONS["wholebody"]
    face = {frozenset((a - 23, b - 23)) for a, b in s.flip_pairs if a >= 23 and b < 91}
    expected = (
        [(i, 16 - i) for i in range(8)] + [(17 + i, 26 - i) for i in range(5)]
        + [(31, 35), (32, 34)]
        + [(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]
        + [(48, 54), (49, 53), (50, 52), (55, 59), (56, 58), (60, 64), (61, 63), (65, 67)])
    assert face == unordered(expected)
    # in global indices, as in the config: face-0 (23) <-> face-16 (39), face-65 (88) <-> face-67 (90)
    assert frozenset((23, 39)) in unordered(s.flip_pairs)
    assert frozenset((88, 90)) in unordered(s.flip_pairs)
    p = s.flip_permutation()
    for centre in (8, 27, 28, 29, 30, 33, 51, 57, 62, 66):
        assert p[23 + centre] == 23 + centre


def test_wholebody_limbs():
    s = SKELETONS["wholebody"]
    assert len(s.limbs) == 19 + 6 + 20 + 20
    assert s.limbs[:19] == SKELETONS["coco"].limbs
    assert s.limbs[19:25] == ((15, 17), (15, 18), (15, 19), (16, 20), (16, 21), (16, 22))
    assert s.limbs[25:29] == ((91, 92), (92, 93), (93, 94), (94, 95))
    assert (91, 108) in s.limbs and (131, 132) in s.limbs and (112, 129) in s.limbs
    assert not any(23 <= i < 91 for limb in s.limbs for i in limb), "no face limbs in the config"


def test_wholebody_left_hand_is_left_coloured():
    s = SKELETONS["wholebody"]
    assert s.keypoint_colors[91] == LEFT_COLOR and s.keypoint_colors[112] == RIGHT_COLOR
    assert s.limb_colors[s.limbs.index((91, 92))] == LEFT_COLOR
    assert s.limb_colors[s.limbs.index((112, 113))] == RIGHT_COLOR


# ---------------------------------------------------------------------------------------------
# get_skeleton


@pytest.mark.parametrize("name", ALL)
def test_get_skeleton_by_name(name):
    assert get_skeleton(name) is SKELETONS[name]
    assert get_skeleton(name, EXPECTED_COUNTS[name]) is SKELETONS[name]


def test_get_skeleton_is_case_insensitive_and_knows_aliases():
    assert get_skeleton(" COCO ") is SKELETONS["coco"]
    assert get_skeleton("coco_wholebody") is SKELETONS["wholebody"]


def test_get_skeleton_unknown_name():
    with pytest.raises(ValueError, match="unknown dataset 'nope'") as info:
        get_skeleton("nope")
    assert "\n" not in str(info.value)
    assert "coco" in str(info.value) and "apt36k" in str(info.value)


def test_get_skeleton_count_mismatch():
    with pytest.raises(ValueError, match="17") as info:
        get_skeleton("coco", 133)
    assert "133" in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(ValueError):
        get_skeleton("mpii", 17)


def test_get_skeleton_generic_fallback():
    s = get_skeleton("custom", 5)
    assert s.name == "generic"
    assert s.keypoint_names == ("kp0", "kp1", "kp2", "kp3", "kp4")
    assert s.flip_pairs == () and s.limbs == () and s.limb_colors == ()
    assert len(s.keypoint_colors) == 5
    np.testing.assert_array_equal(s.flip_permutation(), np.arange(5))
    with pytest.raises(ValueError):
        get_skeleton("custom", 0)
