"""A camera that films synthetic people: Image + CameraInfo + Detection2DArray (+ ground truth).

    ros2 run vitpose_ros synthetic_camera --ros-args -p rate:=10.0 -p num_people:=2

Publishes camera/image_raw, camera/camera_info, detections (class "person", the renderer's boxes)
and synthetic/ground_truth (PointCloud2 like /pose/keypoints, third field = visibility 0/1/2), all
with the same header. ``mode`` "animated": figures move smoothly between random poses (demo);
"held_out": frame i is the i-th held-out evaluation scene (tests, accuracy through ROS).
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_msgs.msg import Header

from .. import synthetic
from .conversions import boxes_to_detections, keypoints_to_cloud, rgb_to_image

STAMP_HISTORY = 1000  # frames whose stamps the camera remembers (frame_number)


class AnimatedPeople:
    """Figures that walk from one random pose to the next (smoothstep), over a fixed backdrop."""

    def __init__(self, seed: int, num_people: int, width: int, height: int, seconds_per_pose: float = 2.0):
        self.rng = np.random.default_rng(seed)
        self.seed, self.width, self.height = seed, width, height
        self.seconds_per_pose = seconds_per_pose
        # per figure, the key poses of segments first_segment, first_segment + 1, ...; segments the
        # animation has moved past are dropped, so hours of animation keep a few poses each
        self.keyposes = [[self._new_pose()] for _ in range(num_people)]
        self.first_segment = 0

    def _new_pose(self):
        return synthetic.sample_pose(self.rng, self.width, self.height)

    def poses_at(self, t: float):
        segment, frac = divmod(t / self.seconds_per_pose, 1.0)
        segment = int(segment)
        if segment < self.first_segment:
            raise ValueError(f"the animation only moves forward: t={t} is before segment {self.first_segment}")
        eased = frac * frac * (3 - 2 * frac)
        poses = []
        for track in self.keyposes:
            while self.first_segment + len(track) < segment + 2:
                track.append(self._new_pose())
            del track[:segment - self.first_segment]
            poses.append(synthetic.interpolate_pose(track[0], track[1], eased))
        self.first_segment = segment
        # Far figures (smaller) first: the renderer draws in list order, nearest last.
        return sorted(poses, key=lambda p: p.height)

    def frame(self, t: float):
        return synthetic.render_poses(self.poses_at(t), self.width, self.height, background_seed=self.seed,
                                      augment=False)


def camera_info(header: Header, width: int, height: int) -> CameraInfo:
    """A pinhole camera with a 60 degree horizontal field of view."""
    f = width / (2 * np.tan(np.radians(30)))
    return CameraInfo(header=header, width=width, height=height, distortion_model="plumb_bob",
                      d=[0.0] * 5, k=[f, 0.0, width / 2, 0.0, f, height / 2, 0.0, 0.0, 1.0],
                      r=[1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0], p=[f, 0.0, width / 2, 0.0, 0.0, f, height / 2, 0.0, 0.0, 0.0, 1.0, 0.0])


class SyntheticCamera(Node):
    def __init__(self, **node_kwargs):
        super().__init__("synthetic_camera", **node_kwargs)
        self.declare_parameter("rate", 10.0)
        self.declare_parameter("width", 640)
        self.declare_parameter("height", 480)
        self.declare_parameter("num_people", 2)
        self.declare_parameter("seed", 0)
        self.declare_parameter("mode", "animated")  # or "held_out"
        self.declare_parameter("frames", 0)  # 0: forever
        self.declare_parameter("frame_id", "camera_optical_frame")
        p = {name: self.get_parameter(name).value for name in
             ("rate", "width", "height", "num_people", "seed", "mode", "frames", "frame_id")}
        if p["mode"] not in ("animated", "held_out"):
            raise ValueError(f"mode must be animated or held_out, got {p['mode']!r}")
        self.params = p
        self.animation = AnimatedPeople(p["seed"], p["num_people"], p["width"], p["height"])
        self.image_pub = self.create_publisher(Image, "camera/image_raw", 5)
        self.info_pub = self.create_publisher(CameraInfo, "camera/camera_info", 5)
        self.truth_pub = self.create_publisher(PointCloud2, "synthetic/ground_truth", 10)
        from vision_msgs.msg import Detection2DArray

        self.detections_pub = self.create_publisher(Detection2DArray, "detections", 10)
        self.frame_index = 0
        # stamp (ns) -> frame number of the latest frames, for matching results to frames; bounded so
        # a camera that runs for hours keeps no growing history
        self.recent_stamps: OrderedDict[int, int] = OrderedDict()
        self.timer = self.create_timer(1.0 / p["rate"], self.publish_frame)

    def frame_number(self, stamp_ns: int) -> int | None:
        """Which frame had this stamp (None: not published, or older than the last STAMP_HISTORY)."""
        return self.recent_stamps.get(stamp_ns)

    def render(self, index: int):
        if self.params["mode"] == "held_out":
            from ..synthetic.evaluate import render_eval_frame

            return render_eval_frame("scenes", index)
        return self.animation.frame(index / self.params["rate"])

    def publish_frame(self) -> None:
        if self.params["frames"] and self.frame_index >= self.params["frames"]:
            self.timer.cancel()
            self.get_logger().info(f"published {self.frame_index} frames; done")
            return
        image, boxes, truth = self.render(self.frame_index)
        header = Header(stamp=self.get_clock().now().to_msg(), frame_id=self.params["frame_id"])
        self.recent_stamps[header.stamp.sec * 1_000_000_000 + header.stamp.nanosec] = self.frame_index
        if len(self.recent_stamps) > STAMP_HISTORY:
            self.recent_stamps.popitem(last=False)
        self.truth_pub.publish(keypoints_to_cloud(truth, header))
        self.info_pub.publish(camera_info(header, image.shape[1], image.shape[0]))
        self.image_pub.publish(rgb_to_image(image, header))
        self.detections_pub.publish(boxes_to_detections(boxes, header))
        self.frame_index += 1


def main(args=None) -> int:
    from .spin import spin_node

    return spin_node(SyntheticCamera, args, startup_errors=(ValueError, ImportError), logger_name="synthetic_camera")


if __name__ == "__main__":
    import sys

    sys.exit(main())
