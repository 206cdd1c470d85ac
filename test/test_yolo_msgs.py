"""yolo_ros input (detections_type: yolo_msgs) through real rclpy + Fast DDS, with the
test-support yolo_msgs (test/support/yolo_msgs, built by scripts/setup_env.sh), and the node
starting without yolo_msgs when it is not selected."""
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from model_factory import export_random_model
from ros_harness import Harness, header, image_msg
from test_runtime import scene

from vitpose_ros.core.estimator import PoseEstimator
from vitpose_ros.ros.conversions import keypoints_from_cloud, vision_person_boxes, yolo_person_boxes

yolo_msgs = pytest.importorskip("yolo_msgs.msg")
T0 = 1_700_000_000_000_000_000


def yolo_detections(t_ns, boxes, scores, class_names, class_ids=None, track_ids=None):
    """A yolo_ros DetectionArray: bbox = centre (Pose2D) + size (Vector2), class, score, track id."""
    msg = yolo_msgs.DetectionArray(header=header(t_ns))
    for i, (box, score, name) in enumerate(zip(boxes, scores, class_names)):
        x1, y1, x2, y2 = (float(v) for v in box)
        d = yolo_msgs.Detection(class_name=name, score=float(score))
        d.class_id = class_ids[i] if class_ids else (0 if name == "person" else 2)
        d.id = track_ids[i] if track_ids else ""
        d.bbox.center.position.x, d.bbox.center.position.y = (x1 + x2) / 2, (y1 + y2) / 2
        d.bbox.size.x, d.bbox.size.y = x2 - x1, y2 - y1
        msg.detections.append(d)
    return msg


BOXES = [[10, 10, 100, 200], [200, 10, 300, 200], [400, 10, 500, 200], [50, 250, 150, 470], [300, 300, 400, 400]]
SCORES = [0.6, 0.4, 0.95, 0.8, 0.99]
NAMES = ["person", "person", "person", "person", "car"]


def test_yolo_reader_filters_like_the_vision_msgs_reader():
    msg = yolo_detections(T0, BOXES, SCORES, NAMES, track_ids=["7", "8", "9", "10", "11"])
    persons = yolo_person_boxes(msg, ["person", "0"], 0.5, 2)
    # 0.4 and the car are out; of 0.6 / 0.95 / 0.8 the two best stay, in detection order, with their track ids
    assert np.allclose(persons.boxes, [BOXES[2], BOXES[3]]) and np.allclose(persons.scores, [0.95, 0.8])
    assert persons.ids == ["9", "10"]
    # class id alone (a model whose names differ) and class name alone both select
    by_id = yolo_detections(T0, BOXES[:1], [0.9], ["human"], class_ids=[0])
    assert yolo_person_boxes(by_id, ["0"], 0.0, 10).boxes.shape == (1, 4)
    assert yolo_person_boxes(by_id, ["person"], 0.0, 10).boxes.shape == (0, 4)
    # the same detections as vision_msgs give the same selection (one filter for both)
    from ros_harness import detections_msg

    vision = detections_msg(BOXES[:4], T0, scores=SCORES[:4])
    same = vision_person_boxes(vision, ["person"], 0.5, 2)
    assert np.allclose(same.boxes, persons.boxes) and np.allclose(same.scores, persons.scores)
    assert same.ids == ["2", "3"]  # vision_msgs Detection2D.id


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return export_random_model(tmp_path_factory.mktemp("yolo") / "tiny.onnx")


def test_node_reads_yolo_ros_detections_through_ros(ros, model):
    h = Harness({"model_path": str(model), "providers": ["cpu"], "detections_type": "yolo_msgs",
                 "max_persons": 2, "min_box_score": 0.5}, use_detections=False)
    try:
        yolo_pub = h.peer.create_publisher(yolo_msgs.DetectionArray, "detections", 10)
        h.wait_for(lambda: yolo_pub.get_subscription_count() > 0, "the node's yolo_msgs subscription")
        rgb = scene(3)
        h.image_pub.publish(image_msg(rgb, T0))
        yolo_pub.publish(yolo_detections(T0, BOXES, SCORES, NAMES, track_ids=["1", "2", "3", "4", "5"]))
        cloud = h.wait_keypoints(1)
        assert cloud.header.stamp.sec == T0 // 10**9 and cloud.header.stamp.nanosec == T0 % 10**9
        expected = PoseEstimator(model, providers=("cpu",)).estimate(rgb, np.array([BOXES[2], BOXES[3]], float))
        assert cloud.height == 2 and np.abs(keypoints_from_cloud(cloud) - expected).max() < 1e-4
    finally:
        h.close()


def _env_without_yolo_msgs():
    """This environment with the yolo_msgs overlay package (only that one) taken off the paths."""
    env = dict(os.environ)
    for key in ("PYTHONPATH", "LD_LIBRARY_PATH", "AMENT_PREFIX_PATH"):
        env[key] = os.pathsep.join(p for p in env.get(key, "").split(os.pathsep)
                                   if f"install{os.sep}yolo_msgs" not in p)
    return env


def _node(model, env, *params):
    return subprocess.Popen([sys.executable, "-m", "vitpose_ros.ros.node", "--ros-args", "-p", f"model_path:={model}",
                             "-p", "providers:=[cpu]", *[a for p in params for a in ("-p", p)]],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_node_without_yolo_msgs_starts_unless_selected(model):
    env = _env_without_yolo_msgs()
    check = subprocess.run([sys.executable, "-c", "import yolo_msgs.msg"], env=env, capture_output=True)
    assert check.returncode != 0  # really absent in the node's process
    assert subprocess.run([sys.executable, "-c", "import vision_msgs.msg"], env=env).returncode == 0

    selected = _node(model, env, "detections_type:=yolo_msgs")
    output = selected.communicate(timeout=60)[0]
    assert selected.returncode != 0
    assert "detections_type is yolo_msgs but yolo_msgs is not installed" in output and "yolo_ros" in output

    default = _node(model, env)  # vision_msgs (the default): starts, subscribes, keeps running
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(default.stdout), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any("subscribing" in line for line in lines):
            time.sleep(0.2)
        time.sleep(1.0)
        assert default.poll() is None, "".join(lines)
    finally:
        default.terminate()
        default.wait(timeout=10)
        reader.join(timeout=5)
    started = next(line for line in lines if "subscribing" in line)
    assert "/detections" in started
