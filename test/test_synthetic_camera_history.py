"""Issue 16: the synthetic camera runs for hours without a per-frame history that grows."""
import pytest
import rclpy
from rclpy.parameter import Parameter

from vitpose_ros.ros.synthetic_camera import STAMP_HISTORY, SyntheticCamera


@pytest.fixture()
def camera():
    context = rclpy.Context()
    rclpy.init(context=context)
    node = SyntheticCamera(context=context, parameter_overrides=[
        Parameter("width", value=64), Parameter("height", value=48), Parameter("num_people", value=1)])
    node.timer.cancel()  # frames are published by hand below
    yield node
    node.destroy_node()
    rclpy.shutdown(context=context)


def test_camera_remembers_only_the_latest_stamps(camera):
    stamps = []
    for _ in range(STAMP_HISTORY + 5):
        camera.publish_frame()
        stamps.append(next(reversed(camera.recent_stamps)))
    assert len(camera.recent_stamps) == STAMP_HISTORY
    assert camera.frame_number(stamps[-1]) == STAMP_HISTORY + 4
    assert camera.frame_number(stamps[5]) == 5  # the oldest still remembered
    assert camera.frame_number(stamps[4]) is None  # forgotten
