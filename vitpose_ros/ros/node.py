"""The ROS 2 pose node: camera image + person detections in, keypoints and RViz markers out.

Subscribed (remappable):  camera/image_raw (Image; or camera/image_raw/compressed with
                          compressed:=true), detections (vision_msgs/Detection2DArray, or
                          yolo_msgs/DetectionArray with detections_type:=yolo_msgs; unless
                          use_detections:=false), camera/camera_info (optional, markers and 3D),
                          depth/image_raw (with use_depth:=true; 16UC1 mm or 32FC1 m,
                          registered to the colour image)
Published:                pose/keypoints (PointCloud2, persons x keypoints: x, y, score, id),
                          pose/keypoints_3d (with use_depth: x, y, z in metres, score, id),
                          pose/markers (MarkerArray) and pose/image (both built only while
                          subscribed), pose/detections (with detector:=builtin: its person boxes,
                          vision_msgs/Detection2DArray), /diagnostics (1 Hz, one status per
                          concern: diagnostics.py)

With detector:=builtin the node runs a person detector ONNX (vitpose_ros.core.detector) on the
inference thread before pose, and subscribes to no detections topic. With detect_every:=N the
frames between detections take each person's box from its keypoints in the previous frame
(core.box_carry).

Person ids come from the detector (Detection2D.id mapped to integers) or the built-in tracker;
optional One Euro smoothing per (id, keypoint) uses the image stamps as time.

Callbacks only convert stamps and hand messages to the stamp sync; inference runs on a worker
thread that always takes the newest matched pair, so latency stays bounded when the model is
slower than the camera (older pairs are dropped and counted).

A lifecycle node: ``configure`` loads the model, ``activate`` subscribes and starts inference,
``deactivate`` stops it, ``cleanup`` frees the model, ``shutdown`` ends the process (spin_node).
Transitions run on a thread of their own, so parameter services, GetState and /diagnostics keep
answering while a model loads or a TensorRT engine builds. ``autostart`` (default) configures and
activates at start-up; a configure that fails then ends the process with its one-line reason.
"""
from __future__ import annotations

import importlib
import pathlib
import threading
import time

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.task import Future
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2
from std_msgs.msg import Header
from visualization_msgs.msg import MarkerArray

from ..core.box_carry import BoxCarry
from ..core.depth import Intrinsics, keypoints_to_3d
from ..core.detector import PersonDetector
from ..core.draw import draw_poses
from ..core.engine import DEFAULT_ENGINE_CACHE, PROVIDER_NAMES, ModelError
from ..core.estimator import PIPELINES, PoseEstimator
from ..core.metadata import precision_model_path
from ..core.model_files import detector_fetch_command, fetch_command
from ..core.preprocess import sanitize_boxes
from ..core.smoothing import KeypointSmoother
from ..core.tracking import BoxTracker, PersonIds
from . import diagnostics, log_bridge
from .conversions import (DETECTION_READERS, UnsupportedEncoding, boxes_to_detections, compressed_to_rgb,
                          depth_image_array, image_to_rgb, keypoints_3d_to_cloud, keypoints_to_cloud, rgb_to_image)
from .markers import pose_markers
from .parameters import (DETECTORS, LIVE_PARAMETERS, MODEL_SIZES, NODE_NAME, PARAMETERS, PRECISIONS, TRACKERS,
                         default_detector_path, default_model_path)
from .stats import PipelineStats
from .sync import StampCache, StampSync, TimeJumpDetector

SUCCESS, FAILURE = TransitionCallbackReturn.SUCCESS, TransitionCallbackReturn.FAILURE
CPU_PROVIDER = PROVIDER_NAMES["cpu"]


class StartupError(RuntimeError):
    """The node cannot start (bad model or parameters); the message says what to do."""


# The detections of an image that paired with none (detect_every > 1): its boxes are carried.
NO_DETECTIONS = "no detections"


def stamp_ns(stamp) -> int:
    return stamp.sec * 1_000_000_000 + stamp.nanosec


class PoseNode(LifecycleNode):
    def __init__(self, **node_kwargs):
        # Set before anything can fail: rclpy destroys a half-built node on shutdown.
        self._worker: threading.Thread | None = None
        self._log_handler = None
        self._destroyed = False
        super().__init__(NODE_NAME, **node_kwargs)
        self._declare_parameters()
        self._log_handler = log_bridge.install(self.get_logger())
        self.stats = PipelineStats()
        self.estimator: PoseEstimator | None = None
        self.detector: PersonDetector | None = None
        self.sync: StampSync | None = None
        self.configure_error = ""
        self.finished = Future()  # result: the exit code; done when the process should end (spin_node)
        self._input_subscriptions: list = []
        self.images_lost = 0  # reported by DDS (message-lost events on the image subscription)
        self._transition_lock = threading.Lock()
        # Wakes the executor from other threads; its own group, which a pending ChangeState never blocks.
        self._wake = self.create_guard_condition(lambda: None, callback_group=ReentrantCallbackGroup())
        self.diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.create_timer(self.params["diagnostics_period"], self._publish_diagnostics)
        self._serve_change_state_off_the_executor()
        if self.params["autostart"]:
            self._in_transition_thread(self.trigger_configure, self.trigger_activate, on_failure=self._exit)

    # -- lifecycle -----------------------------------------------------------------------------

    def lifecycle_state(self) -> str:
        """unconfigured, configuring, inactive, activating, active, ..., finalized."""
        return self._state_machine.current_state[1]

    def wait_until_active(self, timeout_s: float = 60.0) -> bool:
        """For code that builds the node and uses it at once (autostart configures on a thread):
        True once active; False if configure failed or ``timeout_s`` passed."""
        deadline = time.monotonic() + timeout_s
        while self.lifecycle_state() != "active":
            if self.finished.done() or time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def _serve_change_state_off_the_executor(self) -> None:
        """ChangeState requests (ros2 lifecycle set) run their transition on the transition thread;
        the service answers when it is done while the executor goes on serving everything else."""
        service = self._service_change_state
        self._change_state_now = service.callback  # rclpy's handler: runs the transition, fills the response
        service.callback = self._on_change_state
        # A pending request holds its callback group: in a group of its own it blocks only other
        # ChangeState requests (one transition at a time), not timers, subscriptions or services.
        service.callback_group = MutuallyExclusiveCallbackGroup()
        service.callback_group.add_entity(service)

    async def _on_change_state(self, request, response):
        done = Future()
        self._in_transition_thread(lambda: self._change_state_now(request, response), done=done)
        await done
        if self.lifecycle_state() == "finalized":
            self._exit(0)  # the response goes out in this step, before spin_node sees the node finished
        return response

    def _in_transition_thread(self, *steps, done: Future | None = None, on_failure=None) -> None:
        """Run ``steps`` (transitions) one after another on a thread, one transition at a time.
        A step returning FAILURE/ERROR stops the rest and calls ``on_failure(1)``."""
        def run():
            result = None
            try:
                for step in steps:
                    with self._transition_lock:
                        if self._destroyed:
                            return
                        result = step()
                    if result in (TransitionCallbackReturn.FAILURE, TransitionCallbackReturn.ERROR):
                        if on_failure is not None:
                            on_failure(1)
                        break
            except Exception as exc:  # rclpy raises once the node is gone under it
                if not self._destroyed:
                    self.get_logger().error(f"lifecycle transition failed: {type(exc).__name__}: {exc}")
            finally:
                if done is not None:  # the ChangeState request always gets its answer
                    done.set_result(result)
                    self._wake_executor_now()

        threading.Thread(target=run, name="vitpose_lifecycle", daemon=True).start()

    def _wake_executor_now(self) -> None:
        if not self._destroyed:
            self._wake.trigger()

    def _exit(self, code: int) -> None:
        """Tell spin_node to end the process with ``code``."""
        if not self.finished.done():
            self.finished.set_result(code)
            self._wake_executor_now()

    def on_configure(self, state) -> TransitionCallbackReturn:
        try:
            self._configure()
        except StartupError as exc:
            return self._configure_failed(str(exc))
        except Exception as exc:
            return self._configure_failed(f"{type(exc).__name__}: {exc}")
        return super().on_configure(state)

    def _configure_failed(self, reason: str) -> TransitionCallbackReturn:
        self._release_model()
        if not self._destroyed:
            self.configure_error = reason
            self.get_logger().error(reason)
        return FAILURE

    def on_activate(self, state) -> TransitionCallbackReturn:
        result = super().on_activate(state)  # enables the lifecycle publishers
        self._start_worker()
        self._subscribe_inputs()
        self.stats.last.pop("waiting", None)
        self.stats.mark("activated")
        return result

    def on_deactivate(self, state) -> TransitionCallbackReturn:
        self._stop_inference()
        return super().on_deactivate(state)

    def on_cleanup(self, state) -> TransitionCallbackReturn:
        self._release_model()
        return super().on_cleanup(state)

    def on_shutdown(self, state) -> TransitionCallbackReturn:
        self._stop_inference()
        self._release_model()
        return SUCCESS

    def on_error(self, state) -> TransitionCallbackReturn:
        self._stop_inference()
        self._release_model()
        return SUCCESS  # back to unconfigured

    def destroy_node(self) -> None:
        # A transition under way (a model loading) gets a moment; a longer one finds the node gone.
        locked = self._transition_lock.acquire(timeout=2.0)
        self._destroyed = True
        try:
            self._stop_worker()  # waits for a running inference: nothing publishes on destroyed handles
        finally:
            if locked:
                self._transition_lock.release()
        if self._log_handler is not None:
            log_bridge.remove(self._log_handler)
            self._log_handler = None
        super().destroy_node()

    # -- configure: parameters, model, state -------------------------------------------------------

    def _declare_parameters(self) -> None:
        for name, (default, description, extra) in PARAMETERS.items():
            self.declare_parameter(name, default, ParameterDescriptor(description=description, **extra))
        self.params = {name: self.get_parameter(name).value for name in PARAMETERS}
        self.add_on_set_parameters_callback(self._on_set_parameters)

    def _configure(self) -> None:
        self.configure_error = ""
        self._qos = self._input_qos()
        if self.params["detector"] not in DETECTORS:
            raise StartupError(f"detector must be one of {', '.join(DETECTORS)}, got {self.params['detector']!r}")
        if self._detections_topic_used():
            self._detections_type, self._read_persons = _detection_message(self.params["detections_type"])
        if self.params["tracker"] not in TRACKERS:
            raise StartupError(f"tracker must be one of {', '.join(TRACKERS)}, got {self.params['tracker']!r}")
        self.estimator = self._load_estimator()
        self.detector = self._load_detector()  # None: boxes come from the detections topic
        if self._destroyed:
            raise StartupError("node destroyed while the model loaded")
        self._check_provider()
        self.skeleton = self.estimator.skeleton
        self.sync = StampSync(int(self.params["sync_slop"] * 1e9), self.params["sync_cache_size"])
        self.jump_detector = TimeJumpDetector(self.sync.max_age_ns)  # bag loops, sim resets: see _stamp_in_order
        self.intrinsics: Intrinsics | None = None
        self._create_identity_and_smoothing()
        self.depth_cache = StampCache(self.params["sync_cache_size"])  # depth images by stamp, for the worker
        self._depth_arrived = threading.Condition()
        self._unsupported_encodings: set[str] = set()
        self._create_publishers()

    def _create_identity_and_smoothing(self) -> None:
        self.tracker = BoxTracker() if self.params["tracker"] == "iou" else None
        self.identities = PersonIds(self.tracker)  # detector ids where given, else the tracker's
        self.smoother = KeypointSmoother()
        self.box_carry = BoxCarry(self.params["detect_every"], self.params["keypoint_score_threshold"],
                                  hold_missed=self.params["hold_missed"])

    def _create_publishers(self) -> None:
        """Lifecycle publishers: advertised once configured, publishing only while active."""
        self._publishers_made = [
            self.create_lifecycle_publisher(PointCloud2, "pose/keypoints", 10),
            (self.create_lifecycle_publisher(PointCloud2, "pose/keypoints_3d", 10)
             if self.params["use_depth"] else None),
            self.create_lifecycle_publisher(MarkerArray, "pose/markers", 10),
            self.create_lifecycle_publisher(Image, "pose/image", 2),
            self._detections_publisher(),
        ]
        (self.keypoints_pub, self.keypoints_3d_pub, self.markers_pub, self.image_pub,
         self.detections_pub) = self._publishers_made

    def _detections_publisher(self):
        """detector:=builtin: its person boxes on pose/detections, where vision_msgs is installed."""
        if self.detector is None:
            return None
        try:
            from vision_msgs.msg import Detection2DArray
        except ImportError:
            self.get_logger().info("vision_msgs is not installed: the built-in detector's boxes are not published")
            return None
        return self.create_lifecycle_publisher(Detection2DArray, "pose/detections", 10)

    def _detections_topic_used(self) -> bool:
        return self.params["use_detections"] and self.params["detector"] == "topic"

    def _release_model(self) -> None:
        """Drop the model (its sessions go with it) and the publishers: back to unconfigured."""
        for publisher in getattr(self, "_publishers_made", []):
            if publisher is not None and not self._destroyed:
                self.destroy_lifecycle_publisher(publisher)
        self._publishers_made = []
        self.estimator = None
        self.detector = None
        self.sync = None

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
            # the core logs through `logging`; log_bridge forwards it to this node's logger
            estimator = PoseEstimator(
                path, providers=list(p["providers"]), fp16=p["fp16"],
                engine_cache_dir=p["engine_cache_dir"] or DEFAULT_ENGINE_CACHE, flip_test=p["flip_test"],
                max_batch=p["max_batch"], device_id=p["device_id"], cpu_threads=p["cpu_threads"],
                pipeline=p["pipeline"])
        except (ModelError, ValueError) as exc:
            raise StartupError(f"cannot use model {path}: {exc}. Re-export it with "
                               "python -m vitpose_ros.model.export") from None
        self._log_model(path, estimator)
        return estimator

    def _load_detector(self) -> PersonDetector | None:
        """The built-in person detector (detector:=builtin), on the pose network's engine settings."""
        p = self.params
        if p["detector"] == "topic":
            return None
        path = pathlib.Path(p["detector_path"]).expanduser() if p["detector_path"] else default_detector_path()
        if not path.is_file():
            raise StartupError(f"detector file not found: {path}. Fetch one: {detector_fetch_command()} (or set "
                               "detector_path to a person-detector ONNX, e.g. the synthetic demo's "
                               "vitpose_ros/synthetic/models/person_detector_synthetic.onnx; or use detector:=topic "
                               "with a detections topic)")
        try:
            # the pose network's session factory: one provider choice, one engine cache
            detector = PersonDetector(path, sessions=self.estimator.engine.sessions)
        except (ModelError, ValueError) as exc:
            raise StartupError(f"cannot use detector {path}: {exc}") from None
        meta = detector.metadata
        self.get_logger().info(f"built-in person detector {path.name} (input {meta.input_height}x{meta.input_width} "
                               f"{meta.resize}, class {meta.class_names[meta.person_class]!r}) "
                               f"on {detector.active_provider}")
        return detector

    def _log_model(self, path: pathlib.Path, estimator: PoseEstimator) -> None:
        """One line saying what runs where; a warning when the provider fell back."""
        meta, active, requested = estimator.metadata, estimator.active_provider, _provider_requested(estimator)
        line = (f"model {path.name}: ViTPose-{meta.variant} {meta.dataset} ({meta.num_keypoints} keypoints, "
                f"input {meta.input_height}x{meta.input_width}, {meta.precision}) on {{}}, "
                f"{estimator.pipeline} pipeline")
        if active == requested:
            self.get_logger().info(line.format(active))
        else:  # (rclpy wants one severity per calling line)
            self.get_logger().warning(line.format(f"{active} ({requested} was requested but did not load)"))
        if self.params["precision"] != "fp32" and meta.precision != self.params["precision"]:
            self.get_logger().warning(f"precision is {self.params['precision']} but {path.name} says it is "
                                      f"{meta.precision}; running it as {meta.precision}")

    def _check_provider(self) -> None:
        """require_gpu: running on the CPU is a start-up error, not a silent fallback."""
        running = {"the model": self.estimator, "the person detector": self.detector}
        on_cpu = [name for name, part in running.items() if part is not None and part.active_provider == CPU_PROVIDER]
        if self.params["require_gpu"] and on_cpu:
            raise StartupError(
                f"require_gpu is true but ONNX Runtime runs {' and '.join(on_cpu)} on {CPU_PROVIDER} (providers "
                f"{', '.join(self.params['providers'])}; first usable: {_provider_requested(self.estimator)}): "
                "install onnxruntime-gpu with its CUDA/cuDNN (or TensorRT) libraries, or set require_gpu:=false")

    def _input_qos(self) -> QoSProfile:
        p = self.params
        reliability = {"best_effort": ReliabilityPolicy.BEST_EFFORT,
                       "reliable": ReliabilityPolicy.RELIABLE}.get(p["qos_reliability"])
        if reliability is None:
            raise StartupError(f"qos_reliability must be best_effort or reliable, got {p['qos_reliability']!r}")
        return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=p["qos_depth"], reliability=reliability)

    # -- activate / deactivate: subscriptions and the inference worker ---------------------------

    def _subscribe_inputs(self) -> None:
        p, qos = self.params, self._qos
        # DDS tells us of images that never reached the node (best effort: gaps in the stream)
        events = SubscriptionEventCallbacks(message_lost=self._on_images_lost)
        if p["compressed"]:
            image_sub = self.create_subscription(CompressedImage, "camera/image_raw/compressed", self._on_image, qos,
                                                 event_callbacks=events)
        else:
            image_sub = self.create_subscription(Image, "camera/image_raw", self._on_image, qos, event_callbacks=events)
        subs = [image_sub, self.create_subscription(CameraInfo, "camera/camera_info", self._on_camera_info, qos)]
        if p["use_depth"]:
            subs.append(self.create_subscription(Image, "depth/image_raw", self._on_depth, qos))
        if self._detections_topic_used():
            subs.append(self.create_subscription(self._detections_type, "detections", self._on_detections, qos))
        self._input_subscriptions = subs
        topics = [s.topic_name for s in subs if s.msg_type is not CameraInfo]
        self.get_logger().info(
            f"subscribing {', '.join(topics)} with QoS {p['qos_reliability']} depth {p['qos_depth']} "
            "(best_effort receives from best-effort and reliable publishers; reliable only from reliable ones)")

    def _stop_inference(self) -> None:
        """No new input, then the running inference ends (its frame is not published)."""
        for subscription in self._input_subscriptions:
            self.destroy_subscription(subscription)
        self._input_subscriptions = []
        self._stop_worker()

    def _start_worker(self) -> None:
        self._pending = None  # newest matched (image, detections) awaiting inference
        self._wakeup = threading.Condition()
        self._stopping = False
        self._worker = threading.Thread(target=self._work_loop, name="vitpose_inference", daemon=True)
        self._worker.start()

    def _stop_worker(self) -> None:
        worker, self._worker = self._worker, None
        if worker is None:
            return
        with self._wakeup:
            self._stopping = True
            self._wakeup.notify()
        worker.join(timeout=0.5)
        if worker.is_alive():
            self.get_logger().info("waiting for the running inference to finish")
            worker.join()

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
        self.stats.arrived("image")
        if self.sync is None or not self._stamp_in_order(msg.header.stamp, "image"):
            return
        if not self._detections_topic_used():  # nothing to pair with
            self._offer(msg, None)
            return
        stamp = stamp_ns(msg.header.stamp)
        pairs = self.sync.add_image(stamp, msg)
        if self.params["detect_every"] > 1:  # images the pairing window has passed get carried boxes
            for _, image in self.sync.take_unpaired_images(stamp - int(self.params["sync_slop"] * 1e9)):
                self._offer(image, NO_DETECTIONS)
        self._offer_newest(pairs)

    def _on_depth(self, msg: Image) -> None:
        self.stats.arrived("depth")
        if self.sync is None or not self._stamp_in_order(msg.header.stamp, "depth"):
            return
        with self._depth_arrived:
            self.depth_cache.insert(stamp_ns(msg.header.stamp), msg)
            self.depth_cache.expire(self.depth_cache.newest)
            self._depth_arrived.notify_all()

    def _on_detections(self, msg) -> None:
        self.stats.arrived("detections")
        if self.sync is None or not self._stamp_in_order(msg.header.stamp, "detections"):
            return
        self._offer_newest(self.sync.add_detections(stamp_ns(msg.header.stamp), msg))

    def _stamp_in_order(self, stamp, source: str) -> bool:
        """Every input's stamp goes through here. When time went back further than the pairing
        window, the pairing and depth caches start over (the tracker, ids and smoother restart on
        their own when stamps go back); False for a straggler from before the jump, to be dropped."""
        verdict = self.jump_detector.check(stamp_ns(stamp))
        if verdict == TimeJumpDetector.STALE:
            self.stats.count("inputs_dropped_at_time_jump")
            return False
        if verdict == TimeJumpDetector.JUMP:
            self.sync.reset()
            with self._depth_arrived:
                self.depth_cache.clear()
            self.stats.count("time_jumps")
            self.get_logger().warning(
                f"{source} stamp went back {self.jump_detector.last_jump_s:.1f} s (bag loop, sim reset or driver "
                "restart): pairing, depth, tracker and smoother start over")
        return True

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
        self.stats.offered()

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
                if not self._may_publish():
                    return  # ROS went down under a frame in flight (Ctrl-C): nothing is wrong with it
                reason = f"{type(exc).__name__}: {exc}"
                self.stats.record_failure(reason)
                self.get_logger().error(f"frame failed: {reason}", throttle_duration_sec=5.0)

    def _may_publish(self) -> bool:
        """False once deactivating or shutting down, or once Ctrl-C has shut ROS down."""
        return not self._stopping and self.context.ok()

    def process(self, image_msg, detections_msg) -> np.ndarray | None:
        """One frame: convert, estimate, publish. Returns the keypoints, or None if skipped."""
        rgb = self._convert(image_msg)
        if rgb is None:
            return None
        builtin = self.detector is not None
        carried = None
        if detections_msg is NO_DETECTIONS or (builtin and not self.box_carry.detection_due):
            carried = self.box_carry.carried()
            if carried is None:
                self.stats.count("frames_superseded")  # no detections recent enough: as if it never paired
                return None
            boxes, ids = carried
        elif builtin:
            boxes, detection_ids = self._detect_persons(rgb, image_msg.header)
        else:
            boxes, detection_ids = self._person_boxes(detections_msg, rgb.shape[1], rgb.shape[0])
        stamp_s = stamp_ns(image_msg.header.stamp) / 1e9
        if carried is None:  # fresh detections, then the persons they missed that are still held
            self.box_carry.hold_missed = self.params["hold_missed"]
            boxes, ids = self.box_carry.detected(boxes, self.person_ids(boxes, detection_ids, stamp_s))
        keypoints = self.estimator.estimate(rgb, boxes)
        if not self._may_publish():
            return None
        self.box_carry.score_threshold = self.params["keypoint_score_threshold"]
        self.box_carry.observe(keypoints, ids)
        keypoints = self.smooth(keypoints, ids, stamp_s)
        points_3d = self._keypoints_3d(image_msg.header, rgb.shape, keypoints) if self.params["use_depth"] else None
        self._publish(image_msg.header, rgb, keypoints, boxes, ids, points_3d)
        latency = (self.get_clock().now().nanoseconds - stamp_ns(image_msg.header.stamp)) / 1e9
        self.stats.record(latency, len(keypoints))
        return keypoints

    def _detect_persons(self, rgb: np.ndarray, header) -> tuple[np.ndarray, list[str]]:
        """detector:=builtin: this frame's person boxes (published on pose/detections with their
        scores), without detection ids: the tracker gives the person ids."""
        p = self.params
        boxes, scores = self.detector.detect_persons(rgb, p["min_box_score"], p["max_persons"])
        if self.detections_pub is not None and self._may_publish():
            self.detections_pub.publish(boxes_to_detections(boxes, header, "person", scores, [""] * len(boxes)))
        return boxes.astype(np.float64), [""] * len(boxes)

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

    def _person_boxes(self, detections_msg, width: int, height: int) -> tuple[np.ndarray, list[str]]:
        """Valid person boxes (M, 4) and their detection id strings ("" where the detector gave none)."""
        p = self.params
        if detections_msg is None:
            x, y, w, h = (list(p["roi"]) + [0, 0, 0, 0])[:4]
            whole_frame = np.array([[0.0, 0.0, width, height]])
            boxes = np.array([[x, y, x + w, y + h]], float) if w > 0 and h > 0 else whole_frame
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
        """Person id per row: the detector's where that detection has one, else the tracker's (or 0)."""
        if self.tracker is not None:
            self.tracker.iou_threshold = self.params["tracker_iou_threshold"]
        self.identities.max_age_s = self.params["tracker_max_age"]
        ids, new = self.identities.assign(boxes, detection_ids, stamp_s)
        for key, number in new:
            self.get_logger().info(f"detection id {key!r} is person id {number}")
        return ids

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
        if p["publish_markers"] and self.markers_pub.get_subscription_count() > 0:  # built only for a listener
            intrinsics = self.intrinsics or Intrinsics.default_for(rgb.shape[1], rgb.shape[0])
            self.markers_pub.publish(pose_markers(keypoints, self.skeleton, header, intrinsics, p["marker_depth"],
                                                  p["keypoint_score_threshold"], p["marker_scale"], points_3d, ids,
                                                  lifetime_s=p["marker_lifetime"]))
        if self.image_pub.get_subscription_count() > 0:
            annotated = draw_poses(rgb, keypoints, self.skeleton, p["keypoint_score_threshold"], boxes)
            self.image_pub.publish(rgb_to_image(annotated, header))

    # -- diagnostics ---------------------------------------------------------------------------

    @property
    def frames_dropped(self) -> int:
        """Images never estimated: superseded by a newer pair while busy, or aged out unmatched."""
        return self.stats.frames_superseded + (self.sync.counters.images_dropped if self.sync else 0)

    def _publish_diagnostics(self) -> None:
        health, name = self._health(), self.get_fully_qualified_name()
        provider = self._provider_values()
        active = provider["provider_active"]
        statuses = [
            diagnostics.status(f"{name}: pose estimation", diagnostics.inference_level(health),
                               self._inference_values(), active),
            diagnostics.status(f"{name}: inputs", diagnostics.inputs_level(health), self._input_values(), active),
            diagnostics.status(f"{name}: pairing", diagnostics.pairing_level(health), self._pairing_values(), active),
            diagnostics.status(f"{name}: provider",
                               diagnostics.provider_level(provider["provider_requested"], active), provider, active),
        ]
        self.diagnostics_pub.publish(DiagnosticArray(header=_header_now(self), status=statuses))

    def _health(self) -> diagnostics.Health:
        last, stats, p = dict(self.stats.last), self.stats, self.params
        return diagnostics.Health(
            now=time.monotonic(), stale_s=p["diagnostics_stale_s"], state=self.lifecycle_state(),
            active_since=last.get("activated"), last_image=last.get("image"), last_detections=last.get("detections"),
            last_depth=last.get("depth"), last_paired=last.get("paired"), waiting_since=last.get("waiting"),
            use_detections=self._detections_topic_used(), use_depth=p["use_depth"],
            failures_in_a_row=stats.failures_in_a_row,
            last_failure=stats.last_failure, configure_error=self.configure_error)

    def _inference_values(self) -> dict:
        summary, stats = self.stats.summary(), self.stats
        return {
            "fps": f"{summary['fps']:.2f}",
            "latency_mean_ms": f"{summary['latency_mean_ms']:.1f}",
            "latency_p95_ms": f"{summary['latency_p95_ms']:.1f}",
            "persons_per_frame": f"{summary['persons_mean']:.2f}",
            "frames_processed": stats.frames_processed,
            "frames_skipped_bad_input": stats.frames_skipped,
            "inference_failures": stats.inference_failures,
            "lifecycle_state": self.lifecycle_state(),
        }

    def _input_values(self) -> dict:
        values = {"image_rate_hz": f"{self.stats.rate('image'):.1f}"}
        if self._detections_topic_used():
            values["detections_rate_hz"] = f"{self.stats.rate('detections'):.1f}"
        if self.params["use_depth"]:
            values["depth_rate_hz"] = f"{self.stats.rate('depth'):.1f}"
        return values | {
            "frames_lost_before_node": self.images_lost,
            "depth_missing": self.stats.depth_missing,
            "depth_skipped_bad_input": self.stats.depth_skipped,
        }

    def _pairing_values(self) -> dict:
        images_cached, detections_cached = self.sync.cache_sizes() if self.sync else (0, 0)
        return {
            "frames_dropped": self.frames_dropped,
            "detections_dropped": self.sync.counters.detections_dropped if self.sync else 0,
            "depth_dropped": self.depth_cache.dropped if self.sync else 0,
            "images_waiting": images_cached,
            "detections_waiting": detections_cached,
            "time_jumps": self.stats.time_jumps,  # stamps going back (bag loop, sim reset): caches reset
            "inputs_dropped_at_time_jump": self.stats.inputs_dropped_at_time_jump,
        }

    def _provider_values(self) -> dict:
        estimator = self.estimator
        if estimator is None:
            return {"provider_requested": "", "provider_active": "", "require_gpu": self.params["require_gpu"]}
        return {
            "provider_requested": _provider_requested(estimator),
            "provider_active": estimator.active_provider,
            "execution_provider": estimator.active_provider,
            "pipeline": estimator.pipeline,
            "model_precision": estimator.metadata.precision,
            "require_gpu": self.params["require_gpu"],
            "detector": self.params["detector"],
            "detector_provider": self.detector.active_provider if self.detector is not None else "",
        }


def _provider_requested(estimator: PoseEstimator) -> str:
    """The first requested provider this onnxruntime build has (the ones it lacks were logged and
    skipped at start-up): what should run, to compare with what does."""
    return PROVIDER_NAMES[estimator.engine.chosen[0]]


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
                           "or pick the other detections_type, or run without detections: "
                           "use_detections:=false") from None
    return getattr(module, type_name), reader


def _header_now(node: Node):
    return Header(stamp=node.get_clock().now().to_msg())


def main(args=None) -> int:
    from .spin import spin_node

    return spin_node(PoseNode, args, startup_errors=(StartupError,), logger_name=NODE_NAME)


if __name__ == "__main__":
    import sys

    sys.exit(main())
