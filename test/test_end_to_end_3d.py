"""Robot outputs through real ROS 2: synthetic camera with depth -> pose node -> /pose/keypoints_3d and ids.

The camera films two people crossing at 3.0 and 4.5 m (detections listed left to right, so rows
swap as they pass, and without detector ids: the node's tracker must tell them apart) and
publishes a depth image registered to the colour image plus the joints' true 3D positions.
"""
import time

import numpy as np
import pytest
import rclpy
from model_factory import export_random_model
from ros_harness import Harness, detections_msg, header, image_msg
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from test_runtime import scene

from vitpose_ros.ros.conversions import depth_to_image, ids_from_cloud, keypoints_3d_from_cloud
from vitpose_ros.synthetic.demo import run_demo

FRAMES = 24
BOXES = np.array([[100, 60, 260, 420], [330, 150, 450, 330]], float)
T0 = 1_700_000_100_000_000_000


@pytest.fixture(scope="module")
def crossing():
    return run_demo(frames=FRAMES, rate=5.0, scene="crossing", depth=True, providers=("cpu",), say=lambda line: None)


def test_every_frame_has_3d_keypoints_at_the_rendered_distance(crossing):
    assert crossing.frames_received >= FRAMES - 2 and set(crossing.keypoints_3d) == set(crossing.keypoints)
    checked = finite = 0
    for stamp, points in crossing.keypoints_3d.items():
        truth = crossing.truth_3d[stamp]
        assert points.shape == truth.shape == (2, 17, 4)
        np.testing.assert_array_equal(points[..., 3], crossing.keypoints[stamp][..., 2])  # scores as in 2D
        visible = truth[..., 3] == 2
        ok = visible & np.isfinite(points[..., 2])
        error = np.abs(points[..., 2] - truth[..., 2])[ok]
        assert (error <= 0.02 + 0.02 * truth[..., 2][ok]).all(), f"z off by up to {error.max():.3f} m"
        # x, y: the 2D keypoint through the intrinsics at that depth (camera: f = 554.26, centre 320, 240)
        kp = crossing.keypoints[stamp]
        np.testing.assert_allclose(points[..., 0][ok], (kp[..., 0][ok] - 320) * points[..., 2][ok] / 554.256, atol=1e-3)
        checked, finite = checked + visible.sum(), finite + ok.sum()
    assert finite >= 0.8 * checked  # joints whose window missed the figure come back NaN, not wrong


def test_track_ids_follow_the_people_through_the_crossing(crossing):
    identity_to_id, swaps = {}, 0
    for stamp in sorted(crossing.ids):
        identities, ids = crossing.truth_ids[stamp], crossing.ids[stamp]
        assert len(identities) == len(ids) == 2
        for identity, track_id in zip(identities.tolist(), ids.tolist()):
            assert identity_to_id.setdefault(identity, track_id) == track_id, "a person's id changed"
        swaps += identities[0] != next(iter(crossing.truth_ids.values()))[0]
    assert swaps > 0  # the rows really swapped (the people crossed)
    assert sorted(identity_to_id.values()) == [1, 2]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return export_random_model(tmp_path_factory.mktemp("depth") / "tiny.onnx")


@pytest.fixture()
def depth_harness(model):
    rclpy.init()
    h = Harness({"model_path": str(model), "providers": ["cpu"], "use_depth": True})
    h.depth_pub = h.peer.create_publisher(Image, "depth/image_raw", 10)
    h.keypoints_3d = []
    h.peer.create_subscription(PointCloud2, "pose/keypoints_3d", h.keypoints_3d.append, 50)
    h.wait_for(lambda: h.depth_pub.get_subscription_count() > 0
               and h.peer.count_publishers("/pose/keypoints_3d") > 0, "depth discovery")
    h.info_pub.publish(CameraInfo(header=header(T0), width=640, height=480, k=[500.0, 0, 320, 0, 500.0, 240, 0, 0, 1]))
    time.sleep(0.2)
    yield h
    h.close()
    rclpy.shutdown()


def _bad_depth(case, t_ns):
    good = np.full((480, 640), 2.5, np.float32)
    if case == "encoding":
        msg = depth_to_image(good, header(t_ns))
        msg.encoding = "mono8"
        return msg
    if case == "size":
        return depth_to_image(good[:240, :320], header(t_ns))
    if case == "zeros":
        return depth_to_image(np.zeros_like(good), header(t_ns))
    return depth_to_image(np.full_like(good, np.nan), header(t_ns), "32FC1")  # all NaN


@pytest.mark.parametrize("case", ["encoding", "size", "zeros", "nan"])
def test_bad_depth_is_skipped_and_2d_output_goes_on(depth_harness, case):
    h, rgb = depth_harness, scene(0)
    for i, depth in enumerate([_bad_depth(case, T0), depth_to_image(np.full((480, 640), 2.5, np.float32), header(T0 + 10**8))]):
        t_ns = T0 + i * 10**8
        h.depth_pub.publish(depth)
        time.sleep(0.05)
        h.image_pub.publish(image_msg(rgb, t_ns))
        h.det_pub.publish(detections_msg(BOXES, t_ns))
        h.wait_keypoints(i + 1)
        h.wait_for(lambda: len(h.keypoints_3d) >= i + 1, "keypoints_3d")
    h.wait_for(lambda: h.node.stats.frames_processed == 2, "the second frame counted")  # counted after publishing
    assert h.node.stats.depth_skipped == 1
    bad, good = (keypoints_3d_from_cloud(m) for m in h.keypoints_3d[:2])
    assert bad.shape == good.shape == (2, 17, 4)
    assert np.isnan(bad[..., :3]).all() and np.isfinite(bad[..., 3]).all()  # no depth: NaN x/y/z, scores kept
    # the good frame: every joint scoring above the threshold inside the image is at 2.5 m
    kp = h.keypoints[1]
    assert np.isfinite(good[..., 2]).any() and np.allclose(good[..., 2][np.isfinite(good[..., 2])], 2.5)
    assert ids_from_cloud(h.keypoints_3d[1]).tolist() == ids_from_cloud(kp).tolist() != [0, 0]


def test_detector_ids_become_stable_person_ids(depth_harness):
    from vitpose_ros.ros.conversions import boxes_to_detections

    h, rgb = depth_harness, scene(1)
    for i, names in enumerate([["alice", "bob"], ["bob", "alice"], ["carol", "alice"]]):
        t_ns = T0 + (10 + i) * 10**8
        h.image_pub.publish(image_msg(rgb, t_ns))
        h.det_pub.publish(boxes_to_detections(BOXES, header(t_ns), "person", [0.9, 0.9], ids=names))
        h.wait_keypoints(i + 1)
    assert [ids_from_cloud(m).tolist() for m in h.keypoints] == [[1, 2], [2, 1], [3, 1]]
