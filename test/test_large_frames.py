"""Best-effort 640x480 and 1280x720 rgb8 frames from another process reach the pose node.

A camera process publishes with sensor-data QoS at 10 Hz; the pose node runs in a third process
with the Fast DDS profile pose.launch.py applies (config/fastdds_large_frames.xml, given to the
camera process too, as the README says). Without the profile Fast DDS's stock transports lose
nearly all of these frames (measured: 3/30 at 640x480, 0/30 at 1280x720).
"""
import os
import pathlib
import subprocess
import sys
import threading
import time

import pytest
import rclpy
from model_factory import export_random_model
from sensor_msgs.msg import PointCloud2

from vitpose_ros.ros.launch_args import FASTDDS_PROFILE_VARIABLES, dds_environment

REPO = pathlib.Path(__file__).resolve().parents[1]
FRAMES = 30  # per size, at 10 Hz
SIZES = {"640x480": 1000, "1280x720": 2000}  # size -> stamp seconds of its first frame


def run_camera_and_node(model, dds_env: dict) -> dict[str, set[int]]:
    """Frames whose keypoints came back, per size (their stamp seconds)."""
    env = {k: v for k, v in os.environ.items() if k not in FASTDDS_PROFILE_VARIABLES} | dds_env
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    topic = f"/frames_{os.getpid()}/image_raw"
    node = subprocess.Popen([sys.executable, "-m", "vitpose_ros.ros.node", "--ros-args", "-r", f"__ns:=/frames_{os.getpid()}",
                             "-r", f"camera/image_raw:={topic}", "-p", f"model_path:={model}", "-p", "providers:=[cpu]",
                             "-p", "use_detections:=false", "-p", "publish_markers:=false"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    context = rclpy.Context()
    rclpy.init(context=context)
    listener = rclpy.create_node("frames_listener", context=context)
    received = []
    listener.create_subscription(PointCloud2, f"/frames_{os.getpid()}/pose/keypoints",
                                 lambda msg: received.append(msg.header.stamp.sec), 100)
    executor = rclpy.executors.SingleThreadedExecutor(context=context)
    executor.add_node(listener)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    camera = None
    try:
        deadline = time.monotonic() + 30
        while listener.count_publishers(f"/frames_{os.getpid()}/pose/keypoints") == 0:
            assert time.monotonic() < deadline and node.poll() is None, "pose node did not start"
            time.sleep(0.1)
        groups = [f"{size}:{FRAMES}:{first}" for size, first in SIZES.items()]
        camera = subprocess.run([sys.executable, str(REPO / "test" / "frame_publisher.py"), topic, "10", *groups],
                                env=env, capture_output=True, text=True, timeout=60)
        assert camera.returncode == 0, camera.stderr
        time.sleep(0.5)
    finally:
        executor.shutdown(timeout_sec=2.0)
        spinner.join(timeout=5)
        listener.destroy_node()
        rclpy.shutdown(context=context)
        node.terminate()
        log = node.communicate(timeout=10)[0]
    got = set(received)
    if not got:
        print(log)  # shown by pytest when the test fails
    return {size: {s for s in got if first <= s < first + FRAMES} for size, first in SIZES.items()}


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return export_random_model(tmp_path_factory.mktemp("frames") / "tiny.onnx")


def test_large_best_effort_frames_from_another_process_reach_the_node(model):
    profile = dds_environment("auto", REPO, environ={})  # what pose.launch.py sets by default
    assert profile  # the shipped profile
    arrived = run_camera_and_node(model, profile)
    for size, stamps in arrived.items():
        assert len(stamps) >= 0.9 * FRAMES, f"{size}: keypoints for {len(stamps)} of {FRAMES} frames"
