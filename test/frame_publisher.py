"""A camera in its own process: publishes rgb8 frames best effort (sensor-data QoS) at a fixed rate.

    python test/frame_publisher.py TOPIC RATE_HZ WIDTHxHEIGHT:COUNT:FIRST_SEC [...]

Frame i of a group is stamped FIRST_SEC + i seconds, so a receiver can tell which it got. Waits
for a subscriber first; exits when all groups are published.
"""
import sys
import time

import numpy as np
import rclpy
from builtin_interfaces.msg import Time
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image


def main(argv):
    topic, rate = argv[0], float(argv[1])
    groups = []
    for spec in argv[2:]:
        size, count, first = spec.split(":")
        width, height = (int(v) for v in size.split("x"))
        groups.append((width, height, int(count), int(first)))
    rclpy.init()
    node = rclpy.create_node("frame_publisher")
    publisher = node.create_publisher(Image, topic, qos_profile_sensor_data)
    deadline = time.monotonic() + 30
    while publisher.get_subscription_count() == 0:
        if time.monotonic() > deadline:
            print("no subscriber", file=sys.stderr)
            return 1
        time.sleep(0.05)
    time.sleep(0.5)  # let the match settle on both sides
    rng = np.random.default_rng(0)
    for width, height, count, first in groups:
        msg = Image(height=height, width=width, encoding="rgb8", is_bigendian=0, step=width * 3)
        msg.header.frame_id = "camera_optical_frame"
        msg.data = rng.integers(0, 256, height * width * 3, dtype=np.uint8).tobytes()
        next_time = time.monotonic()
        for i in range(count):
            msg.header.stamp = Time(sec=first + i, nanosec=0)
            publisher.publish(msg)
            next_time += 1.0 / rate
            time.sleep(max(0.0, next_time - time.monotonic()))
    time.sleep(1.0)  # the last frames are still in flight
    node.destroy_node()
    rclpy.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
