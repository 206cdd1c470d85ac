"""The procedural people renderer (vitpose_ros.synthetic): determinism, annotation consistency,
left/right, visibility and the pixel convention."""
import dataclasses
import pathlib
import time

import numpy as np
import pytest

from vitpose_ros import synthetic as S
from vitpose_ros.synthetic import figure as R  # private part labels

W, H = 320, 400
BG = (128, 128, 128)
NOSE, L_EYE, R_EYE, L_EAR, R_EAR = 0, 1, 2, 3, 4
L_SH, R_SH, L_EL, R_EL, L_WR, R_WR, L_HIP, R_HIP, L_KN, R_KN, L_AN, R_AN = range(5, 17)


def plain(width=W, height=H, colour=BG):
    bg = np.empty((height, width, 3), np.uint8)
    bg[:] = colour
    return bg


def standing(**kw):
    """A symmetric standing figure, arms a little out so they do not touch the torso."""
    base = dict(x=W / 2, y=H / 2, height=300.0, yaw=0.0, shoulder_abd=(25.0, 25.0),
                elbow_flex=(10.0, 10.0), hip_abd=(8.0, 8.0), knee_flex=(5.0, 5.0))
    base.update(kw)
    return S.Pose(**base)


def draw(poses, width=W, height=H, **kw):
    kw.setdefault("background", plain(width, height))
    kw.setdefault("augment", False)
    return S.render_poses(poses, width, height, 0, **kw)


def inside_image(kp, width, height):
    x, y = kp[..., 0], kp[..., 1]
    return (x >= -0.5) & (x < width - 0.5) & (y >= -0.5) & (y < height - 0.5)


# ------------------------------------------------------------------------------ determinism


@pytest.mark.parametrize("fn", [S.render_scene, S.render_person_crop])
def test_same_seed_same_output_different_seed_different(fn):
    a = fn(123)
    b = fn(123)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    c = fn(124)
    assert not np.array_equal(a[0], c[0])
    assert a[2].shape != c[2].shape or not np.array_equal(a[2], c[2])


def _overlaps_an_earlier_box(boxes) -> list[bool]:
    lo, hi = boxes[:, None, :2], boxes[:, None, 2:]
    meets = (np.minimum(hi, boxes[None, :, 2:]) > np.maximum(lo, boxes[None, :, :2])).all(-1)
    return [bool(meets[i, :i].any()) for i in range(1, len(boxes))]


def test_crowded_scenes_put_people_in_front_of_each_other():
    """``crowded``: 2..4 people, each after the first placed over an earlier one's box; the default
    scenes, drawn from the same seeds, are left as they were."""
    crowded, plain, counts = [], [], set()
    for seed in range(40):
        _, boxes, keypoints = S.render_scene(seed, box_jitter=False, crowded=True)
        counts.add(len(boxes))
        crowded += _overlaps_an_earlier_box(boxes)
        plain += _overlaps_an_earlier_box(S.render_scene(seed, box_jitter=False)[1])
        assert keypoints.shape == (len(boxes), 17, 3)
    assert counts == {2, 3, 4}
    assert np.mean(crowded) > 0.8 > np.mean(plain) + 0.3  # here 0.87 and 0.39
    np.testing.assert_array_equal(S.render_scene(9, crowded=True)[0], S.render_scene(9, crowded=True)[0])


def test_no_global_random_state():
    np.random.seed(0)
    a = S.render_scene(7)
    np.random.seed(1)
    np.random.rand(10)
    b = S.render_scene(7)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[2], b[2])


# ------------------------------------------------------------------------------ shapes


@pytest.mark.parametrize("size", [(640, 480), (320, 240), (200, 300)])
def test_scene_shapes(size):
    w, h = size
    counts = set()
    for seed in range(12):
        img, boxes, kps = S.render_scene(seed, w, h)
        assert img.dtype == np.uint8 and img.shape == (h, w, 3)
        assert boxes.dtype == np.float32 and kps.dtype == np.float32
        n = len(boxes)
        assert 1 <= n <= 4 and boxes.shape == (n, 4) and kps.shape == (n, 17, 3)
        assert set(np.unique(kps[..., 2])) <= {0.0, 1.0, 2.0}
        counts.add(n)
    assert len(counts) > 1  # num_people=None really is random
    for n in (1, 3, 5):
        img, boxes, kps = S.render_scene(5, w, h, num_people=n)
        assert boxes.shape == (n, 4) and kps.shape == (n, 17, 3)


def test_crop_shapes_and_fill():
    heights = []
    for seed in range(30):
        img, boxes, kps = S.render_person_crop(seed)
        assert img.dtype == np.uint8 and img.shape == (256, 192, 3)
        assert boxes.shape == (1, 4) and kps.shape == (1, 17, 3)
        heights.append((boxes[0, 3] - boxes[0, 1]) / 256)
        assert (kps[0, :, 2] > 0).sum() >= 5
    # the person roughly fills the crop (box fitted to 3:4 and padded about 1.25x)
    assert 0.45 < np.median(heights) < 0.95
    img, boxes, kps = S.render_person_crop(3, width=96, height=128)
    assert img.shape == (128, 96, 3)


# ------------------------------------------------------------------------------ boxes


def _check_boxes(img, boxes, kps):
    h, w = img.shape[:2]
    assert np.all(boxes[:, :2] >= -0.5) and np.all(boxes[:, 2:] <= [w - 0.5, h - 0.5])
    assert np.all(boxes[:, 2:] >= boxes[:, :2])
    size = np.tile(boxes[:, 2:] - boxes[:, :2], 2)
    # jitter moves each side by <= BOX_JITTER of the un-jittered size (>= (1 - 2 BOX_JITTER) x this one)
    margin = S.BOX_JITTER / (1 - 2 * S.BOX_JITTER) * size + 1e-3
    lo, hi = boxes[:, None, :2] - margin[:, None, :2], boxes[:, None, 2:] + margin[:, None, 2:]
    vis = kps[..., 2] > 0
    ok = (kps[..., :2] >= lo).all(-1) & (kps[..., :2] <= hi).all(-1)
    assert np.all(ok[vis]), np.argwhere(vis & ~ok)


def test_visible_keypoints_inside_boxes():
    for seed in range(40):
        _check_boxes(*S.render_scene(seed))
        _check_boxes(*S.render_person_crop(seed))


def test_unjittered_box_is_tight_around_the_figure():
    rng = np.random.default_rng(0)
    for _ in range(20):
        pose = S.sample_pose(rng, W, H)
        img, boxes, kps, labels = draw([pose], box_jitter=False, return_labels=True)
        vis = kps[0, :, 2] > 0
        assert np.all(kps[0, vis, :2] >= boxes[0, :2]) and np.all(kps[0, vis, :2] <= boxes[0, 2:])
        ys, xs = np.nonzero(labels)
        if len(xs) == 0:
            continue
        # every labelled pixel is inside the box (up to a pixel), and the box hugs them
        assert xs.min() >= boxes[0, 0] - 1 and xs.max() <= boxes[0, 2] + 1
        assert ys.min() >= boxes[0, 1] - 1 and ys.max() <= boxes[0, 3] + 1
        assert xs.min() <= boxes[0, 0] + 2.5 and xs.max() >= boxes[0, 2] - 2.5
        assert ys.min() <= boxes[0, 1] + 2.5 and ys.max() >= boxes[0, 3] - 2.5


# ------------------------------------------------------------------------------ visibility


def test_visibility_zero_only_outside_or_hidden_face():
    seen_outside = 0
    for seed in range(60):
        img, boxes, kps = S.render_scene(seed)
        h, w = img.shape[:2]
        inside = inside_image(kps, w, h)
        v = kps[..., 2]
        assert np.all(v[~inside] == 0)
        seen_outside += int((~inside).sum())
        # inside the image only a face point on the far side of the head may be absent
        rows, cols = np.nonzero(inside & (v == 0))
        assert np.all(cols <= R_EAR), cols
    assert seen_outside > 0  # the scenes do truncate people at the border


def test_frontal_all_visible():
    img, boxes, kps = draw([standing()])
    np.testing.assert_array_equal(kps[0, :, 2], 2)


def test_facing_away_hides_nose_and_eyes_but_not_ears():
    img, boxes, kps = draw([standing(yaw=180.0)])
    v = kps[0, :, 2]
    assert v[NOSE] == 0 and v[L_EYE] == 0 and v[R_EYE] == 0
    assert v[L_EAR] == 2 and v[R_EAR] == 2
    np.testing.assert_array_equal(v[5:], 2)


def test_profile_hides_far_side():
    # yaw +90: facing the image's right, the person's right side toward the camera
    img, boxes, kps = draw([standing(yaw=90.0, shoulder_abd=(8.0, 8.0))])
    k = kps[0]
    v = k[:, 2]
    assert v[NOSE] == 2 and v[R_EYE] == 2 and v[R_EAR] == 2
    assert v[L_EYE] == 1  # just behind the head outline
    assert v[L_EAR] == 0  # far side of the head
    assert v[R_SH] == 2 and v[L_SH] == 1  # far shoulder behind the torso
    assert k[NOSE, 0] > k[R_EAR, 0]  # nose points the way it faces
    img, boxes, kps = draw([standing(yaw=-90.0, shoulder_abd=(8.0, 8.0))])
    v = kps[0, :, 2]
    assert v[L_EAR] == 2 and v[R_EAR] == 0 and v[L_SH] == 2 and v[R_SH] == 1
    assert kps[0, NOSE, 0] < kps[0, L_EAR, 0]


def test_far_shoulder_and_hip_hidden_by_own_torso_when_turned():
    _, _, kps = draw([standing(yaw=20.0)])  # slightly turned: all four still visible
    np.testing.assert_array_equal(kps[0, [L_SH, R_SH, L_HIP, R_HIP], 2], 2)
    _, _, kps = draw([standing(yaw=60.0)])  # turned to its left: its left side goes behind the torso
    np.testing.assert_array_equal(kps[0, [L_SH, L_HIP], 2], 1)
    np.testing.assert_array_equal(kps[0, [R_SH, R_HIP], 2], 2)


def test_truncated_figure_outside_points_absent_inside_visible():
    pose = standing(y=40.0)  # head and shoulders above the top edge
    img, boxes, kps = draw([pose])
    k = kps[0]
    inside = inside_image(k, W, H)
    assert 0 < inside.sum() < 17
    np.testing.assert_array_equal(k[~inside, 2], 0)
    np.testing.assert_array_equal(k[inside, 2], 2)
    assert boxes[0, 1] == pytest.approx(-0.5)  # clipped at the image edge


def test_figure_behind_identical_figure_is_occluded():
    back, front = standing(), standing()
    img, boxes, kps = draw([back, front])
    np.testing.assert_array_equal(kps[0, :, 2], 1)
    np.testing.assert_array_equal(kps[1, :, 2], 2)
    # drawn in the other order nothing changes for the geometry, only who is on top
    img2, _, kps2 = draw([front, dataclasses.replace(back, x=back.x + 400)])
    np.testing.assert_array_equal(kps2[0, :, 2], 2)


def test_partial_overlap_occludes_only_covered_points():
    back = standing()
    # arms up, 50 px to the right: its torso covers the back figure's left shoulder and hip
    front = standing(x=W / 2 + 50, shoulder_flex=(170.0, 170.0), shoulder_abd=(10.0, 10.0))
    _, _, kps = draw([back, front])
    v = kps[0, :, 2]
    assert v[L_SH] == 1 and v[L_HIP] == 1
    assert v[R_SH] == 2 and v[R_HIP] == 2 and v[R_WR] == 2


def test_occluder_shapes_only_lower_visibility():
    lowered = 0
    rng = np.random.default_rng(1)
    poses = [S.sample_pose(rng, 640, 480) for _ in range(3)]
    for seed in range(25):
        _, _, clear = S.render_poses(poses, 640, 480, seed, occluders=0, augment=False)
        _, _, occl = S.render_poses(poses, 640, 480, seed, occluders=3, augment=False)
        np.testing.assert_array_equal(clear[..., :2], occl[..., :2])
        assert np.all(occl[..., 2] <= clear[..., 2])
        assert np.all((occl[..., 2] == clear[..., 2]) | ((occl[..., 2] == 1) & (clear[..., 2] == 2)))
        lowered += int((occl[..., 2] < clear[..., 2]).sum())
    assert lowered > 0


def test_keypoints_lie_on_their_own_body_parts():
    rng = np.random.default_rng(3)
    for _ in range(20):
        pose = S.sample_pose(rng, W, H)
        img, boxes, kps, labels = draw([pose], return_labels=True)
        for k, (x, y, v) in enumerate(kps[0]):
            if v == 2:
                lab = labels[int(np.floor(y + 0.5)), int(np.floor(x + 0.5))]
                assert lab == 0 or lab in R._KP_PARTS[k] or lab == R.TORSO
                if lab != 0:  # and it is drawn: not the background colour
                    assert np.any(img[int(np.floor(y + 0.5)), int(np.floor(x + 0.5))] != BG)


# ------------------------------------------------------------------------------ left / right


def _brightness_at(img, p):
    x, y = int(round(p[0])), int(round(p[1]))
    return float(img[y - 1:y + 2, x - 1:x + 2].astype(np.float32).mean())


@pytest.mark.parametrize("yaw", [0.0, 180.0, 20.0, -160.0])
def test_left_right_geometry_and_shading(yaw):
    img, boxes, kps = draw([standing(yaw=yaw)])
    k = kps[0]
    if abs(yaw) < 90:  # facing the camera: the person's left is on the image's right
        assert k[L_SH, 0] > k[R_SH, 0] and k[L_HIP, 0] > k[R_HIP, 0] and k[L_EYE, 0] > k[R_EYE, 0]
        assert k[L_EAR, 0] > k[R_EAR, 0]
    else:  # facing away: the person's left is on the image's left
        assert k[L_SH, 0] < k[R_SH, 0] and k[L_HIP, 0] < k[R_HIP, 0] and k[L_EAR, 0] < k[R_EAR, 0]
    # left limbs are drawn lighter than right limbs (same clothes)
    for a, b in ((L_EL, L_SH), (L_KN, L_HIP), (L_AN, L_KN)):
        left = _brightness_at(img, (k[a, :2] + k[b, :2]) / 2)
        right = _brightness_at(img, (k[a + 1, :2] + k[b + 1, :2]) / 2)
        assert left > right + 15, (a, left, right)


def test_mirror_pose_swaps_sides():
    a = standing(shoulder_flex=(90.0, 0.0), x=W / 2)
    ka = S.pose_keypoints(a)
    kb = S.pose_keypoints(dataclasses.replace(a, yaw=180.0))
    # turning around mirrors the image x about the pelvis; y is unchanged
    np.testing.assert_allclose(ka[5:, 1], kb[5:, 1], atol=1e-4)
    np.testing.assert_allclose(ka[5:, 0] - a.x, -(kb[5:, 0] - a.x), atol=1e-4)


# ------------------------------------------------------------------------------ pixels


def _silhouette_centroid_x(img):
    mask = np.any(img != np.uint8(BG[0]), axis=-1)
    xs = np.nonzero(mask)[1]
    return xs.mean()


@pytest.mark.parametrize("x", [150.0, 150.25, 150.5, 151.75])
def test_keypoints_use_pixel_centre_convention(x):
    pose = standing(x=x, shoulder_abd=(30.0, 30.0))  # mirror-symmetric about the pelvis
    img, boxes, kps = draw([pose])
    k = kps[0]
    assert (k[L_HIP, 0] + k[R_HIP, 0]) / 2 == pytest.approx(x, abs=1e-4)
    # the drawn figure is symmetric about the keypoints' axis, to a fraction of a pixel
    assert _silhouette_centroid_x(img) == pytest.approx(x, abs=0.12)


@pytest.mark.parametrize("x", [150.0, 150.5, 151.25])
def test_head_drawn_where_the_face_keypoints_are(x):
    img, boxes, kps = draw([standing(x=x)])
    k = kps[0]
    top, eyes = int(np.ceil(boxes[0, 1])), int(np.floor(k[L_EYE, 1]))
    assert k[NOSE, 0] == pytest.approx(x, abs=1e-4)
    assert (k[L_EYE, 0] + k[R_EYE, 0]) / 2 == pytest.approx(x, abs=1e-4)
    assert _silhouette_centroid_x(img[top:eyes]) == pytest.approx(x, abs=0.12)


def test_subpixel_motion_moves_pixels():
    img1, _, k1 = draw([standing(x=150.0)])
    img2, _, k2 = draw([standing(x=150.5)])
    assert k2[0, 0, 0] - k1[0, 0, 0] == pytest.approx(0.5, abs=1e-4)
    assert _silhouette_centroid_x(img2) - _silhouette_centroid_x(img1) == pytest.approx(0.5, abs=0.1)


# ------------------------------------------------------------------------------ poses


def test_sample_pose_limits_and_variety():
    rng = np.random.default_rng(0)
    yaws, heights = [], []
    for i in range(300):
        kind = S.POSE_KINDS[i % len(S.POSE_KINDS)] if i < 70 else None
        p = S.sample_pose(rng, 640, 480, kind=kind)
        for name, (lo, hi) in S.LIMITS.items():
            v = getattr(p, name)
            for x in (v if isinstance(v, tuple) else (v,)):
                assert lo <= x <= hi, (name, x)
        assert S.MIN_HEIGHT_PX <= p.height <= 480
        yaws.append(p.yaw)
        heights.append(p.height)
    yaws = np.abs(np.asarray(yaws))
    assert (yaws < 40).sum() > 60 and (yaws > 140).sum() > 30 and ((yaws > 60) & (yaws < 120)).sum() > 10
    assert min(heights) < 100 and max(heights) > 400
    with pytest.raises(ValueError):
        S.sample_pose(rng, kind="flying")


def test_interpolate_pose():
    a = standing(yaw=170.0, shoulder_flex=(0.0, 20.0), long_sleeves=False)
    b = standing(yaw=-170.0, shoulder_flex=(100.0, 40.0), x=10.0, long_sleeves=True)
    assert S.interpolate_pose(a, b, 0.0) == a
    assert S.interpolate_pose(a, b, 1.0).shoulder_flex == b.shoulder_flex
    m = S.interpolate_pose(a, b, 0.5)
    assert abs(m.yaw) == pytest.approx(180.0)  # the short way round, not through 0
    assert m.shoulder_flex == pytest.approx((50.0, 30.0))
    assert m.x == pytest.approx((a.x + b.x) / 2)
    assert S.interpolate_pose(a, b, 0.4).long_sleeves is False
    assert S.interpolate_pose(a, b, 0.6).long_sleeves is True
    frames = [S.render_poses([S.interpolate_pose(a, b, t)], 320, 400, 5)[2] for t in (0.0, 0.5, 1.0)]
    assert not np.array_equal(frames[0], frames[1])


def test_render_poses_background_argument():
    bg = plain(100, 80, (10, 200, 30))
    img, boxes, kps = S.render_poses([], 100, 80, 0, background=bg, augment=False)
    np.testing.assert_array_equal(img, bg)
    assert boxes.shape == (0, 4) and kps.shape == (0, 17, 3)
    with pytest.raises(ValueError):
        S.render_poses([], 100, 80, 0, background=plain(80, 100))


def test_demo_model_path():
    path = S.demo_model_path(must_exist=False)
    assert path == pathlib.Path(S.__file__).parent / "models" / "vitpose_synthetic_coco.onnx"
    if path.exists():
        assert S.demo_model_path() == path
    else:
        with pytest.raises(FileNotFoundError, match="vitpose_ros.synthetic.train"):
            S.demo_model_path()


def test_speed_report():
    for fn, n, name in ((S.render_person_crop, 100, "crop 192x256"), (S.render_scene, 30, "scene 640x480")):
        fn(0)
        t = time.perf_counter()
        for seed in range(n):
            fn(seed)
        ms = (time.perf_counter() - t) / n * 1e3
        print(f"synthetic {name}: {ms:.2f} ms")
