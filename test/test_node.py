"""The pose node through real rclpy + Fast DDS, with the real (test-support) vision_msgs."""
import os
import subprocess
import sys
import time

import numpy as np
import pytest
from model_factory import export_random_model
from rclpy.qos import ReliabilityPolicy
from ros_harness import Harness, detections_msg, diagnostic_values, header, image_msg
from sensor_msgs.msg import CameraInfo
from test_runtime import scene
from visualization_msgs.msg import Marker

from vitpose_ros.core.estimator import PoseEstimator
from vitpose_ros.ros.conversions import keypoints_from_cloud

BOXES = np.array([[100, 60, 260, 420], [330, 150, 450, 330]], float)
T0 = 1_700_000_000_000_000_000


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return export_random_model(tmp_path_factory.mktemp("node") / "tiny.onnx")


@pytest.fixture()
def harness(ros, model):
    h = Harness({"model_path": str(model), "providers": ["cpu"]})
    yield h
    h.close()


def test_keypoints_equal_the_estimator_and_keep_the_header(ros, model):
    # threshold 0: the random model's scores (all under 0.14) still show joints, so the markers are checked
    h = Harness({"model_path": str(model), "providers": ["cpu"], "keypoint_score_threshold": 0.0,
                 "marker_lifetime": 0.5})
    try:
        check_keypoints_markers_and_diagnostics(h, model)
    finally:
        h.close()


def check_keypoints_markers_and_diagnostics(harness, model):
    rgb = scene(0)
    harness.info_pub.publish(CameraInfo(header=header(T0), width=640, height=480,
                                        k=[500.0, 0, 320, 0, 500.0, 240, 0, 0, 1]))
    time.sleep(0.3)
    harness.image_pub.publish(image_msg(rgb, T0))
    harness.det_pub.publish(detections_msg(BOXES, T0))
    cloud = harness.wait_keypoints(1)
    assert cloud.header.stamp.sec == T0 // 10**9 and cloud.header.stamp.nanosec == T0 % 10**9
    assert cloud.header.frame_id == "camera_optical_frame"
    assert (cloud.height, cloud.width, cloud.point_step) == (2, 17, 16)
    assert [(f.name, f.offset, f.datatype) for f in cloud.fields] == [("x", 0, 7), ("y", 4, 7), ("score", 8, 7),
                                                                       ("id", 12, 6)]
    expected = PoseEstimator(model, providers=("cpu",)).estimate(rgb, BOXES)
    assert np.abs(keypoints_from_cloud(cloud) - expected).max() < 1e-4

    harness.wait_for(lambda: harness.markers, "markers")
    markers = harness.markers[0].markers
    assert markers[0].action == Marker.DELETEALL
    joints = [m for m in markers if m.type == Marker.SPHERE_LIST]
    limbs = [m for m in markers if m.type == Marker.LINE_LIST]
    assert len(joints) == len(limbs) == 2 and all(m.header.frame_id == "camera_optical_frame" for m in markers)
    # back-projection with the CameraInfo intrinsics onto the 3 m plane: every joint is shown at threshold 0
    assert len(joints[0].points) == 17
    xyz = np.array([(p.x, p.y, p.z) for p in joints[0].points])
    np.testing.assert_allclose(xyz[:, 2], 3.0)
    np.testing.assert_allclose(xyz[:, 0], (expected[0, :, 0] - 320) * 3.0 / 500.0, atol=1e-3)
    np.testing.assert_allclose(xyz[:, 1], (expected[0, :, 1] - 240) * 3.0 / 500.0, atol=1e-3)
    assert all(m.lifetime.sec == 0 and m.lifetime.nanosec == 500_000_000 for m in joints + limbs)
    harness.wait_for(lambda: harness.diagnostics, "diagnostics", timeout=5)
    values = diagnostic_values(harness.diagnostics[-1])
    assert values["execution_provider"] == values["provider_active"] == "CPUExecutionProvider"
    assert values["pipeline"] == "host"  # auto on CPU
    for key in ("fps", "latency_mean_ms", "latency_p95_ms", "frames_dropped", "persons_per_frame"):
        float(values[key])


def test_annotated_image_only_while_subscribed(harness):
    rgb = scene(1)
    harness.image_pub.publish(image_msg(rgb, T0 + 1))
    harness.det_pub.publish(detections_msg(BOXES[:1], T0 + 1))
    harness.wait_keypoints(1)
    harness.wait_for(lambda: harness.images, "annotated image")
    annotated = harness.images[0]
    assert (annotated.width, annotated.height, annotated.encoding) == (640, 480, "rgb8")
    assert annotated.header.stamp == harness.keypoints[0].header.stamp


def test_empty_detections_publish_height_zero(harness):
    harness.image_pub.publish(image_msg(scene(2), T0 + 5))
    harness.det_pub.publish(detections_msg([], T0 + 5))
    cloud = harness.wait_keypoints(1)
    assert cloud.height == 0 and cloud.width == 17 and keypoints_from_cloud(cloud).shape == (0, 17, 3)


def test_graph_pipeline_parameter_reaches_the_estimator(ros, model):
    h = Harness({"model_path": str(model), "providers": ["cpu"], "pipeline": "graph"})
    try:
        rgb = scene(1)
        h.image_pub.publish(image_msg(rgb, T0))
        h.det_pub.publish(detections_msg(BOXES, T0))
        cloud = h.wait_keypoints(1)
        assert h.node.estimator.pipeline == "graph"
        expected = PoseEstimator(model, providers=("cpu",), pipeline="host").estimate(rgb, BOXES)
        assert np.abs(keypoints_from_cloud(cloud)[..., :2] - expected[..., :2]).max() < 0.5
        h.wait_for(lambda: h.diagnostics, "diagnostics", timeout=5)
        assert diagnostic_values(h.diagnostics[-1], "provider")["pipeline"] == "graph"
    finally:
        h.close()


def test_class_score_and_count_filters(ros, model):
    h = Harness({"model_path": str(model), "providers": ["cpu"], "max_persons": 2, "min_box_score": 0.5})
    try:
        boxes = [[10, 10, 100, 200], [200, 10, 300, 200], [400, 10, 500, 200], [50, 250, 150, 470]]
        msg = detections_msg(boxes, T0, scores=[0.6, 0.4, 0.95, 0.8])
        car = detections_msg([[300, 300, 400, 400]], T0, class_id="car")
        msg.detections.append(car.detections[0])
        h.image_pub.publish(image_msg(scene(3), T0))
        h.det_pub.publish(msg)
        cloud = h.wait_keypoints(1)
        # 0.4 and the car are out; of 0.6/0.95/0.8 the two best stay, in detection order
        expected = PoseEstimator(h.node.estimator.engine.model_path, providers=("cpu",)).estimate(
            scene(3), np.array([boxes[2], boxes[3]], float))
        assert cloud.height == 2 and np.abs(keypoints_from_cloud(cloud) - expected).max() < 1e-4
    finally:
        h.close()


def test_sync_through_ros_exact_slop_and_out_of_order(harness):
    rgb = scene(4)
    # detections first, image after: exact pair
    harness.det_pub.publish(detections_msg(BOXES[:1], T0 + 10))
    time.sleep(0.1)
    harness.image_pub.publish(image_msg(rgb, T0 + 10))
    assert harness.wait_keypoints(1).header.stamp.nanosec == (T0 + 10) % 10**9
    # detection stamped 20 ms after its image (within 50 ms slop), once a later image exists
    harness.image_pub.publish(image_msg(rgb, T0 + 1_000_000_000))
    harness.image_pub.publish(image_msg(rgb, T0 + 1_100_000_000))
    time.sleep(0.2)
    harness.det_pub.publish(detections_msg(BOXES[:1], T0 + 1_020_000_000))
    assert harness.wait_keypoints(2).header.stamp.nanosec == (T0 + 1_000_000_000) % 10**9
    # 200 ms away from any image: never paired
    harness.det_pub.publish(detections_msg(BOXES[:1], T0 + 1_300_000_000))
    harness.image_pub.publish(image_msg(rgb, T0 + 1_500_000_000))
    time.sleep(1.0)
    assert len(harness.keypoints) == 2


def test_images_without_detections_and_detections_without_images(harness):
    for i in range(5):
        harness.image_pub.publish(image_msg(scene(0), T0 + i * 33_000_000))
        harness.det_pub.publish(detections_msg(BOXES, T0 + 9_000_000_000 + i * 33_000_000))  # no such images
    time.sleep(1.0)
    assert harness.keypoints == []
    images, detections = harness.node.sync.cache_sizes()
    assert images <= 30 and detections <= 30
    # still works afterwards
    harness.image_pub.publish(image_msg(scene(0), T0 + 20_000_000_000))
    harness.det_pub.publish(detections_msg(BOXES, T0 + 20_000_000_000))
    harness.wait_keypoints(1)


def test_burst_keeps_latency_bounded_and_processes_the_newest(harness):
    rgb = scene(5)
    frame = image_msg(rgb, 0)
    period = 5_000_000  # 200 images/s
    start, sent = time.monotonic(), 0
    while time.monotonic() - start < 3.0:
        t = T0 + sent * period
        frame.header = header(t)
        harness.image_pub.publish(frame)
        harness.det_pub.publish(detections_msg(BOXES, t))
        sent += 1
        time.sleep(max(0.0, start + sent * 0.005 - time.monotonic()))
    last = T0 + (sent - 1) * period
    harness.wait_for(lambda: harness.keypoints and harness.keypoints[-1].header.stamp.nanosec == last % 10**9
                     and harness.keypoints[-1].header.stamp.sec == last // 10**9, "the newest frame", timeout=10)
    images, detections = harness.node.sync.cache_sizes()
    assert images <= 30 and detections <= 30
    assert len(harness.keypoints) < sent  # the model is slower than 200 fps: older frames dropped
    dropped = harness.node.stats.frames_superseded + harness.node.sync.counters.images_dropped
    assert dropped > 0
    assert harness.node._worker.is_alive()


def bad_images():
    rgb = scene(6)
    short = image_msg(rgb, T0)
    short.data = short.data[:1000]
    step = image_msg(rgb, T0)
    step.step = 100
    empty = image_msg(rgb[:0], T0)
    mono16 = image_msg(rgb, T0)
    mono16.encoding = "mono16"
    return {"short data": short, "step mismatch": step, "zero size": empty, "unknown encoding": mono16}


@pytest.mark.parametrize("case", ["short data", "step mismatch", "zero size", "unknown encoding",
                                  "nan box", "inverted box", "box outside", "detections only"])
def test_bad_input_is_skipped_and_the_next_good_frame_works(harness, case):
    t = T0 + 100
    if case in ("nan box", "inverted box", "box outside"):
        box = {"nan box": [np.nan, 0, 50, 50], "inverted box": [300, 300, 200, 200],
               "box outside": [700, 500, 900, 700]}[case]
        harness.image_pub.publish(image_msg(scene(6), t))
        harness.det_pub.publish(detections_msg([box], t))
        cloud = harness.wait_keypoints(1)
        assert cloud.height == 0  # the bad box is dropped, the frame still published
    elif case == "detections only":
        harness.det_pub.publish(detections_msg(BOXES, t))
        time.sleep(0.5)
        assert harness.keypoints == []
    else:
        harness.image_pub.publish(bad_images()[case])
        harness.det_pub.publish(detections_msg(BOXES, T0))
        time.sleep(0.5)
        assert harness.keypoints == []
        assert harness.node.stats.frames_skipped >= 1
    count = len(harness.keypoints)
    good = T0 + 5_000_000_000
    harness.image_pub.publish(image_msg(scene(7), good))
    harness.det_pub.publish(detections_msg(BOXES, good))
    cloud = harness.wait_keypoints(count + 1)
    assert cloud.height == 2 and harness.node._worker.is_alive()


def test_other_encodings_and_padded_rows(harness, model):
    rgb = scene(8)
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    padded = image_msg(rgb, T0 + 1)
    padded.step = 640 * 3 + 64
    rows = np.zeros((480, padded.step), np.uint8)
    rows[:, :640 * 3] = rgb.reshape(480, -1)
    padded.data = rows.tobytes()
    expected = PoseEstimator(model, providers=("cpu",)).estimate(rgb, BOXES)
    for i, msg in enumerate([image_msg(bgr, T0 + 2, "bgr8"), padded,
                             image_msg(np.dstack([rgb, np.full((480, 640), 255, np.uint8)]), T0 + 3, "rgba8")]):
        harness.image_pub.publish(msg)
        harness.det_pub.publish(detections_msg(BOXES, msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec))
        cloud = harness.wait_keypoints(i + 1)
        assert np.abs(keypoints_from_cloud(cloud) - expected).max() < 1e-4, msg.encoding


def test_reliable_publisher_reaches_the_best_effort_node(ros, model):
    h = Harness({"model_path": str(model), "providers": ["cpu"]}, image_reliability=ReliabilityPolicy.RELIABLE)
    try:
        h.image_pub.publish(image_msg(scene(0), T0))
        h.det_pub.publish(detections_msg(BOXES, T0))
        h.wait_keypoints(1)
    finally:
        h.close()


def _env_without_vision_msgs():
    env = dict(os.environ)
    for key in ("PYTHONPATH", "LD_LIBRARY_PATH", "AMENT_PREFIX_PATH"):
        env[key] = os.pathsep.join(p for p in env.get(key, "").split(os.pathsep) if "ros_overlay" not in p)
    return env


def test_without_detections_and_without_vision_msgs(ros, model):
    env = _env_without_vision_msgs()
    check = subprocess.run([sys.executable, "-c", "import vision_msgs"], env=env, capture_output=True)
    assert check.returncode != 0  # really absent in the node's process
    node = subprocess.Popen([sys.executable, "-m", "vitpose_ros.ros.node", "--ros-args", "-p", f"model_path:={model}",
                             "-p", "providers:=[cpu]", "-p", "use_detections:=false", "-p", "roi:=[20,20,120,160]"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    h = Harness({}, use_detections=False, start_pose_node=False)
    try:
        # Across processes a best-effort sample travels as UDP fragments: keep it under the default
        # 208 KiB socket buffer (a 640x480 frame needs the larger buffers the README describes).
        rgb = scene(9, h=200, w=160)
        h.wait_for_pose_node(timeout=30)
        # a camera streams: resend until the first frame is through (best effort may drop one)
        deadline = time.monotonic() + 30
        while not h.keypoints and time.monotonic() < deadline:
            h.image_pub.publish(image_msg(rgb, T0))
            time.sleep(0.5)
        cloud = h.wait_keypoints(1, timeout=1)
        expected = PoseEstimator(model, providers=("cpu",)).estimate(rgb, [[20, 20, 140, 180]])
        assert np.abs(keypoints_from_cloud(cloud) - expected).max() < 1e-4
        assert node.poll() is None
    finally:
        h.close()
        node.terminate()
        print(node.communicate(timeout=10)[0])  # shown by pytest only when the test fails


def test_missing_model_fails_at_start_with_a_clear_message(tmp_path):
    missing = tmp_path / "nowhere" / "vitpose_b_coco.onnx"
    result = subprocess.run([sys.executable, "-m", "vitpose_ros.ros.node", "--ros-args", "-p", f"model_path:={missing}"],
                            capture_output=True, text=True, timeout=60)
    output = result.stdout + result.stderr
    assert result.returncode == 1
    assert "Traceback" not in output  # one fatal line, not a crash while shutting down
    assert str(missing) in output and "python -m vitpose_ros.model.export" in output
    assert f"python -m vitpose_ros.model.fetch --model b --output {missing}" in output
    # the default model file (what pose.launch.py model:=s loads): the exact fetch command, nothing to add
    env = dict(os.environ, VITPOSE_MODEL_DIR=str(tmp_path / "models"))
    result = subprocess.run([sys.executable, "-m", "vitpose_ros.ros.node", "--ros-args", "-p", "model_size:=s"],
                            capture_output=True, text=True, timeout=60, env=env)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and str(tmp_path / "models" / "vitpose_s_coco.onnx") in output
    assert "python -m vitpose_ros.model.fetch --model s " in output
    (tmp_path / "junk.onnx").write_text("not a model")
    result = subprocess.run([sys.executable, "-m", "vitpose_ros.ros.node", "--ros-args", "-p",
                             f"model_path:={tmp_path / 'junk.onnx'}"], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "not a loadable ONNX model" in result.stdout + result.stderr


def test_boxes_and_detections_round_trip():
    from vitpose_ros.ros.conversions import boxes_to_detections, detections_to_boxes

    msg = boxes_to_detections(BOXES, header(T0), scores=[0.7, 0.9])
    boxes, scores = detections_to_boxes(msg, ["person"], 0.0, 10)
    assert np.allclose(boxes, BOXES) and np.allclose(scores, [0.7, 0.9])
    assert [d.id for d in msg.detections] == ["0", "1"] and msg.header.stamp.nanosec == T0 % 10**9
    assert detections_to_boxes(boxes_to_detections(BOXES, header(T0), class_id="car"), ["person"], 0.0, 10)[0].shape == (0, 4)


def test_smoothing_parameters_change_live_through_the_parameter_service(ros, model):
    """Smoothed keypoints equal a KeypointSmoother fed the same raw keypoints and stamps, before and
    after `ros2 param set` (here: the SetParameters service) switches to the plain filter."""
    from rclpy.parameter import Parameter
    from rclpy.parameter_client import AsyncParameterClient

    from vitpose_ros.core.smoothing import KeypointSmoother
    from vitpose_ros.ros.conversions import boxes_to_detections, ids_from_cloud
    from vitpose_ros.ros.node import NODE_NAME

    h = Harness({"model_path": str(model), "providers": ["cpu"], "smoothing": True, "keypoint_score_threshold": 0.0})
    try:
        estimator = PoseEstimator(model, providers=("cpu",))
        reference = KeypointSmoother()
        frames = [scene(0), scene(1), scene(2), scene(0)]
        for i, rgb in enumerate(frames):
            if i == 2:  # live change between frames
                client = AsyncParameterClient(h.peer, NODE_NAME)
                assert client.wait_for_services(5.0)
                future = client.set_parameters([Parameter("smoothing_min_cutoff", value=0.5),
                                                Parameter("smoothing_trend", value=False)])
                h.wait_for(future.done, "parameter service")
                assert all(r.successful for r in future.result().results)
                reference.min_cutoff, reference.trend = 0.5, False
            t_ns = T0 + i * 100_000_000
            h.image_pub.publish(image_msg(rgb, t_ns))
            h.det_pub.publish(boxes_to_detections(BOXES, header(t_ns), ids=["alice", "bob"]))
            cloud = h.wait_keypoints(i + 1)
            assert ids_from_cloud(cloud).tolist() == [1, 2]
            expected = reference(estimator.estimate(rgb, BOXES), [1, 2], t_ns / 1e9, 0.0)
            np.testing.assert_allclose(keypoints_from_cloud(cloud), expected, atol=1e-3)
        raw = estimator.estimate(frames[-1], BOXES)
        assert np.abs(keypoints_from_cloud(cloud)[..., :2] - raw[..., :2]).max() > 0.5  # really filtered
    finally:
        h.close()


def test_detections_with_and_without_ids_get_person_ids_that_never_collide(harness):
    """Per detection: a detector id keeps its number, a detection without one takes its track's; the
    two kinds never share a number, and a track that carried a detector id keeps it when the id is gone."""
    from vitpose_ros.ros.conversions import boxes_to_detections, ids_from_cloud

    frames = [["alice", ""], ["alice", ""], ["", "bob"]]
    for i, names in enumerate(frames):
        t_ns = T0 + i * 10**8
        harness.image_pub.publish(image_msg(scene(0), t_ns))
        harness.det_pub.publish(boxes_to_detections(BOXES + 4 * i, header(t_ns), "person", [0.9, 0.9], ids=names))
        harness.wait_keypoints(i + 1)
    # alice 1, the unnamed second person the tracker's 2; then alice's box without its id stays 1
    # (its track carried it) and the second person, now named bob, gets a new number
    assert [ids_from_cloud(m).tolist() for m in harness.keypoints] == [[1, 2], [1, 2], [1, 3]]
