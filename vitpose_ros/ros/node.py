"""The ROS 2 pose node: camera image + person detections in, keypoints and RViz markers out.

Subscribed (remappable):  camera/image_raw (Image; or camera/image_raw/compressed with
                          compressed:=true), detections (vision_msgs/Detection2DArray, unless
                          use_detections:=false), camera/camera_info (optional, markers only)
Published:                pose/keypoints (PointCloud2, persons x keypoints: x, y, score),
                          pose/markers (MarkerArray), pose/image (only while subscribed),
                          /diagnostics (1 Hz)

Callbacks only convert stamps and hand messages to the stamp sync; inference runs on a worker
thread that always takes the newest matched pair, so latency stays bounded when the model is
slower than the camera (older pairs are dropped and counted).
"""
from __future__ import annotations

import pathlib
import threading
import time

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2
from std_msgs.msg import Header
from visualization_msgs.msg import MarkerArray

from ..core.draw import draw_poses
from ..core.engine import DEFAULT_ENGINE_CACHE, ModelError
from ..core.estimator import PoseEstimator
from ..core.preprocess import sanitize_boxes
from .conversions import (UnsupportedEncoding, compressed_to_rgb, detections_to_boxes, image_to_rgb,
                          keypoints_to_cloud, rgb_to_image)
from .markers import Intrinsics, pose_markers
from .parameters import LIVE_PARAMETERS, MODEL_SIZES, NODE_NAME, PARAMETERS, PRECISIONS, default_model_path
from .stats import PipelineStats
from .sync import StampSync


class StartupError(RuntimeError):
    """The node cannot start (bad model or parameters); the message says what to do."""


def stamp_ns(stamp) -> int:
    return stamp.sec * 1_000_000_000 + stamp.nanosec


class PoseNode(Node):
    def __init__(self, **node_kwargs):
        super().__init__(NODE_NAME, **node_kwargs)
        self._declare_parameters()
        self.estimator = self._load_estimator()
        self.skeleton = self.estimator.skeleton
        self.stats = PipelineStats()
        self.sync = StampSync(int(self.params["sync_slop"] * 1e9), self.params["sync_cache_size"])
        self.intrinsics: Intrinsics | None = None
        self._unsupported_encodings: set[str] = set()
        self.last_frame_timings: dict[str, float] = {}
        self._create_publishers()
        self._subscribe_inputs()
        self.create_timer(self.params["diagnostics_period"], self._publish_diagnostics)
        self._start_worker()

    # -- start-up ------------------------------------------------------------------------------

    def _declare_parameters(self) -> None:
        for name, (default, description, extra) in PARAMETERS.items():
            self.declare_parameter(name, default, ParameterDescriptor(description=description, **extra))
        self.params = {name: self.get_parameter(name).value for name in PARAMETERS}
        self.add_on_set_parameters_callback(self._on_set_parameters)

    def _create_publishers(self) -> None:
        self.keypoints_pub = self.create_publisher(PointCloud2, "pose/keypoints", 10)
        self.markers_pub = self.create_publisher(MarkerArray, "pose/markers", 10)
        self.image_pub = self.create_publisher(Image, "pose/image", 2)
        self.diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)

    def _start_worker(self) -> None:
        self._pending = None  # newest matched (image, detections) awaiting inference
        self._wakeup = threading.Condition()
        self._stopping = False
        self._worker = threading.Thread(target=self._work_loop, name="vitpose_inference", daemon=True)
        self._worker.start()

    def _load_estimator(self) -> PoseEstimator:
        p = self.params
        if p["model_size"] not in MODEL_SIZES:
            raise StartupError(f"model_size must be one of {', '.join(MODEL_SIZES)}, got {p['model_size']!r}")
        if p["precision"] not in PRECISIONS:
            raise StartupError(f"precision must be one of {', '.join(PRECISIONS)}, got {p['precision']!r}")
        path = (pathlib.Path(p["model_path"]).expanduser() if p["model_path"]
                else default_model_path(p["model_size"], p["precision"]))
        if not path.is_file() and p["precision"] != "fp32" and not p["model_path"]:
            raise StartupError(
                f"model file not found: {path}. Convert the fp32 model: python -m vitpose_ros.model.convert "
                f"--input {default_model_path(p['model_size'])} --precision {p['precision']}")
        if not path.is_file():
            raise StartupError(
                f"model file not found: {path}. Get a model by exporting a ViTPose checkpoint: "
                f"python -m vitpose_ros.model.export --checkpoint vitpose-{p['model_size']}.pth --output {path} "
                "(or run the shipped demo: ros2 launch vitpose_ros demo.launch.py)")
        try:
            estimator = PoseEstimator(
                path, providers=list(p["providers"]), fp16=p["fp16"],
                engine_cache_dir=p["engine_cache_dir"] or DEFAULT_ENGINE_CACHE, flip_test=p["flip_test"],
                max_batch=p["max_batch"], device_id=p["device_id"], cpu_threads=p["cpu_threads"],
                logger=_RclpyLogAdapter(self.get_logger()))
        except (ModelError, ValueError) as exc:
            raise StartupError(f"cannot use model {path}: {exc}. Re-export it with python -m vitpose_ros.model.export") from None
        meta = estimator.metadata
        self.get_logger().info(
            f"model {path.name}: ViTPose-{meta.variant} {meta.dataset} ({meta.num_keypoints} keypoints, "
            f"input {meta.input_height}x{meta.input_width}, {meta.precision}) on {estimator.active_provider}")
        if p["precision"] != "fp32" and meta.precision != p["precision"]:
            self.get_logger().warning(f"precision is {p['precision']} but {path.name} says it is {meta.precision}; "
                                      f"running it as {meta.precision}")
        return estimator

    def _subscribe_inputs(self) -> None:
        p = self.params
        reliability = {"best_effort": ReliabilityPolicy.BEST_EFFORT, "reliable": ReliabilityPolicy.RELIABLE}.get(p["qos_reliability"])
        if reliability is None:
            raise StartupError(f"qos_reliability must be best_effort or reliable, got {p['qos_reliability']!r}")
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=p["qos_depth"], reliability=reliability)
        if p["compressed"]:
            image_sub = self.create_subscription(CompressedImage, "camera/image_raw/compressed", self._on_image, qos)
        else:
            image_sub = self.create_subscription(Image, "camera/image_raw", self._on_image, qos)
        self.create_subscription(CameraInfo, "camera/camera_info", self._on_camera_info, qos)
        topics = [image_sub.topic_name]
        if p["use_detections"]:
            try:
                from vision_msgs.msg import Detection2DArray
            except ImportError:
                raise StartupError("vision_msgs is not installed (apt install ros-$ROS_DISTRO-vision-msgs), "
                                   "or run without detections: use_detections:=false") from None
            topics.append(self.create_subscription(Detection2DArray, "detections", self._on_detections, qos).topic_name)
        self.get_logger().info(
            f"subscribing {', '.join(topics)} with QoS {p['qos_reliability']} depth {p['qos_depth']} "
            "(best_effort receives from best-effort and reliable publishers; reliable only from reliable ones)")

    def _on_set_parameters(self, parameters) -> SetParametersResult:
        for parameter in parameters:
            if parameter.name in PARAMETERS and PARAMETERS[parameter.name][2].get("read_only"):
                return SetParametersResult(successful=False, reason=f"{parameter.name} needs a restart")
        for parameter in parameters:
            if parameter.name in LIVE_PARAMETERS:
                self.params[parameter.name] = parameter.value
        return SetParametersResult(successful=True)

    # -- callbacks: small, no inference ----------------------------------------------------------

    def _on_camera_info(self, msg: CameraInfo) -> None:
        self.intrinsics = Intrinsics.from_camera_info(msg)

    def _on_image(self, msg) -> None:
        if not self.params["use_detections"]:
            self._offer(msg, None)
            return
        self._offer_newest(self.sync.add_image(stamp_ns(msg.header.stamp), msg))

    def _on_detections(self, msg) -> None:
        self._offer_newest(self.sync.add_detections(stamp_ns(msg.header.stamp), msg))

    def _offer_newest(self, pairs) -> None:
        if not pairs:
            return
        pairs.sort(key=lambda pair: pair[0])
        for _ in pairs[:-1]:
            self.stats.count("frames_superseded")
        _, image, detections = pairs[-1]
        self._offer(image, detections)

    def _offer(self, image, detections) -> None:
        with self._wakeup:
            if self._pending is not None:
                self.stats.count("frames_superseded")
            self._pending = (image, detections)
            self._wakeup.notify()

    # -- inference worker ----------------------------------------------------------------------

    def _work_loop(self) -> None:
        while True:
            with self._wakeup:
                self._wakeup.wait_for(lambda: self._pending is not None or self._stopping)
                if self._stopping:
                    return
                job, self._pending = self._pending, None
            try:
                self.process(*job)
            except Exception as exc:  # never let one frame take the node down
                self.stats.count("frames_skipped")
                self.get_logger().error(f"frame failed: {type(exc).__name__}: {exc}", throttle_duration_sec=5.0)

    def process(self, image_msg, detections_msg) -> np.ndarray | None:
        """One frame: convert, estimate, publish. Returns the keypoints, or None if skipped."""
        t0 = time.perf_counter()
        rgb = self._convert(image_msg)
        if rgb is None:
            return None
        boxes = self._person_boxes(detections_msg, rgb.shape[1], rgb.shape[0])
        t1 = time.perf_counter()
        keypoints = self.estimator.estimate(rgb, boxes)
        t2 = time.perf_counter()
        self._publish(image_msg.header, rgb, keypoints, boxes)
        t3 = time.perf_counter()
        self.last_frame_timings = {"convert": t1 - t0, "estimate": t2 - t1, "publish": t3 - t2}
        latency = (self.get_clock().now().nanoseconds - stamp_ns(image_msg.header.stamp)) / 1e9
        self.stats.record(latency, len(keypoints))
        return keypoints

    def _convert(self, msg) -> np.ndarray | None:
        try:
            return compressed_to_rgb(msg) if isinstance(msg, CompressedImage) else image_to_rgb(msg)
        except UnsupportedEncoding as exc:
            if exc.encoding not in self._unsupported_encodings:
                self._unsupported_encodings.add(exc.encoding)
                self.get_logger().warning(f"skipping frames: {exc}")
        except ValueError as exc:
            self.get_logger().warning(f"skipping malformed image: {exc}", throttle_duration_sec=5.0)
        self.stats.count("frames_skipped")
        return None

    def _person_boxes(self, detections_msg, width: int, height: int) -> np.ndarray:
        p = self.params
        if detections_msg is None:
            x, y, w, h = (list(p["roi"]) + [0, 0, 0, 0])[:4]
            boxes = np.array([[x, y, x + w, y + h]], float) if w > 0 and h > 0 else np.array([[0.0, 0.0, width, height]])
        else:
            boxes, _ = detections_to_boxes(detections_msg, p["person_class_ids"], p["min_box_score"], p["max_persons"])
        clipped, valid = sanitize_boxes(boxes, width, height)
        if not valid.all():
            self.get_logger().warning(
                f"ignoring {int((~valid).sum())} person box(es) that are NaN, inverted or outside the "
                f"{width}x{height} image", throttle_duration_sec=5.0)
        return clipped[valid]

    def _publish(self, header, rgb, keypoints, boxes) -> None:
        p = self.params
        self.keypoints_pub.publish(keypoints_to_cloud(keypoints, header))
        if p["publish_markers"]:
            intrinsics = self.intrinsics or Intrinsics.default_for(rgb.shape[1], rgb.shape[0])
            self.markers_pub.publish(pose_markers(keypoints, self.skeleton, header, intrinsics, p["marker_depth"],
                                                  p["keypoint_score_threshold"], p["marker_scale"]))
        if self.image_pub.get_subscription_count() > 0:
            annotated = draw_poses(rgb, keypoints, self.skeleton, p["keypoint_score_threshold"], boxes)
            self.image_pub.publish(rgb_to_image(annotated, header))

    # -- diagnostics ---------------------------------------------------------------------------

    @property
    def frames_dropped(self) -> int:
        """Images never estimated: superseded by a newer pair while busy, or aged out unmatched."""
        return self.stats.frames_superseded + self.sync.counters.images_dropped

    def _publish_diagnostics(self) -> None:
        summary = self.stats.summary()
        counters = self.sync.counters
        images_cached, detections_cached = self.sync.cache_sizes()
        values = {
            "fps": f"{summary['fps']:.2f}",
            "latency_mean_ms": f"{summary['latency_mean_ms']:.1f}",
            "latency_p95_ms": f"{summary['latency_p95_ms']:.1f}",
            "persons_per_frame": f"{summary['persons_mean']:.2f}",
            "execution_provider": self.estimator.active_provider,
            "model_precision": self.estimator.metadata.precision,
            "frames_processed": str(self.stats.frames_processed),
            "frames_dropped": str(self.frames_dropped),
            "frames_skipped_bad_input": str(self.stats.frames_skipped),
            "detections_dropped": str(counters.detections_dropped),
            "images_waiting": str(images_cached),
            "detections_waiting": str(detections_cached),
        }
        status = DiagnosticStatus(
            level=DiagnosticStatus.OK if self.stats.frames_processed else DiagnosticStatus.WARN,
            name=f"{self.get_name()}: pose estimation",
            message="running" if self.stats.frames_processed else "no frame processed yet",
            hardware_id=self.estimator.active_provider,
            values=[KeyValue(key=k, value=v) for k, v in values.items()],
        )
        self.diagnostics_pub.publish(DiagnosticArray(header=_header_now(self), status=[status]))

    def destroy_node(self) -> None:
        with self._wakeup:
            self._stopping = True
            self._wakeup.notify()
        self._worker.join(timeout=5.0)
        super().destroy_node()


def _header_now(node: Node):
    return Header(stamp=node.get_clock().now().to_msg())


class _RclpyLogAdapter:
    """Lets the core's logging calls (info/warning) go to the node's ROS logger."""

    def __init__(self, ros_logger):
        self._logger = ros_logger

    def info(self, message, *args):
        self._logger.info(message % args if args else message)

    def warning(self, message, *args):
        self._logger.warning(message % args if args else message)


def main(args=None) -> int:
    from .spin import spin_node

    return spin_node(PoseNode, args, startup_errors=(StartupError,), logger_name=NODE_NAME)


if __name__ == "__main__":
    import sys

    sys.exit(main())
