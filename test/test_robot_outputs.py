"""Robot outputs, ROS-free parts: ids (detector ids, tracker), One Euro smoothing, depth -> 3D joints,
and the PointCloud2 / depth Image conversions they travel in."""
import numpy as np
import pytest
from std_msgs.msg import Header

from vitpose_ros.core.depth import Intrinsics, keypoints_to_3d
from vitpose_ros.core.smoothing import KeypointSmoother
from vitpose_ros.core.tracking import NO_ID, BoxTracker, PersonIds
from vitpose_ros.ros.conversions import (depth_to_image, depth_to_metres, ids_from_cloud, keypoints_3d_from_cloud,
                                         keypoints_3d_to_cloud, keypoints_from_cloud, keypoints_to_cloud)
from vitpose_ros.synthetic.depth_scenes import CrossingPeople, focal_length, render_people

INTRINSICS = Intrinsics(fx=554.3, fy=554.3, cx=320.0, cy=240.0)


# -- identities --------------------------------------------------------------------------------

def test_detector_ids_map_to_stable_integers_in_order_of_appearance():
    registry = PersonIds()  # detector ids only, no tracker
    ids, new = registry.assign(np.zeros((2, 4)), ["alice", "17"], 0.0)
    assert ids.tolist() == [1, 2] and new == [("alice", 1), ("17", 2)]
    ids, new = registry.assign(np.zeros((3, 4)), ["17", "bob", "alice"], 0.1)
    assert ids.tolist() == [2, 3, 1] and new == [("bob", 3)]


@pytest.mark.parametrize("rate", [3.0, 5.0, 10.0])
def test_tracker_keeps_ids_when_two_people_cross(rate):
    """Detections listed left to right swap rows as the people pass; the ids follow the people."""
    scene, tracker = CrossingPeople(640, 480), BoxTracker()
    identity_to_id = {}
    for i in range(int(9 * rate)):  # two crossings (t = 2 s and 6 s)
        frame = render_people(scene.people_at(i / rate), 640, 480, scene.focal, order_by_x=True, with_depth=False)
        ids = tracker.update(frame.boxes, 1000.0 + i / rate)
        for identity, track_id in zip(frame.identities.tolist(), ids.tolist()):
            assert identity_to_id.setdefault(identity, track_id) == track_id, f"frame {i}: ids swapped or lost"
    assert sorted(identity_to_id.values()) == [1, 2]


def test_tracker_retires_lost_tracks_and_restarts_when_time_goes_back():
    tracker = BoxTracker(max_age_s=0.5)
    box = np.array([[100, 100, 150, 250]], float)
    assert tracker.update(box, 0.0).tolist() == [1]
    assert tracker.update(box + 5, 0.1).tolist() == [1]
    assert tracker.update(np.zeros((0, 4)), 0.3).tolist() == [] and tracker.lost == []
    assert tracker.update(np.zeros((0, 4)), 0.7).tolist() == [] and tracker.lost == [1]
    assert tracker.update(box, 0.8).tolist() == [2]  # a new person as far as we can tell
    assert tracker.update(box, 0.1).tolist() == [3] and tracker.lost == [2]


def _walkers(frame, people=3):
    """Boxes of ``people`` persons side by side, walking right 2 px per frame."""
    return np.array([[50 + 150 * p + 2 * frame, 100, 130 + 150 * p + 2 * frame, 300] for p in range(people)], float)


def test_person_ids_fall_back_per_detection_and_never_share_numbers():
    """P always has a detector id, Q every other frame, R never: one frame's rows never share an id,
    detector numbers and tracker numbers are disjoint, and no id ever names two people (what the
    smoother, keyed by id, relies on)."""
    persons, person_of_id = PersonIds(BoxTracker()), {}
    keyed, tracked = set(), set()
    for frame in range(60):
        keys = ["p7", "q9" if frame % 2 == 0 else "", ""]
        ids, _ = persons.assign(_walkers(frame), keys, 10.0 + frame / 15)
        assert NO_ID not in ids.tolist() and len(set(ids.tolist())) == 3, f"frame {frame}: {ids}"
        for person, (key, number) in enumerate(zip(keys, ids.tolist())):
            assert person_of_id.setdefault(number, person) == person, f"frame {frame}: id {number} named two people"
            (keyed if key else tracked).add(number)
    ids = {person: {n for n, p in person_of_id.items() if p == person} for person in range(3)}
    assert len(ids[0]) == 1 and len(ids[2]) == 1  # P keeps its detector's, R its track's
    assert ids[1] == {2}  # Q keeps its detector id's number on frames where its track carries it
    assert not ids[2] & keyed
    assert tracked - keyed == ids[2]


def test_person_ids_keep_detector_numbers_in_order_and_trackers_alone_count_from_one():
    persons = PersonIds(BoxTracker())
    ids, new = persons.assign(_walkers(0, 2), ["alice", "bob"], 1.0)
    assert ids.tolist() == [1, 2] and new == [("alice", 1), ("bob", 2)]
    ids, new = persons.assign(_walkers(1, 2), ["bob", "alice"], 1.1)
    assert ids.tolist() == [2, 1] and new == []
    assert PersonIds(BoxTracker()).assign(_walkers(0, 2), ["", ""], 1.0)[0].tolist() == [1, 2]
    assert PersonIds(None).assign(_walkers(0, 2), ["x", ""], 1.0)[0].tolist() == [1, NO_ID]  # tracker:=none
    dup, _ = PersonIds(BoxTracker()).assign(_walkers(0, 2), ["same", "same"], 1.0)
    assert dup[0] == 1 and dup[1] not in (NO_ID, 1)  # a detector repeating an id in one frame


def test_rising_detector_ids_keep_the_maps_bounded():
    """yolo_ros tracking gives every new track a new id: 10,000 of them over 3,334 frames at 30 fps."""
    persons, sizes, numbers = PersonIds(BoxTracker(), max_age_s=1.0), [], []
    for frame in range(3334):
        keys = [str(3 * frame + p) for p in range(3)]  # ids that keep rising, three new ones each frame
        ids, new = persons.assign(_walkers(frame % 100), keys, 5.0 + frame / 30)
        assert [key for key, _ in new] == keys
        numbers += ids.tolist()
        sizes.append(len(persons))
    assert len(set(numbers)) == len(numbers) == 10_002  # never reused
    assert max(sizes) <= 3 * 32 + 3 + 3  # the last second's ids and the tracks (walkers jump back every 100 frames)
    assert max(sizes[2000:]) <= max(sizes[:1000])  # steady, not growing


def test_person_ids_forget_after_max_age_and_start_over_when_time_goes_back():
    persons = PersonIds(BoxTracker(), max_age_s=0.5)
    assert persons.assign(_walkers(0, 1), ["a"], 1.0)[0].tolist() == [1]
    assert persons.assign(_walkers(0, 1), ["a"], 1.4)[0].tolist() == [1]
    assert persons.assign(np.zeros((0, 4)), [], 2.0)[0].tolist() == [] and len(persons) == 0  # unseen 0.6 s
    assert persons.assign(_walkers(0, 1), ["a"], 2.1)[0].tolist() == [2]  # seen again: a new number
    assert persons.assign(_walkers(0, 1), ["a"], 0.5)[0].tolist() == [3]  # bag loop: start over, numbers not reused


# -- smoothing ---------------------------------------------------------------------------------

@pytest.mark.parametrize("rate", [15.0, 30.0])
def test_smoothing_reduces_jitter_and_keeps_pck(rate):
    from vitpose_ros.synthetic.smoothing_eval import smoothing_figures

    r = smoothing_figures(frames=90, rate=rate, noise_px=2.0, seed=0)  # the node's default filter
    ratio, drop = r["jitter_raw_px"] / r["jitter_smoothed_px"], r["pck_raw"] - r["pck_smoothed"]
    print(f"\nsmoothing on the synthetic camera ({rate:.0f} fps, 2 px noise): jitter {r['jitter_raw_px']:.2f} -> "
          f"{r['jitter_smoothed_px']:.2f} px ({ratio:.2f}x less), PCK@0.05 {r['pck_raw']:.4f} -> "
          f"{r['pck_smoothed']:.4f} (drop {drop:+.4f})")
    assert ratio >= 2.0 and drop <= 0.01


def test_smoothing_resets_on_low_score_lost_track_and_time_going_back():
    smoother = KeypointSmoother(min_cutoff=0.5, beta=0.0)
    still = np.zeros((1, 3, 3), np.float32)
    still[..., 2] = 1.0
    smoother(still, [7], 0.0, 0.3)
    moved = still.copy()
    moved[0, :, 0] = 10.0
    out = smoother(moved, [7], 0.1, 0.3)
    assert 0 < out[0, 0, 0] < 5  # smoothed toward the old position
    assert np.array_equal(out[..., 2], moved[..., 2])  # scores untouched
    low = moved.copy()
    low[0, 1, 2] = 0.1  # keypoint 1 unreliable: passes raw, then restarts
    low[0, 1, 0] = 50.0
    out = smoother(low, [7], 0.2, 0.3)
    assert out[0, 1, 0] == 50.0 and out[0, 0, 0] < 10.0
    assert smoother(moved, [7], 0.3, 0.3)[0, 1, 0] == 10.0  # restarted from the raw value
    assert smoother(moved + 20, [8], 0.4, 0.3)[0, 0, 0] == 30.0  # new track: raw
    assert smoother(moved, [7], 0.5, 0.3)[0, 0, 0] == 10.0  # 7 was missing in the last frame: reset
    assert smoother(moved + 5, [0], 0.6, 0.3)[0, 0, 0] == 15.0  # id 0: never filtered
    smoother(moved, [9], 1.0, 0.3)
    assert smoother(moved + 5, [9], 0.9, 0.3)[0, 0, 0] == 15.0  # stamp went back: reset


# -- depth -------------------------------------------------------------------------------------

def _scene_with_depth():
    scene = CrossingPeople(640, 480)
    return render_people(scene.people_at(0.5), 640, 480, focal_length(640))


def test_3d_joints_lie_at_the_rendered_distance():
    frame = _scene_with_depth()
    truth = frame.keypoints.copy()
    truth[..., 2] = 1.0
    points = keypoints_to_3d(truth, frame.depth, INTRINSICS)
    visible = frame.keypoints[..., 2] == 2
    z = points[..., 2]
    assert np.isfinite(z[visible]).mean() > 0.9
    ok = visible & np.isfinite(z)
    expected = np.broadcast_to(frame.distances[:, None], z.shape)
    assert np.abs(z[ok] - expected[ok]).max() < 1e-3
    x_expected = (truth[..., 0] - INTRINSICS.cx) * expected / INTRINSICS.fx
    assert np.abs(points[..., 0][ok] - x_expected[ok]).max() < 1e-3


def test_depth_outliers_holes_and_out_of_image_joints():
    depth = np.full((100, 100), 2.0, np.float32)
    depth[40:60, 40:60] = np.nan  # hole
    depth[8:14, 78:84] = 9.0  # the wall behind the person shows through (e.g. between arm and body)
    depth[88:94, 8:14] = 0.5  # an object in front of the person covers a joint
    keypoints = np.array([[[20, 20, 1], [50, 50, 1], [81, 11, 1], [150, 20, 1], [np.nan, np.nan, 0], [30, 70, 1],
                           [84, 11, 1], [11, 91, 1]]],
                         np.float32)
    keypoints_noisy_window = keypoints.copy()
    z = keypoints_to_3d(keypoints, depth, INTRINSICS, window=5, max_deviation_m=0.5)[..., 2]
    assert z[0, 0] == pytest.approx(2.0) and z[0, 5] == pytest.approx(2.0)
    assert np.isnan(z[0, 1])  # only holes around it
    assert np.isnan(z[0, 2])  # only 9 m in its window, 7 m from the person's median: rejected
    assert np.isnan(z[0, 3]) and np.isnan(z[0, 4])  # outside the image / no keypoint
    assert z[0, 6] == pytest.approx(2.0)  # 10 of 25 window pixels are wall: dropped, not averaged in
    assert np.isnan(z[0, 7])  # only 0.5 m in its window, in front of the person: rejected too
    assert keypoints_to_3d(np.zeros((0, 17, 3)), depth, INTRINSICS).shape == (0, 17, 3)
    assert np.array_equal(keypoints, keypoints_noisy_window, equal_nan=True)  # input untouched


# -- conversions -------------------------------------------------------------------------------

def test_keypoint_cloud_carries_ids_and_old_readers_keep_working():
    keypoints = np.random.default_rng(0).uniform(0, 100, (3, 17, 3)).astype(np.float32)
    msg = keypoints_to_cloud(keypoints, Header(frame_id="cam"), ids=[5, 0, 4_000_000_000])
    assert [(f.name, f.offset, f.datatype) for f in msg.fields] == [("x", 0, 7), ("y", 4, 7), ("score", 8, 7), ("id", 12, 6)]
    assert np.array_equal(keypoints_from_cloud(msg), keypoints)
    assert ids_from_cloud(msg).tolist() == [5, 0, 4_000_000_000]
    raw = np.frombuffer(bytes(msg.data), np.uint32).reshape(3, 17, 4)[..., 3]
    assert (raw == raw[:, :1]).all()  # the same id on all K points of a person
    assert ids_from_cloud(keypoints_to_cloud(keypoints, Header())).tolist() == [0, 0, 0]
    legacy = keypoints_to_cloud(keypoints, Header())  # an older publisher: no id field
    legacy.fields = legacy.fields[:3]
    assert ids_from_cloud(legacy).tolist() == [0, 0, 0] and np.array_equal(keypoints_from_cloud(legacy), keypoints)


def test_keypoints_3d_cloud_round_trip():
    points = np.random.default_rng(1).normal(0, 2, (2, 17, 3)).astype(np.float32)
    points[1, 3] = np.nan
    scores = np.random.default_rng(2).uniform(0, 1, (2, 17)).astype(np.float32)
    msg = keypoints_3d_to_cloud(points, scores, Header(), ids=[3, 9])
    assert [f.name for f in msg.fields] == ["x", "y", "z", "score", "id"] and msg.point_step == 20
    assert not msg.is_dense
    back = keypoints_3d_from_cloud(msg)
    np.testing.assert_array_equal(back[..., :3], points)
    np.testing.assert_array_equal(back[..., 3], scores)
    assert ids_from_cloud(msg).tolist() == [3, 9]


@pytest.mark.parametrize("encoding", ["16UC1", "32FC1"])
def test_depth_image_round_trip(encoding):
    depth = np.array([[0.5, 1.234], [np.nan, 7.0]], np.float32)
    back = depth_to_metres(depth_to_image(depth, Header(), encoding))
    assert np.isnan(back[1, 0]) and np.allclose(back[[0, 0, 1], [0, 1, 1]], [0.5, 1.234, 7.0], atol=1e-3)


def test_depth_image_big_endian_padded_and_bad():
    msg = depth_to_image(np.array([[1.5, 2.0]], np.float32), Header(), "16UC1")
    msg.is_bigendian = 1
    msg.data = np.array([[1500, 2000, 0]], ">u2").tobytes()  # padded row
    msg.step = 6
    assert np.allclose(depth_to_metres(msg), [[1.5, 2.0]])
    msg.encoding = "rgb8"
    with pytest.raises(ValueError, match="16UC1"):
        depth_to_metres(msg)
    msg.encoding, msg.data = "16UC1", b"\x00"
    with pytest.raises(ValueError, match="bytes"):
        depth_to_metres(msg)
