"""Time going back and sim time, through a real PoseNode and a peer node (test/ros_harness.py).

- A 40-frame sequence played twice with the same stamps (a bag on ``--loop``): the second pass
  is answered like the first, and /diagnostics counts one ``time_jumps``.
- ``use_sim_time``: the peer publishes /clock; the latency the node reports and the stamps and
  rate of its /diagnostics follow that clock, and a sim reset (clock and stamps back by minutes)
  is counted and processed.
"""
import time

import numpy as np
import pytest
import rclpy
from model_factory import export_random_model
from ros_harness import Harness, detections_msg, diagnostic_values, image_msg
from rosgraph_msgs.msg import Clock

from vitpose_ros.ros.conversions import keypoints_from_cloud

S = 1_000_000_000
RGB = np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8)
BOX = [[20, 10, 100, 115]]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return export_random_model(tmp_path_factory.mktemp("time") / "tiny.onnx", image_size=(64, 48))


def _stamp_ns(msg) -> int:
    return msg.header.stamp.sec * S + msg.header.stamp.nanosec


def _play(h, stamps, wait_s=1.0) -> int:
    """Publish image + detections per stamp, waiting (up to wait_s) for each answer; frames answered."""
    answered = 0
    for t_ns in stamps:
        before = len(h.keypoints)
        h.image_pub.publish(image_msg(RGB, t_ns))
        h.det_pub.publish(detections_msg(BOX, t_ns))
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline and not any(_stamp_ns(m) == t_ns for m in h.keypoints[before:]):
            time.sleep(0.005)
        answered += any(_stamp_ns(m) == t_ns for m in h.keypoints[before:])
    return answered


def test_a_looping_sequence_is_answered_on_the_second_pass(ros, model):
    h = Harness({"model_path": str(model), "providers": ["cpu"], "diagnostics_period": 0.2})
    try:
        stamps = [100 * S + i * S // 10 for i in range(40)]  # 100.0 .. 103.9 s, as a 10 fps bag
        first = _play(h, stamps)
        second = _play(h, stamps)
        print(f"\nlooped 40-frame sequence: {first}/40 answered on the first pass, {second}/40 on the second")
        assert first == 40 and second >= 38
        h.wait_for(lambda: h.diagnostics and diagnostic_values(h.diagnostics[-1])["time_jumps"] == "1",
                   "time_jumps 1 in /diagnostics", timeout=5)
        assert diagnostic_values(h.diagnostics[-1])["inputs_dropped_at_time_jump"] == "0"
        # the loop's frames came out in order with their own stamps and a person each
        tail = h.keypoints[-second:]
        assert [_stamp_ns(m) for m in tail] == stamps[-second:]
        assert all(keypoints_from_cloud(m).shape == (1, 17, 3) for m in tail)
    finally:
        h.close()


def test_under_sim_time_latency_and_diagnostics_follow_the_clock(ros, model):
    h = Harness({"model_path": str(model), "providers": ["cpu"], "use_sim_time": True, "diagnostics_period": 1.0})
    clock_pub = h.peer.create_publisher(Clock, "/clock", 10)
    try:
        def set_clock(t_ns):
            clock_pub.publish(Clock(clock=rclpy.time.Time(nanoseconds=t_ns).to_msg()))

        def move_clock_to(t_ns):  # until the node's clock reads it
            def arrived():
                set_clock(t_ns)
                time.sleep(0.02)
                return h.node.get_clock().now().nanoseconds == t_ns
            h.wait_for(arrived, f"the node clock at {t_ns / S:.0f} s")

        h.wait_for(lambda: clock_pub.get_subscription_count() > 0, "the node's /clock subscription")
        # The clock stands at 5000 s: a frame stamped 0.25 s earlier has 250 ms latency on it.
        move_clock_to(5000 * S)
        assert _play(h, [5000 * S - S // 4]) == 1
        time.sleep(1.5)  # wall time passes, sim time does not: no diagnostics timer beyond the clock's jump
        frozen = len(h.diagnostics)
        assert frozen <= 1 and all(_stamp_ns(m) == 5000 * S for m in h.diagnostics)
        # 4 s of sim time in 0.4 s of wall time: about four diagnostics, stamped on the sim clock
        for step in range(1, 41):
            set_clock(5000 * S + step * S // 10)
            time.sleep(0.01)
        h.wait_for(lambda: len(h.diagnostics) >= frozen + 3, "diagnostics on the sim clock", timeout=5)
        stamps = [_stamp_ns(m) for m in h.diagnostics[frozen:]]
        assert all(5000 * S < t <= 5004 * S for t in stamps) and len(stamps) <= 5
        assert diagnostic_values(h.diagnostics[-1])["latency_mean_ms"] == "250.0"
        # A sim reset: the clock and the stamps go back to 10 s; counted, then processed normally.
        move_clock_to(10 * S)
        assert _play(h, [10 * S - S // 10, 10 * S]) == 2
        assert h.node.stats.time_jumps == 1
    finally:
        h.close()
