"""The launch files under the real launch / launch_ros: the arguments `--show-args` lists, and
pose.launch.py (and vitpose_s.launch.py) actually starting the pose node on a small model.

Skipped where launch_ros is not installed (pip-only environments); test_launch_args.py covers the
same files there against recording stand-ins.
"""
import os
import pathlib
import threading
import time

import pytest

pytest.importorskip("launch_ros")  # before `launch`: a source checkout's launch/ folder imports as a namespace package
launch = pytest.importorskip("launch")

import numpy as np  # noqa: E402
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription, RegisterEventHandler  # noqa: E402
from launch.event_handlers import OnProcessExit  # noqa: E402
from launch.launch_description_sources import (PythonLaunchDescriptionSource,  # noqa: E402
                                               get_launch_description_from_python_launch_file)

from vitpose_ros.ros.launch_args import LAUNCH_ARGUMENTS, MODEL_SIZES, package_share_dir  # noqa: E402

SHARE = package_share_dir()
LAUNCH_FILES = ["pose.launch.py"] + [f"vitpose_{size}.launch.py" for size in MODEL_SIZES]


@pytest.mark.parametrize("name", LAUNCH_FILES)
def test_launch_files_declare_the_arguments(name):
    description = get_launch_description_from_python_launch_file(str(SHARE / "launch" / name))
    declared = [(e.name, e.description) for e in description.entities if isinstance(e, DeclareLaunchArgument)]
    expected = LAUNCH_ARGUMENTS if name == "pose.launch.py" else [a for a in LAUNCH_ARGUMENTS if a[0] != "model"]
    assert declared == [(n, d) for n, _, d in expected]
    # what `ros2 launch vitpose_ros <name> --show-args` lists (it follows includes)
    assert {action.name for action in description.get_launch_arguments()} == {n for n, _, _ in LAUNCH_ARGUMENTS}


def _installed_executable():
    """The launch files start `pose_node` of package vitpose_ros: that needs an ament install (colcon build)."""
    try:
        from ament_index_python.packages import get_package_prefix

        prefix = pathlib.Path(get_package_prefix("vitpose_ros"))
    except (ImportError, LookupError):
        return None
    executable = prefix / "lib" / "vitpose_ros" / "pose_node"
    return executable if executable.exists() else None


@pytest.mark.parametrize("name", ["pose.launch.py", "vitpose_s.launch.py"])
def test_launch_starts_the_pose_node(name, tmp_path):
    if _installed_executable() is None:
        pytest.skip("vitpose_ros is not installed in an ament prefix (colcon build, then source install/setup.bash)")
    import rclpy
    from model_factory import export_random_model
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import Image, PointCloud2
    from std_msgs.msg import Header

    model = export_random_model(tmp_path / "m.onnx")
    namespace = f"launch_test_{os.getpid()}"
    image_topic = f"/{namespace}/image"
    exits = []
    description = launch.LaunchDescription([
        RegisterEventHandler(OnProcessExit(on_exit=lambda event, context: exits.append(event.returncode))),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(str(SHARE / "launch" / name)),
            launch_arguments={"model_path": str(model), "use_detections": "false", "providers": "cpu",
                              "fp16": "false", "image": image_topic, "namespace": namespace}.items()),
    ])
    service = launch.LaunchService()
    service.include_launch_description(description)
    seen = {"keypoints": [], "nodes": []}
    run_done = threading.Event()

    def watch():
        context = rclpy.Context()
        rclpy.init(context=context)
        peer = rclpy.create_node("launch_test_peer", context=context)
        executor = SingleThreadedExecutor(context=context)
        try:
            image_pub = peer.create_publisher(Image, image_topic, 10)
            peer.create_subscription(PointCloud2, f"/{namespace}/pose/keypoints", seen["keypoints"].append, 10)
            executor.add_node(peer)
            rgb = np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8)
            deadline = time.monotonic() + 90.0  # model load, discovery
            next_image = 0.0
            while not seen["keypoints"] and not exits and time.monotonic() < deadline:
                if image_pub.get_subscription_count() > 0 and time.monotonic() > next_image:
                    msg = Image(header=Header(stamp=peer.get_clock().now().to_msg(), frame_id="camera_optical_frame"),
                                height=rgb.shape[0], width=rgb.shape[1], encoding="rgb8", step=rgb.shape[1] * 3)
                    msg.data = rgb.tobytes()
                    image_pub.publish(msg)
                    next_image = time.monotonic() + 0.2
                executor.spin_once(timeout_sec=0.05)
            seen["nodes"] = peer.get_node_names_and_namespaces()
        finally:
            executor.shutdown()
            peer.destroy_node()
            rclpy.shutdown(context=context)
            while not run_done.wait(0.5):  # until LaunchService.run() has returned
                service.shutdown()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        service.run()  # in the main thread (signal handlers); the watcher shuts it down
    finally:
        run_done.set()
    watcher.join(timeout=30)

    assert not watcher.is_alive()
    assert exits == [] or seen["keypoints"], f"pose node exited with {exits} before publishing"
    assert ("vitpose", f"/{namespace}") in seen["nodes"]
    assert seen["keypoints"], "no pose/keypoints message from the launched node"
    cloud = seen["keypoints"][0]
    assert (cloud.height, cloud.width) == (1, 17)
