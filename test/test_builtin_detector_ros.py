"""detector:=builtin through real rclpy: the pose node detects persons itself (shipped synthetic
detector), estimates their poses and publishes them with no detections topic at all."""
import time

import numpy as np
import pytest
from model_factory import export_random_model
from rclpy.parameter import Parameter
from ros_harness import Harness, diagnostic_values, image_msg
from vision_msgs.msg import Detection2DArray

from vitpose_ros.core.detector import PersonDetector
from vitpose_ros.core.estimator import PoseEstimator
from vitpose_ros.ros.conversions import detections_to_boxes, ids_from_cloud, keypoints_from_cloud
from vitpose_ros.ros.node import PoseNode
from vitpose_ros.synthetic import demo_detector_path, demo_model_path
from vitpose_ros.synthetic.detector_evaluate import box_iou, evaluate_detector, render_eval_scene

T0 = 1_700_000_000_000_000_000


def test_builtin_detector_gives_keypoints_without_a_detections_topic(ros):
    image, truth, _ = render_eval_scene(2)  # three people
    harness = Harness({"model_path": str(demo_model_path()), "providers": ["cpu"], "detector": "builtin",
                       "detector_path": str(demo_detector_path()), "tracker": "none"}, use_detections=False)
    published = []
    harness.peer.create_subscription(Detection2DArray, "pose/detections", published.append, 10)
    try:
        assert harness.peer.count_subscribers("/detections") == 0  # nothing to publish boxes to
        harness.wait_for(lambda: harness.peer.count_publishers("/pose/detections") == 1, "pose/detections")
        harness.image_pub.publish(image_msg(image, T0))
        keypoints = keypoints_from_cloud(harness.wait_keypoints(1))
        # the same as the core pipeline on the same image: detector boxes, then pose in them
        boxes, _ = PersonDetector(demo_detector_path(), providers=("cpu",)).detect_persons(image, 0.3, 10)
        expected = PoseEstimator(demo_model_path(), providers=("cpu",)).estimate(image, boxes)
        assert len(keypoints) == len(boxes) >= 2 and len(truth) == 3
        assert np.abs(keypoints - expected).max() < 1e-4
        # a sanity check of the shipped detector: the boxes it kept here are people, and over the first
        # 20 held-out scenes (one crowded frame alone swings with any retraining) its AP@0.5 is near
        # its 1,000-scene figure in the models README
        assert (box_iou(truth, boxes).max(axis=0) >= 0.4).all()
        assert evaluate_detector(PersonDetector(demo_detector_path(), providers=("cpu",)), 20)["ap@0.5"] >= 0.85
        # the boxes the node used went out on pose/detections, with the image's stamp
        harness.wait_for(lambda: published, "pose/detections")
        sent, _ = detections_to_boxes(published[-1], ["person"], 0.0, 10)
        assert np.allclose(sent, boxes, atol=1e-3) and published[-1].header.stamp == image_msg(image, T0).header.stamp
        harness.wait_for(lambda: harness.diagnostics, "diagnostics")
        values = diagnostic_values(harness.diagnostics[-1], "provider")
        assert values["detector"] == "builtin" and values["detector_provider"] == "CPUExecutionProvider"
        # one provider choice and engine cache for both networks
        assert harness.node.detector.sessions is harness.node.estimator.engine.sessions
    finally:
        harness.close()


def test_builtin_detector_with_detect_every_runs_on_every_third_image_and_carries_ids(ros):
    image, _, _ = render_eval_scene(5)
    harness = Harness({"model_path": str(demo_model_path()), "providers": ["cpu"], "detector": "builtin",
                       "detector_path": str(demo_detector_path()), "detect_every": 3}, use_detections=False)
    published = []
    harness.peer.create_subscription(Detection2DArray, "pose/detections", published.append, 10)
    try:
        harness.wait_for(lambda: harness.peer.count_publishers("/pose/detections") == 1, "pose/detections")
        for i in range(6):  # one at a time: every image is processed, none superseded
            harness.image_pub.publish(image_msg(image, T0 + i * 100_000_000))
            harness.wait_keypoints(i + 1)
        harness.wait_for(lambda: len(published) >= 2, "two detection runs")
        time.sleep(0.3)
        # the detector ran on images 0 and 3 only; the others took boxes from the keypoints before
        assert [m.header.stamp.nanosec for m in published] == [image_msg(image, T0 + i * 100_000_000).header
                                                                .stamp.nanosec for i in (0, 3)]
        ids = [ids_from_cloud(m) for m in harness.keypoints]
        assert len(ids[0]) >= 2 and all(list(i) == list(ids[0]) for i in ids[1:3])  # carried, same people
    finally:
        harness.close()


def test_topic_detector_is_the_default_and_reports_so(ros, tmp_path):
    node = PoseNode(parameter_overrides=[Parameter("model_path", value=str(demo_model_path())),
                                         Parameter("providers", value=["cpu"])])
    try:
        assert node.wait_until_active()
        assert node.detector is None and node.params["detector"] == "topic"
        # the node's own rclpy subscriptions (asking the ROS graph instead races its discovery)
        assert any(sub.topic_name.endswith("/detections") for sub in node.subscriptions)
    finally:
        node.destroy_node()


@pytest.mark.parametrize("case", ["missing", "pose_model", "bad_choice"])
def test_unusable_detector_fails_at_start_with_a_clear_message(ros, tmp_path, case):
    params = {"model_path": str(demo_model_path()), "providers": ["cpu"], "detector": "builtin"}
    if case == "missing":
        params["detector_path"] = str(tmp_path / "none.onnx")
        words = "detector file not found"
    elif case == "pose_model":
        params["detector_path"] = str(export_random_model(tmp_path / "pose.onnx", image_size=(64, 48)))
        words = "no 'vitpose_detector' metadata"
    else:
        params["detector"] = "yolo"
        words = "detector must be one of topic, builtin"
    node = PoseNode(parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])
    try:  # autostart: configure fails with one line, and the process would exit 1
        assert not node.wait_until_active(timeout_s=60)
        assert node.finished.done() and node.finished.result() == 1
        assert words in node.configure_error and "\n" not in node.configure_error
    finally:
        node.destroy_node()
