"""The ROS 2 pose node: camera image + person detections in, keypoints and RViz markers out.

Subscribed (remappable):  camera/image_raw (Image; or camera/image_raw/compressed with
                          compressed:=true), detections (vision_msgs/Detection2DArray, or
                          yolo_msgs/DetectionArray with detections_type:=yolo_msgs; unless
                          use_detections:=false), camera/camera_info (optional, markers and 3D),
                          depth/image_raw (with use_depth:=true; 16UC1 mm or 32FC1 m,
                          registered to the colour image)
Published:                pose/keypoints (PointCloud2, persons x keypoints: x, y, score, id),
                          pose/keypoints_3d (with use_depth: x, y, z in metres, score, id),
                          pose/markers (MarkerArray), pose/image (only while subscribed),
                          pose/detections (with detector:=builtin: its person boxes,
                          vision_msgs/Detection2DArray), /diagnostics (1 Hz)

With detector:=builtin the node runs a person detector ONNX (vitpose_ros.core.detector) on each
image itself, on the inference thread before pose, and subscribes to no detections topic.

Person ids come from the detector (Detection2D.id mapped to integers) or the built-in tracker;
optional One Euro smoothing per (id, keypoint) uses the image stamps as time.

Callbacks only convert stamps and hand messages to the stamp sync; inference runs on a worker
thread that always takes the newest matched pair, so latency stays bounded when the model is
slower than the camera (older pairs are dropped and counted).
"""
from __future__ import annotations

import importlib
import pathlib
import threading
import time

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2
from std_msgs.msg import Header
from visualization_msgs.msg import MarkerArray

from ..core.depth import Intrinsics, keypoints_to_3d
from ..core.detector import PersonDetector
from ..core.draw import draw_poses
from ..core.engine import DEFAULT_ENGINE_CACHE, ModelError
from ..core.estimator import PIPELINES, PoseEstimator
from ..core.metadata import precision_model_path
from ..core.model_files import fetch_command
from ..core.preprocess import sanitize_boxes
from ..core.smoothing import KeypointSmoother
from ..core.tracking import BoxTracker, IdRegistry
from .conversions import (DETECTION_READERS, UnsupportedEncoding, boxes_to_detections, compressed_to_rgb,
                          depth_image_array, image_to_rgb, keypoints_3d_to_cloud, keypoints_to_cloud, rgb_to_image)
from .markers import pose_markers
from .parameters import (DETECTORS, LIVE_PARAMETERS, MODEL_SIZES, NODE_NAME, PARAMETERS, PRECISIONS, TRACKERS,
                         default_detector_path, default_model_path)
from .stats import PipelineStats
from .sync import StampCache, StampSync


class StartupError(RuntimeError):
    """The node cannot start (bad model or parameters); the message says what to do."""


def stamp_ns(stamp) -> int:
    return stamp.sec * 1_000_000_000 + stamp.nanosec


class PoseNode(Node):
    def __init__(self, **node_kwargs):
        # Set before anything can fail: rclpy destroys a half-built node on shutdown.
        self._worker: threading.Thread | None = None
        super().__init__(NODE_NAME, **node_kwargs)
        self._declare_parameters()
        self.estimator = self._load_estimator()
        self.detector = self._load_detector()  # None: boxes come from the detections topic
        self.skeleton = self.estimator.skeleton
        self.stats = PipelineStats()
        self.sync = StampSync(int(self.params["sync_slop"] * 1e9), self.params["sync_cache_size"])
        self.intrinsics: Intrinsics | None = None
        self._create_identity_and_smoothing()
        self.depth_cache = StampCache(self.params["sync_cache_size"])  # depth images by stamp, for the worker
        self._depth_arrived = threading.Condition()
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

    def _create_identity_and_smoothing(self) -> None:
        if self.params["tracker"] not in TRACKERS:
            raise StartupError(f"tracker must be one of {', '.join(TRACKERS)}, got {self.params['tracker']!r}")
        self.detector_ids = IdRegistry()  # Detection2D.id strings -> stable integers
        self.tracker = BoxTracker() if self.params["tracker"] == "iou" else None
        self.smoother = KeypointSmoother()

    def _create_publishers(self) -> None:
        self.keypoints_pub = self.create_publisher(PointCloud2, "pose/keypoints", 10)
        self.keypoints_3d_pub = (self.create_publisher(PointCloud2, "pose/keypoints_3d", 10)
                                 if self.params["use_depth"] else None)
        self.markers_pub = self.create_publisher(MarkerArray, "pose/markers", 10)
        self.image_pub = self.create_publisher(Image, "pose/image", 2)
        self.diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.detections_pub = None  # detector:=builtin: what it found (where vision_msgs is installed)
        if self.detector is not None:
            try:
                from vision_msgs.msg import Detection2DArray

                self.detections_pub = self.create_publisher(Detection2DArray, "pose/detections", 10)
            except ImportError:
                self.get_logger().info("vision_msgs is not installed: the built-in detector's boxes are not published")

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
        if p["pipeline"] not in PIPELINES:
            raise StartupError(f"pipeline must be one of {', '.join(PIPELINES)}, got {p['pipeline']!r}")
        if p["precision"] not in PRECISIONS:
            raise StartupError(f"precision must be one of {', '.join(PRECISIONS)}, got {p['precision']!r}")
        default_path = precision_model_path(default_model_path(p["model_size"]), p["precision"])
        path = pathlib.Path(p["model_path"]).expanduser() if p["model_path"] else default_path
        if not path.is_file() and p["precision"] != "fp32" and not p["model_path"]:
            fp32_path = default_model_path(p["model_size"])
            first = "" if fp32_path.is_file() else f"{fetch_command(p['model_size'])}, then "
            raise StartupError(
                f"model file not found: {path}. Make it from the fp32 model: {first}python -m "
                f"vitpose_ros.model.convert --input {fp32_path} --precision {p['precision']}")
        if not path.is_file():
            fetch = fetch_command(p["model_size"]) + ("" if path == default_path else f" --output {path}")
            raise StartupError(
                f"model file not found: {path}. Download and export ViTPose-{p['model_size'].upper()}: {fetch} "
                f"(or export a checkpoint you have: python -m vitpose_ros.model.export --checkpoint CHECKPOINT "
                f"--output {path}; or run the shipped demo: ros2 launch vitpose_ros demo.launch.py)")
        try:
            estimator = PoseEstimator(
                path, providers=list(p["providers"]), fp16=p["fp16"],
                engine_cache_dir=p["engine_cache_dir"] or DEFAULT_ENGINE_CACHE, flip_test=p["flip_test"],
                max_batch=p["max_batch"], device_id=p["device_id"], cpu_threads=p["cpu_threads"],
                logger=_RclpyLogAdapter(self.get_logger()), pipeline=p["pipeline"])
        except (ModelError, ValueError) as exc:
            raise StartupError(f"cannot use model {path}: {exc}. Re-export it with python -m vitpose_ros.model.export") from None
        meta = estimator.metadata
        self.get_logger().info(
            f"model {path.name}: ViTPose-{meta.variant} {meta.dataset} ({meta.num_keypoints} keypoints, "
            f"input {meta.input_height}x{meta.input_width}, {meta.precision}) on {estimator.active_provider}, "
            f"{estimator.pipeline} pipeline")
        if p["precision"] != "fp32" and meta.precision != p["precision"]:
            self.get_logger().warning(f"precision is {p['precision']} but {path.name} says it is {meta.precision}; "
                                      f"running it as {meta.precision}")
        return estimator

    def _load_detector(self) -> PersonDetector | None:
        """The built-in person detector (detector:=builtin), on the pose network's engine settings."""
        p = self.params
        if p["detector"] not in DETECTORS:
            raise StartupError(f"detector must be one of {', '.join(DETECTORS)}, got {p['detector']!r}")
        if p["detector"] == "topic":
            return None
        path = pathlib.Path(p["detector_path"]).expanduser() if p["detector_path"] else default_detector_path()
        if not path.is_file():
            raise StartupError(f"detector file not found: {path}. Set detector_path to a person-detector ONNX "
                               "(the synthetic demo's: vitpose_ros/synthetic/models/person_detector_synthetic.onnx) "
                               "or use detector:=topic with a detections topic")
        try:
            detector = PersonDetector(path, providers=list(p["providers"]), fp16=p["fp16"],
                                      engine_cache_dir=p["engine_cache_dir"] or DEFAULT_ENGINE_CACHE,
                                      device_id=p["device_id"], cpu_threads=p["cpu_threads"],
                                      logger=_RclpyLogAdapter(self.get_logger()))
        except (ModelError, ValueError) as exc:
            raise StartupError(f"cannot use detector {path}: {exc}") from None
        meta = detector.metadata
        self.get_logger().info(f"built-in person detector {path.name} (input {meta.input_height}x{meta.input_width} "
                               f"{meta.resize}, class {meta.class_names[meta.person_class]!r}) "
                               f"on {detector.active_provider}")
        return detector

    def _subscribe_inputs(self) -> None:
        p = self.params
        reliability = {"best_effort": ReliabilityPolicy.BEST_EFFORT, "reliable": ReliabilityPolicy.RELIABLE}.get(p["qos_reliability"])
        if reliability is None:
            raise StartupError(f"qos_reliability must be best_effort or reliable, got {p['qos_reliability']!r}")
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=p["qos_depth"], reliability=reliability)
        # DDS tells us of images that never reached the node (best effort: gaps in the stream)
        self.images_lost = 0
        events = SubscriptionEventCallbacks(message_lost=self._on_images_lost)
        if p["compressed"]:
            image_sub = self.create_subscription(CompressedImage, "camera/image_raw/compressed", self._on_image, qos,
                                                 event_callbacks=events)
        else:
            image_sub = self.create_subscription(Image, "camera/image_raw", self._on_image, qos, event_callbacks=events)
        self.create_subscription(CameraInfo, "camera/camera_info", self._on_camera_info, qos)
        topics = [image_sub.topic_name]
        if p["use_depth"]:
            topics.append(self.create_subscription(Image, "depth/image_raw", self._on_depth, qos).topic_name)
        if p["use_detections"] and self.detector is None:
            message_type, self._read_persons = _detection_message(p["detections_type"])
            topics.append(self.create_subscription(message_type, "detections", self._on_detections, qos).topic_name)
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

    def _on_images_lost(self, info) -> None:
        self.images_lost += info.total_count_change

    def _on_image(self, msg) -> None:
        if self.detector is not None or not self.params["use_detections"]:  # nothing to pair with
            self._offer(msg, None)
            return
        self._offer_newest(self.sync.add_image(stamp_ns(msg.header.stamp), msg))

    def _on_depth(self, msg: Image) -> None:
        with self._depth_arrived:
            self.depth_cache.insert(stamp_ns(msg.header.stamp), msg)
            self.depth_cache.expire(self.depth_cache.newest)
            self._depth_arrived.notify_all()

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
        t_boxes = time.perf_counter()
        boxes, detection_ids = (self._detect_persons(rgb, image_msg.header) if self.detector is not None
                                else self._person_boxes(detections_msg, rgb.shape[1], rgb.shape[0]))
        t1 = time.perf_counter()
        keypoints = self.estimator.estimate(rgb, boxes)
        t2 = time.perf_counter()
        stamp_s = stamp_ns(image_msg.header.stamp) / 1e9
        ids = self.person_ids(boxes, detection_ids, stamp_s)
        keypoints = self.smooth(keypoints, ids, stamp_s)
        t3 = time.perf_counter()
        points_3d = self._keypoints_3d(image_msg.header, rgb.shape, keypoints) if self.params["use_depth"] else None
        t4 = time.perf_counter()
        self._publish(image_msg.header, rgb, keypoints, boxes, ids, points_3d)
        t5 = time.perf_counter()
        self.last_frame_timings = {"convert": t1 - t0, "estimate": t2 - t1, "track_smooth": t3 - t2,
                                   "detect": t1 - t_boxes if self.detector is not None else 0.0,
                                   "depth": t4 - t3, "publish": t5 - t4}
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

    def _detect_persons(self, rgb: np.ndarray, header) -> tuple[np.ndarray, list[str]]:
        """detector:=builtin: this frame's person boxes (clipped, none collapsed; published on
        pose/detections with their scores), no detection ids."""
        p = self.params
        boxes, scores = self.detector.detect_persons(rgb, p["min_box_score"], p["max_persons"])
        if self.detections_pub is not None:
            self.detections_pub.publish(boxes_to_detections(boxes, header, "person", scores, [""] * len(boxes)))
        return boxes.astype(np.float64), [""] * len(boxes)

    def _person_boxes(self, detections_msg, width: int, height: int) -> tuple[np.ndarray, list[str]]:
        """Valid person boxes (M, 4) and their detection id strings ("" where the detector gave none)."""
        p = self.params
        if detections_msg is None:
            x, y, w, h = (list(p["roi"]) + [0, 0, 0, 0])[:4]
            boxes = np.array([[x, y, x + w, y + h]], float) if w > 0 and h > 0 else np.array([[0.0, 0.0, width, height]])
            detection_ids = [""]
        else:
            persons = self._read_persons(detections_msg, p["person_class_ids"], p["min_box_score"], p["max_persons"])
            boxes, detection_ids = persons.boxes, persons.ids
        clipped, valid = sanitize_boxes(boxes, width, height)
        if not valid.all():
            self.get_logger().warning(
                f"ignoring {int((~valid).sum())} person box(es) that are NaN, inverted or outside the "
                f"{width}x{height} image", throttle_duration_sec=5.0)
        return clipped[valid], [i for i, ok in zip(detection_ids, valid) if ok]

    # -- identity, smoothing, depth ------------------------------------------------------------

    def person_ids(self, boxes: np.ndarray, detection_ids: list[str], stamp_s: float) -> np.ndarray:
        """Track id per row: the detector's ids when every person has one, else the tracker's (or 0)."""
        if detection_ids and all(detection_ids):
            ids, new = self.detector_ids.lookup(detection_ids)
            for key, number in new:
                self.get_logger().info(f"detection id {key!r} is person id {number}")
            return ids
        if self.tracker is None:
            return np.zeros(len(boxes), np.uint32)
        self.tracker.iou_threshold = self.params["tracker_iou_threshold"]
        self.tracker.max_age_s = self.params["tracker_max_age"]
        return self.tracker.update(boxes, stamp_s)

    def smooth(self, keypoints: np.ndarray, ids: np.ndarray, stamp_s: float) -> np.ndarray:
        p = self.params
        if not p["smoothing"]:
            self.smoother.reset()  # switched back on later: start fresh, not from stale state
            return keypoints
        s = self.smoother
        s.min_cutoff, s.beta, s.d_cutoff = p["smoothing_min_cutoff"], p["smoothing_beta"], p["smoothing_d_cutoff"]
        s.trend = p["smoothing_trend"]
        return s(keypoints, ids, stamp_s, p["keypoint_score_threshold"])

    def _keypoints_3d(self, header, shape, keypoints: np.ndarray) -> np.ndarray:
        """(N, K, 3) metres from the depth image of this frame's stamp; NaN where there is none."""
        points = np.full(keypoints.shape, np.nan, np.float32)
        depth_msg = self._depth_for(stamp_ns(header.stamp))
        if depth_msg is None:
            self.stats.count("depth_missing")
            self.get_logger().warning("no depth image within sync_slop of the colour image; keypoints_3d are NaN",
                                      throttle_duration_sec=5.0)
            return points
        p = self.params
        try:
            depth, scale = depth_image_array(depth_msg)
            if depth.shape != tuple(shape[:2]):
                raise ValueError(f"depth image is {depth.shape[1]}x{depth.shape[0]} but the colour image is "
                                 f"{shape[1]}x{shape[0]}; publish depth registered to colour (aligned_depth_to_color)")
            intrinsics = self.intrinsics or Intrinsics.default_for(shape[1], shape[0])
            found = keypoints_to_3d(keypoints, depth, intrinsics, p["depth_window"], p["depth_max_deviation"],
                                    p["depth_min"], p["depth_max"], p["keypoint_score_threshold"], scale)
            # Only when no joint found a depth is the whole image scanned (a good frame never pays it).
            if len(keypoints) and not np.isfinite(found).any() and not (depth > 0).any():  # NaN compares False
                raise ValueError("depth image has no valid pixel (all zero or NaN)")
        except ValueError as exc:
            self.stats.count("depth_skipped")
            self.get_logger().warning(f"skipping depth: {exc}", throttle_duration_sec=5.0)
            return points
        return found

    def _depth_for(self, stamp: int):
        """The depth image paired with colour ``stamp`` (nearest within sync_slop); waits up to
        sync_slop for it when no depth image at or after ``stamp`` has arrived yet."""
        slop_s = self.params["sync_slop"]
        with self._depth_arrived:
            self._depth_arrived.wait_for(lambda: (self.depth_cache.newest or 0) >= stamp, timeout=slop_s)
            return self.depth_cache.take_nearest(stamp, int(slop_s * 1e9))

    def _publish(self, header, rgb, keypoints, boxes, ids=None, points_3d=None) -> None:
        p = self.params
        self.keypoints_pub.publish(keypoints_to_cloud(keypoints, header, ids))
        if points_3d is not None:
            self.keypoints_3d_pub.publish(keypoints_3d_to_cloud(points_3d, keypoints[..., 2], header, ids))
        if p["publish_markers"]:
            intrinsics = self.intrinsics or Intrinsics.default_for(rgb.shape[1], rgb.shape[0])
            self.markers_pub.publish(pose_markers(keypoints, self.skeleton, header, intrinsics, p["marker_depth"],
                                                  p["keypoint_score_threshold"], p["marker_scale"], points_3d, ids))
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
            "pipeline": self.estimator.pipeline,
            "model_precision": self.estimator.metadata.precision,
            "detector": "builtin" if self.detector is not None else "topic",
            "detector_provider": self.detector.active_provider if self.detector is not None else "",
            "frames_processed": str(self.stats.frames_processed),
            "frames_dropped": str(self.frames_dropped),
            "frames_skipped_bad_input": str(self.stats.frames_skipped),
            "frames_lost_before_node": str(self.images_lost),
            "detections_dropped": str(counters.detections_dropped),
            "depth_dropped": str(self.depth_cache.dropped),
            "depth_missing": str(self.stats.depth_missing),
            "depth_skipped_bad_input": str(self.stats.depth_skipped),
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
        if self._worker is not None:
            with self._wakeup:
                self._stopping = True
                self._wakeup.notify()
            self._worker.join(timeout=5.0)
        super().destroy_node()


def _detection_message(detections_type: str):
    """(message class, reader) for the detections_type parameter; imported only when selected."""
    if detections_type not in DETECTION_READERS:
        raise StartupError(f"detections_type must be one of {', '.join(DETECTION_READERS)}, got {detections_type!r}")
    package, type_name, reader = DETECTION_READERS[detections_type]
    try:
        module = importlib.import_module(f"{package}.msg")
    except ImportError:
        install = {"vision_msgs": "apt install ros-$ROS_DISTRO-vision-msgs",
                   "yolo_msgs": "build yolo_ros's yolo_msgs in your workspace (github.com/mgonzs13/yolo_ros)"}[package]
        raise StartupError(f"detections_type is {detections_type} but {package} is not installed ({install}), "
                           "or pick the other detections_type, or run without detections: use_detections:=false") from None
    return getattr(module, type_name), reader


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
