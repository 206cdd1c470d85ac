"""A camera that films synthetic people: Image + CameraInfo + Detection2DArray (+ ground truth).

    ros2 run vitpose_ros synthetic_camera --ros-args -p rate:=10.0 -p num_people:=2
    python -m vitpose_ros.synthetic.camera_node --ros-args -p rate:=10.0

Publishes camera/image_raw, camera/camera_info, detections (class "person", the renderer's boxes)
and synthetic/ground_truth (PointCloud2 like /pose/keypoints, third field = visibility 0/1/2, id =
which person the row is), all with the same header. ``mode`` "animated": figures move smoothly
between random poses (demo), or with ``scene:=crossing`` two people walk past each other at 3 and
4.5 m, detections listed left to right (tracking); "held_out": frame i is the i-th held-out
evaluation scene (tests, accuracy through ROS). With ``depth:=true`` (animated only) it also
publishes camera/aligned_depth_to_color/image_raw (16UC1 mm or 32FC1 m, ``depth_encoding``) and
its camera_info, as a RealSense does, and synthetic/ground_truth_3d (x, y, z metres, visibility,
id). ``detection_ids:=true`` puts each person's identity into Detection2D.id; by default the
detections carry no id (a detector without tracking).
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
from rclpy.node import Node
from rclpy.time import Time
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_msgs.msg import Header

from ..core.depth import Intrinsics
from ..ros.conversions import (boxes_to_detections, depth_to_image, keypoints_3d_to_cloud, keypoints_to_cloud,
                               rgb_to_image)
from .depth_scenes import CrossingPeople, SceneFrame, focal_length, render_people
from .pose import interpolate_pose
from .sampling import sample_pose

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
        return sample_pose(self.rng, self.width, self.height)

    def people_at(self, t: float):
        """[(identity from 1, Pose)] at ``t`` seconds, far to near."""
        segment, frac = divmod(t / self.seconds_per_pose, 1.0)
        segment = int(segment)
        if segment < self.first_segment:
            raise ValueError(f"the animation only moves forward: t={t} is before segment {self.first_segment}")
        eased = frac * frac * (3 - 2 * frac)
        people = []
        for identity, track in enumerate(self.keyposes, start=1):
            while self.first_segment + len(track) < segment + 2:
                track.append(self._new_pose())
            del track[:segment - self.first_segment]
            people.append((identity, interpolate_pose(track[0], track[1], eased)))
        self.first_segment = segment
        # Far figures (smaller) first: the renderer draws in list order, nearest last.
        return sorted(people, key=lambda item: item[1].height)


def camera_info(header: Header, width: int, height: int) -> CameraInfo:
    """A pinhole camera with a 60 degree horizontal field of view."""
    f = focal_length(width)
    return CameraInfo(header=header, width=width, height=height, distortion_model="plumb_bob",
                      d=[0.0] * 5, k=[f, 0.0, width / 2, 0.0, f, height / 2, 0.0, 0.0, 1.0],
                      r=[1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0],
                      p=[f, 0.0, width / 2, 0.0, 0.0, f, height / 2, 0.0, 0.0, 0.0, 1.0, 0.0])


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
        self.declare_parameter("scene", "random")  # animated mode: random | crossing
        self.declare_parameter("depth", False)
        self.declare_parameter("depth_encoding", "16UC1")  # or 32FC1
        self.declare_parameter("detection_ids", False)
        p = {name: self.get_parameter(name).value for name in
             ("rate", "width", "height", "num_people", "seed", "mode", "frames", "frame_id", "scene", "depth",
              "depth_encoding", "detection_ids")}
        if p["mode"] not in ("animated", "held_out"):
            raise ValueError(f"mode must be animated or held_out, got {p['mode']!r}")
        if p["scene"] not in ("random", "crossing"):
            raise ValueError(f"scene must be random or crossing, got {p['scene']!r}")
        if p["depth"] and p["mode"] != "animated":
            raise ValueError("depth needs mode animated (held-out scenes have no distances)")
        if p["depth_encoding"] not in ("16UC1", "32FC1"):
            raise ValueError(f"depth_encoding must be 16UC1 or 32FC1, got {p['depth_encoding']!r}")
        self.params = p
        self.animation = (CrossingPeople(p["width"], p["height"], seed=p["seed"]) if p["scene"] == "crossing"
                          else AnimatedPeople(p["seed"], p["num_people"], p["width"], p["height"]))
        self.image_pub = self.create_publisher(Image, "camera/image_raw", 5)
        self.info_pub = self.create_publisher(CameraInfo, "camera/camera_info", 5)
        self.truth_pub = self.create_publisher(PointCloud2, "synthetic/ground_truth", 10)
        from vision_msgs.msg import Detection2DArray

        self.detections_pub = self.create_publisher(Detection2DArray, "detections", 10)
        if p["depth"]:
            self.depth_pub = self.create_publisher(Image, "camera/aligned_depth_to_color/image_raw", 5)
            self.depth_info_pub = self.create_publisher(CameraInfo, "camera/aligned_depth_to_color/camera_info", 5)
            self.truth_3d_pub = self.create_publisher(PointCloud2, "synthetic/ground_truth_3d", 10)
        self.frame_index = 0
        self.first_stamp_ns: int | None = None
        self.slot = -1  # capture slot of the last frame (frames missed while late are skipped)
        # stamp (ns) -> frame number of the latest frames, for matching results to frames; bounded so
        # a camera that runs for hours keeps no growing history
        self.recent_stamps: OrderedDict[int, int] = OrderedDict()
        self.timer = self.create_timer(1.0 / p["rate"], self.publish_frame)

    def frame_number(self, stamp_ns: int) -> int | None:
        """Which frame had this stamp (None: not published, or older than the last STAMP_HISTORY)."""
        return self.recent_stamps.get(stamp_ns)

    def render(self, index: int, scene_time: float) -> SceneFrame:
        """Frame ``index`` (held-out mode: that evaluation frame) or the people at ``scene_time`` seconds."""
        p = self.params
        if p["mode"] == "held_out":
            from .evaluate import render_eval_frame

            image, boxes, truth = render_eval_frame("scenes", index)
            n = len(boxes)
            return SceneFrame(image, boxes, truth, np.arange(1, n + 1, dtype=np.uint32), np.full(n, np.nan), None)
        return render_people(self.animation.people_at(scene_time), p["width"], p["height"],
                             focal_length(p["width"]), background_seed=p["seed"], with_depth=p["depth"],
                             order_by_x=p["scene"] == "crossing")

    def publish_frame(self) -> None:
        if self.params["frames"] and self.frame_index >= self.params["frames"]:
            self.timer.cancel()
            self.get_logger().info(f"published {self.frame_index} frames; done")
            return
        # Like a hardware-clocked camera: frames are captured on a fixed grid (first stamp + slot /
        # rate) and the scene is what stands there at that time, so stamps and motion always agree.
        # A camera that falls a whole period behind drops the slots it missed, as a driver drops
        # stale frames, instead of stamping every later frame further in the past.
        now_ns = self.get_clock().now().nanoseconds
        if self.first_stamp_ns is None:
            self.first_stamp_ns = now_ns
        period_ns = 1e9 / self.params["rate"]
        self.slot = max(self.slot + 1, int((now_ns - self.first_stamp_ns) // period_ns))
        stamp_ns = self.first_stamp_ns + round(self.slot * period_ns)
        frame = self.render(self.frame_index, self.slot / self.params["rate"])
        image, boxes, truth = frame.image, frame.boxes, frame.keypoints
        header = Header(stamp=Time(nanoseconds=stamp_ns).to_msg(), frame_id=self.params["frame_id"])
        self.recent_stamps[stamp_ns] = self.frame_index
        if len(self.recent_stamps) > STAMP_HISTORY:
            self.recent_stamps.popitem(last=False)
        self.truth_pub.publish(keypoints_to_cloud(truth, header, frame.identities))
        info = camera_info(header, image.shape[1], image.shape[0])
        self.info_pub.publish(info)
        if frame.depth is not None:  # before the image: the pose node pairs depth by the image's stamp
            self.depth_info_pub.publish(info)
            self.depth_pub.publish(depth_to_image(frame.depth, header, self.params["depth_encoding"]))
            truth_3d = Intrinsics.from_camera_info(info).back_project(truth[..., :2], frame.distances[:, None])
            self.truth_3d_pub.publish(keypoints_3d_to_cloud(truth_3d, truth[..., 2], header, frame.identities))
        self.image_pub.publish(rgb_to_image(image, header))
        ids = [f"person_{i}" for i in frame.identities] if self.params["detection_ids"] else [""] * len(boxes)
        self.detections_pub.publish(boxes_to_detections(boxes, header, ids=ids))
        self.frame_index += 1


def main(args=None) -> int:
    from ..ros.spin import spin_node

    return spin_node(SyntheticCamera, args, startup_errors=(ValueError, ImportError), logger_name="synthetic_camera")


if __name__ == "__main__":
    import sys

    sys.exit(main())
