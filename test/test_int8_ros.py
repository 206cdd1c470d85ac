"""INT8 through ROS: precision:=int8 picks the INT8 sibling and diagnostics name the precision
(the INT8 demo through ROS: test_end_to_end.py)."""
import os
import subprocess
import sys

import numpy as np
import pytest
import rclpy
from model_factory import export_random_model
from ros_harness import Harness, detections_msg, diagnostic_values, image_msg
from test_runtime import scene

from vitpose_ros.core.estimator import PoseEstimator
from vitpose_ros.model.int8 import quantize_model
from vitpose_ros.ros.conversions import keypoints_from_cloud

BOXES = np.array([[100, 60, 260, 420], [330, 150, 450, 330]], float)
T0 = 1_700_000_000_000_000_000


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A model folder as the launch files expect it: vitpose_s_coco.onnx and its INT8 sibling."""
    folder = tmp_path_factory.mktemp("models")
    fp32 = export_random_model(folder / "vitpose_s_coco.onnx")
    quantize_model(fp32, mode="dynamic")  # -> vitpose_s_coco_int8.onnx
    return folder


@pytest.fixture()
def ros():
    rclpy.init()
    yield
    rclpy.shutdown()


def test_precision_int8_picks_the_int8_file_and_diagnostics_show_it(ros, model_dir, monkeypatch):
    monkeypatch.setenv("VITPOSE_MODEL_DIR", str(model_dir))
    harness = Harness({"model_size": "s", "precision": "int8", "providers": ["cpu"], "diagnostics_period": 0.2})
    try:
        assert harness.node.estimator.engine.model_path == model_dir / "vitpose_s_coco_int8.onnx"
        rgb = scene(0)
        harness.image_pub.publish(image_msg(rgb, T0))
        harness.det_pub.publish(detections_msg(BOXES, T0))
        received = keypoints_from_cloud(harness.wait_keypoints(1))
        expected = PoseEstimator(model_dir / "vitpose_s_coco_int8.onnx", providers="cpu").estimate(rgb, BOXES)
        np.testing.assert_allclose(received, expected, atol=1e-3)
        harness.wait_for(lambda: any("model_precision" in diagnostic_values(d) for d in harness.diagnostics),
                         "diagnostics", timeout=5)
        values = diagnostic_values(harness.diagnostics[-1])
        assert values["model_precision"] == "int8"
    finally:
        harness.close()


def test_missing_int8_model_names_the_convert_command(tmp_path):
    (tmp_path / "vitpose_b_coco.onnx").write_text("fp32 would be here")
    env = {**os.environ, "VITPOSE_MODEL_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "vitpose_ros.ros.node", "--ros-args", "-p", "precision:=int8"],
                            capture_output=True, text=True, timeout=60, env=env)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert str(tmp_path / "vitpose_b_coco_int8.onnx") in output and "python -m vitpose_ros.model.convert" in output

