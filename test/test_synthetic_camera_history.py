"""The synthetic camera runs for hours without a per-frame history that grows."""
import time

import pytest
import rclpy
from rclpy.parameter import Parameter

import numpy as np

from vitpose_ros.synthetic.camera_node import STAMP_HISTORY, AnimatedPeople, SyntheticCamera


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


def _never_forgetting_animation(seed, people, width, height, times):
    """The poses at times[-1] of an animation that keeps every key pose (the behaviour before)."""
    from vitpose_ros import synthetic

    rng = np.random.default_rng(seed)
    tracks = [[synthetic.sample_pose(rng, width, height)] for _ in range(people)]
    for t in times:
        segment = int(t // 2.0)
        for track in tracks:
            while len(track) < segment + 2:
                track.append(synthetic.sample_pose(rng, width, height))
    segment, frac = divmod(times[-1] / 2.0, 1.0)
    eased = frac * frac * (3 - 2 * frac)
    poses = [synthetic.interpolate_pose(track[int(segment)], track[int(segment) + 1], eased) for track in tracks]
    return sorted(poses, key=lambda pose: pose.height)


def test_animation_keeps_only_the_key_poses_it_still_needs():
    animation = AnimatedPeople(3, 2, 64, 48)
    times = np.arange(0.0, 600.25, 0.25)  # ten minutes, 300 segments of 2 s
    for t in times:
        last = animation.people_at(t)
    assert all(len(track) <= 3 for track in animation.keyposes)
    # forgetting changes nothing: the same figures as an animation that kept everything
    assert [pose for _, pose in last] == _never_forgetting_animation(3, 2, 64, 48, times)
    with pytest.raises(ValueError, match="forward"):
        animation.people_at(10.0)


def test_a_late_camera_skips_capture_slots_instead_of_drifting(camera):
    """Stamps stay on the capture grid (first + slot / rate); a frame a whole period late takes the
    slot it is in, so later stamps do not fall behind the clock."""
    period_ns = 1e9 / camera.params["rate"]
    camera.publish_frame()
    first = camera.first_stamp_ns
    camera.publish_frame()  # on time (early, even): the next slot
    time.sleep(3.5 * period_ns / 1e9)  # slot 3 by the clock: slot 2 was missed
    camera.publish_frame()
    stamps = list(camera.recent_stamps)
    assert [round((s - first) / period_ns) for s in stamps] == [0, 1, 3]
    assert all((s - first) % round(period_ns) <= 1 for s in stamps)
