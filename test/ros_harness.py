"""A real pose node plus a peer node that publishes inputs and records outputs, spun in a thread."""
import threading
import time

import numpy as np
import rclpy
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_msgs.msg import Header
from visualization_msgs.msg import MarkerArray

from vitpose_ros.ros.conversions import boxes_to_detections
from vitpose_ros.ros.node import PoseNode


def header(t_ns: int, frame_id="camera_optical_frame") -> Header:
    return Header(stamp=Time(sec=t_ns // 1_000_000_000, nanosec=t_ns % 1_000_000_000), frame_id=frame_id)


def image_msg(rgb: np.ndarray, t_ns: int, encoding="rgb8") -> Image:
    msg = Image(header=header(t_ns), height=rgb.shape[0], width=rgb.shape[1], encoding=encoding,
                is_bigendian=0, step=rgb.shape[1] * rgb.shape[2])
    msg.data = rgb.tobytes()
    return msg


def detections_msg(boxes, t_ns: int, class_id="person", scores=None):
    scores = [0.9] * len(boxes) if scores is None else scores
    return boxes_to_detections(boxes, header(t_ns), class_id, scores)


def diagnostic_values(array: DiagnosticArray, concern: str = "") -> dict:
    """Key -> value of the pose node's statuses in one /diagnostics message (of one concern:
    "pose estimation", "inputs", "pairing", "provider"; all of them when empty)."""
    return {kv.key: kv.value for status in array.status if status.name.endswith(concern) for kv in status.values}


def diagnostic_status(array: DiagnosticArray, concern: str):
    return next(status for status in array.status if status.name.endswith(f": {concern}"))


class Harness:
    def __init__(self, params: dict, use_detections=True, image_reliability=ReliabilityPolicy.BEST_EFFORT,
                 start_pose_node=True, wait_active=True):
        self.node = (PoseNode(parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])
                     if start_pose_node else None)
        self.peer = rclpy.create_node("test_peer")
        self.image_pub = self.peer.create_publisher(
            Image, "camera/image_raw", QoSProfile(depth=10, reliability=image_reliability))
        self.info_pub = self.peer.create_publisher(CameraInfo, "camera/camera_info", 10)
        self.det_pub = None
        if use_detections:
            from vision_msgs.msg import Detection2DArray

            self.det_pub = self.peer.create_publisher(Detection2DArray, "detections", 10)
        self.keypoints, self.markers, self.images, self.diagnostics = [], [], [], []
        self.peer.create_subscription(PointCloud2, "pose/keypoints", self.keypoints.append, 50)
        self.peer.create_subscription(MarkerArray, "pose/markers", self.markers.append, 50)
        self.peer.create_subscription(Image, "pose/image", self.images.append, 10)
        self.peer.create_subscription(DiagnosticArray, "/diagnostics", self.diagnostics.append, 10)
        # callbacks are light (inference runs on the pose node's own thread): one executor thread
        self.executor = SingleThreadedExecutor()
        for n in (self.node, self.peer):
            if n is not None:
                self.executor.add_node(n)
        self._thread = threading.Thread(target=self.executor.spin, daemon=True)
        self._thread.start()
        if self.node is not None and wait_active:
            self.wait_for_pose_node()

    def wait_for_pose_node(self, timeout=15.0):
        """Active (it configures and activates itself) and both directions discovered: our inputs
        reach the node, its keypoints reach us."""
        if self.node is not None:
            self.wait_for(lambda: self.node.lifecycle_state() == "active", "the pose node to activate", timeout)
        publishers = [self.image_pub] + ([self.det_pub] if self.det_pub else [])
        self.wait_for(lambda: all(p.get_subscription_count() > 0 for p in publishers)
                      and self.peer.count_publishers("/pose/keypoints") > 0, "pose node discovery", timeout)

    def wait_for(self, condition, what, timeout=15.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.01)
        raise AssertionError(f"timed out waiting for {what}")

    def wait_keypoints(self, count, timeout=15.0):
        self.wait_for(lambda: len(self.keypoints) >= count, f"{count} keypoint message(s)", timeout)
        return self.keypoints[count - 1]

    def close(self):
        for n in (self.node, self.peer):
            if n is not None:
                self.executor.remove_node(n)
        self.executor.shutdown(timeout_sec=2.0)
        self._thread.join(timeout=5.0)
        if self.node is not None:
            self.node.destroy_node()
        self.peer.destroy_node()
