"""Run the synthetic camera and the pose node through real ROS 2 and measure what comes out.

    python -m vitpose_ros.synthetic.demo [--frames 60] [--rate 10] [--people 2] [--output out/demo]
                                         [--precision fp32|int8] [--detector topic|builtin]

No camera, no download, no ``ros2 launch``: the synthetic camera, the pose node (with the shipped
demo model) and a recorder run as three rclpy nodes over DDS. For every frame it prints persons,
latency (image stamp -> keypoints received) and PCK against the renderer's ground truth; at the
end the overall PCK@0.05/0.1, and it writes an annotated MP4 and one PNG frame.

``--detector topic`` (default): the node takes the camera's ground-truth boxes from /detections.
``--detector builtin``: the node runs the shipped synthetic person detector itself and never sees
those boxes (a person it misses keeps the box from their keypoints for up to
``BUILTIN_HOLD_MISSED`` detection frames, the node's hold_missed); its own boxes (pose/detections)
are scored against them (AP@0.5), and each true person is matched to the nearest published
skeleton for PCK (a person with none counts all its keypoints as misses).
"""
from __future__ import annotations

import argparse
import pathlib
import sys
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from ..core.cli import cli_error
from .detector_evaluate import DetectionAccumulator
from .evaluate import Accumulator, pck

DETECTORS = ("topic", "builtin")


@dataclass
class DemoResult:
    frames_published: int = 0
    frames_received: int = 0
    frames_dropped: int = 0  # by the node (PoseNode.frames_dropped)
    frames_skipped: int = 0  # by the node: bad input or a failed inference (logged there)
    latencies_ms: list = field(default_factory=list)
    accuracy: dict = field(default_factory=dict)
    detection: dict = field(default_factory=dict)  # builtin detector: AP@0.5 etc. of its boxes vs the truth boxes
    frame_indices: list = field(default_factory=list)  # camera frame numbers that came back as keypoints
    # per image stamp (ns): what the node published and the camera's truth (ids: which person each row is)
    keypoints: dict = field(default_factory=dict)  # (N, K, 3) x, y, score
    ids: dict = field(default_factory=dict)  # (N,) track ids
    keypoints_3d: dict = field(default_factory=dict)  # (N, K, 4) x, y, z, score (with depth)
    truth: dict = field(default_factory=dict)  # (N, K, 3) x, y, visibility
    truth_ids: dict = field(default_factory=dict)  # (N,) person identities
    truth_3d: dict = field(default_factory=dict)  # (N, K, 4) x, y, z, visibility (with depth)
    video: pathlib.Path | None = None
    png: pathlib.Path | None = None
    model: str = ""  # file name and precision (from its metadata) of the model the node ran


def run_demo(frames: int = 60, rate: float = 10.0, people: int = 2, seed: int = 0, mode: str = "animated",
             model_path=None, output_dir=None, providers=("cpu",), timeout_s: float = 120.0,
             say=print, scene: str = "random", depth: bool = False, pose_parameters: dict | None = None,
             camera_parameters: dict | None = None, precision: str = "fp32", detector: str = "topic",
             detector_path=None) -> DemoResult:
    """``depth``: the camera publishes depth and the node keypoints_3d (recorded in the result);
    ``pose_parameters`` / ``camera_parameters``: more parameters for the two nodes; ``precision``:
    the shipped demo model of that precision when ``model_path`` is not given; ``detector``
    "builtin": the node detects persons itself with ``detector_path`` (default: the shipped
    synthetic detector) instead of reading the camera's boxes."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import Image, PointCloud2

    from vision_msgs.msg import Detection2DArray

    from ..ros.conversions import detections_to_boxes, ids_from_cloud, keypoints_3d_from_cloud, keypoints_from_cloud
    from ..ros.node import PoseNode, stamp_ns
    from . import BUILTIN_HOLD_MISSED, demo_detector_path, demo_model_path
    from .camera_node import SyntheticCamera

    model_path = pathlib.Path(model_path) if model_path else demo_model_path(precision=precision)
    if detector not in DETECTORS:
        raise ValueError(f"detector must be one of {', '.join(DETECTORS)}, got {detector!r}")
    builtin = detector == "builtin"
    if builtin:
        pose_parameters = {"detector": "builtin", "detector_path": str(detector_path or demo_detector_path()),
                           "hold_missed": BUILTIN_HOLD_MISSED, **(pose_parameters or {})}
    context = rclpy.Context()  # our own: callers may have a default context running
    rclpy.init(context=context)
    result = DemoResult()
    truths, boxes_by_stamp, predictions, annotated, detected = {}, {}, {}, {}, {}
    lock = threading.Lock()
    try:
        pose = PoseNode(context=context, parameter_overrides=[
            Parameter("model_path", value=str(model_path)), Parameter("providers", value=list(providers)),
            Parameter("qos_reliability", value="reliable"), Parameter("qos_depth", value=10),
            Parameter("use_depth", value=depth)] + [Parameter(k, value=v) for k, v in (pose_parameters or {}).items()],
            cli_args=(["--ros-args", "-r", "depth/image_raw:=camera/aligned_depth_to_color/image_raw"]
                      if depth else None))
        if not pose.wait_until_active(timeout_s):  # it loads the model on its own thread
            raise RuntimeError(f"the pose node did not start: {pose.configure_error or 'timed out'}")
        result.model = f"{model_path.name} ({pose.estimator.metadata.precision})"
        recorder = rclpy.create_node("demo_recorder", context=context)

        def on_truth(msg):
            with lock:
                truths[stamp_ns(msg.header.stamp)] = keypoints_from_cloud(msg)
                result.truth_ids[stamp_ns(msg.header.stamp)] = ids_from_cloud(msg)

        def recorder_of(table, read):
            def record(msg):
                with lock:
                    table[stamp_ns(msg.header.stamp)] = read(msg)
            return record

        def on_detections(msg):
            with lock:
                boxes_by_stamp[stamp_ns(msg.header.stamp)] = detections_to_boxes(msg, ["person"], 0.0, 10**6)[0]

        def on_node_detections(msg):
            with lock:
                detected[stamp_ns(msg.header.stamp)] = detections_to_boxes(msg, ["person"], 0.0, 10**6)

        def on_keypoints(msg):
            received = time.time_ns()
            stamp = stamp_ns(msg.header.stamp)
            predicted = keypoints_from_cloud(msg)
            latency_ms = (received - stamp) / 1e6
            with lock:
                predictions[stamp] = predicted
                result.ids[stamp] = ids_from_cloud(msg)
                truth, boxes = truths.get(stamp), boxes_by_stamp.get(stamp)
            if builtin and truth is not None and boxes is not None:
                predicted = match_to_truth(predicted, truth, boxes)
            result.frames_received += 1
            result.latencies_ms.append(latency_ms)
            line = f"frame {result.frames_received:3d}: {len(predicted)} person(s), latency {latency_ms:6.1f} ms"
            if _comparable(predicted, truth, boxes):
                line += f", PCK@0.05 {pck(predicted.astype(float), truth.astype(float), boxes, 0.05):.2f}"
            say(line)

        def on_image(msg):
            if output_dir is not None:
                array = np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.width, 3)
                with lock:
                    annotated[stamp_ns(msg.header.stamp)] = array

        recorder.create_subscription(PointCloud2, "synthetic/ground_truth", on_truth, 50)
        recorder.create_subscription(PointCloud2, "pose/keypoints", on_keypoints, 50)
        recorder.create_subscription(Detection2DArray, "detections", on_detections, 50)
        if builtin:
            recorder.create_subscription(Detection2DArray, "pose/detections", on_node_detections, 50)
        if depth:
            recorder.create_subscription(PointCloud2, "pose/keypoints_3d",
                                         recorder_of(result.keypoints_3d, keypoints_3d_from_cloud), 50)
            recorder.create_subscription(PointCloud2, "synthetic/ground_truth_3d",
                                         recorder_of(result.truth_3d, keypoints_3d_from_cloud), 50)
        if output_dir is not None:
            recorder.create_subscription(Image, "pose/image", on_image, 50)
        # One single-threaded executor: the callbacks are short (the node infers on its own thread).
        # rclpy's MultiThreadedExecutor re-polls in Python while a ready entity's callback group is
        # busy, holding the GIL: with it the camera's timer and renders stalled up to 1.6 s here.
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(pose)
        executor.add_node(recorder)
        spinner = threading.Thread(target=executor.spin, daemon=True)
        spinner.start()
        camera = SyntheticCamera(context=context, parameter_overrides=[
            Parameter("frames", value=frames), Parameter("rate", value=float(rate)),
            Parameter("num_people", value=people), Parameter("seed", value=seed), Parameter("mode", value=mode),
            Parameter("scene", value=scene), Parameter("depth", value=depth)]
            + [Parameter(k, value=v) for k, v in (camera_parameters or {}).items()])
        # the camera starts only once the pose node and recorder see it: no frame goes unheard
        _wait(lambda: camera.image_pub.get_subscription_count() > 0 and camera.truth_pub.get_subscription_count() > 0
              and camera.detections_pub.get_subscription_count() > 0
              and (not depth or camera.depth_pub.get_subscription_count() > 0
                   and camera.truth_3d_pub.get_subscription_count() > 0), 10.0)
        executor.add_node(camera)
        deadline = time.monotonic() + timeout_s
        _wait(lambda: camera.frame_index >= frames, timeout_s)
        # let the last frames through the pipeline
        _wait(lambda: result.frames_received >= frames, max(0.0, min(10.0, deadline - time.monotonic())))
        if depth:  # each frame's keypoints_3d is published just after its keypoints: let the last one in
            _wait(lambda: set(result.keypoints_3d) >= set(predictions), 2.0)
        result.frames_published = camera.frame_index
        result.frames_dropped = pose.frames_dropped
        result.frames_skipped = pose.stats.frames_skipped + pose.stats.inference_failures
        result.frame_indices = sorted(i for i in map(camera.frame_number, predictions) if i is not None)
        executor.shutdown(timeout_sec=2.0)
        spinner.join(timeout=5.0)
        for node in (camera, pose, recorder):
            node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)
    result.keypoints, result.truth = predictions, truths
    accuracy, detection = Accumulator(), DetectionAccumulator()
    for stamp, predicted in predictions.items():
        truth, boxes = truths.get(stamp), boxes_by_stamp.get(stamp)
        if builtin and truth is not None and boxes is not None:
            predicted = match_to_truth(predicted, truth, boxes)
            if stamp in detected:
                detection.add(*detected[stamp], boxes)
        if _comparable(predicted, truth, boxes):
            accuracy.add(predicted, truth, boxes)
    result.accuracy = accuracy.results()
    result.detection = detection.results(score_threshold=0.0) if builtin else {}
    if output_dir is not None and annotated:
        result.video, result.png = _write_outputs(pathlib.Path(output_dir), annotated, rate)
    return result


def match_to_truth(predicted: np.ndarray, truth: np.ndarray, boxes: np.ndarray, max_cost: float = 0.5) -> np.ndarray:
    """``predicted`` skeletons (N, K, 3) put in the truth's person order (M, K, 3): greedily, closest
    pair first, by the mean distance over the person's labelled keypoints in units of its box size
    (at most ``max_cost``). A true person left without one gets a row of NaN, score 0."""
    out = np.full(truth.shape, np.nan)
    out[..., 2] = 0.0
    if not len(predicted) or not len(truth):
        return out
    scale = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])[:, None, None]
    distance = np.linalg.norm(predicted[None, :, :, :2] - truth[:, None, :, :2], axis=-1) / scale  # (M, N, K)
    labelled = (truth[..., 2] > 0)[:, None, :]
    with np.errstate(invalid="ignore"):
        cost = np.where(labelled, distance, 0.0).sum(-1) / np.maximum(labelled.sum(-1), 1)
    cost = np.where(np.isfinite(cost), cost, np.inf)
    while np.isfinite(cost).any():
        m, n = np.unravel_index(np.argmin(cost), cost.shape)
        if cost[m, n] > max_cost:
            break
        out[m] = predicted[n]
        cost[m, :], cost[:, n] = np.inf, np.inf
    return out


def _comparable(predicted, truth, boxes) -> bool:
    """Rows line up with the truth (the node keeps detection order and every box was valid)."""
    return truth is not None and boxes is not None and len(predicted) == len(truth) == len(boxes) > 0


def _wait(condition, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def _write_outputs(folder: pathlib.Path, annotated: dict, rate: float):
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    frames = [annotated[k] for k in sorted(annotated)]
    video = folder / "demo.mp4"
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), rate, (width, height))
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    png = folder / "demo_frame.png"
    cv2.imwrite(str(png), cv2.cvtColor(frames[len(frames) // 2], cv2.COLOR_RGB2BGR))
    return video, png


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="vitpose-demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--rate", type=float, default=10.0, help="camera frames per second")
    parser.add_argument("--people", type=int, default=2)
    parser.add_argument("--scene", choices=("random", "crossing"), default="random")
    parser.add_argument("--depth", action="store_true", help="also publish depth; the node publishes keypoints_3d")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", help="ONNX model (default: the shipped synthetic-people model)")
    parser.add_argument("--precision", choices=("fp32", "int8"), default="fp32",
                        help="which shipped demo model runs when --model is not given (int8: its INT8 copy)")
    parser.add_argument("--detector", choices=DETECTORS, default="topic",
                        help="topic: the node reads the camera's ground-truth boxes; builtin: it runs the shipped "
                             "synthetic person detector itself")
    parser.add_argument("--detector-model",
                        help="person detector ONNX for --detector builtin (default: the shipped one)")
    parser.add_argument("--providers", default="tensorrt,cuda,cpu")
    parser.add_argument("--output", default="out/demo", help="folder for demo.mp4 and demo_frame.png")
    args = parser.parse_args(argv)
    try:
        result = run_demo(frames=args.frames, rate=args.rate, people=args.people, seed=args.seed,
                          model_path=args.model, output_dir=args.output, scene=args.scene, depth=args.depth,
                          precision=args.precision, detector=args.detector, detector_path=args.detector_model,
                          providers=[p for p in args.providers.split(",") if p])
    except FileNotFoundError as exc:
        return cli_error("vitpose-demo", exc)
    acc = result.accuracy
    print(f"\nmodel {result.model}: {result.frames_received}/{result.frames_published} frames through ROS; "
          f"median latency {np.median(result.latencies_ms) if result.latencies_ms else float('nan'):.1f} ms")
    if result.frames_dropped:  # by design: the node keeps only the newest frame, so latency stays bounded
        print(f"{result.frames_dropped} frame(s) dropped by the node: a newer one arrived while it was busy, "
              "or no detections matched it")
    if result.frames_skipped:
        print(f"{result.frames_skipped} frame(s) skipped by the node for bad input or a failed inference (see its log)")
    det = result.detection
    if det.get("persons"):
        print(f"built-in detector vs ground-truth boxes over {det['frames']} frames, {det['persons']} persons: "
              f"AP@0.5 {det['ap@0.5']:.3f}, recall {det['recall']:.3f}, precision {det['precision']:.3f} "
              "(boxes the node kept: score >= min_box_score)")
    if acc.get("persons"):
        print(f"accuracy vs renderer ground truth over {acc['persons']} persons: PCK@0.05 {acc['pck@0.05']:.3f}, "
              f"PCK@0.1 {acc['pck@0.1']:.3f}, OKS AP {acc['oks_ap']:.3f}")
    if result.video:
        print(f"wrote {result.video} and {result.png}")
    return 0 if result.frames_received else 1


if __name__ == "__main__":
    sys.exit(main())
