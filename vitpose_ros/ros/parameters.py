"""The pose node's parameters, declared in one table: name -> (default, description, descriptor).

Everything here is plain data plus the default model path, so launch logic, docs and tests can read
it; ``PoseNode`` declares them all up front from this table.
"""
from __future__ import annotations

from rcl_interfaces.msg import FloatingPointRange, IntegerRange

from ..constants import (DEFAULT_PROVIDERS, DETECTIONS_TYPES, DETECTORS, MODEL_SIZES, NODE_NAME,  # noqa: F401
                         PRECISIONS, TRACKERS)
from ..core.engine import DEFAULT_ENGINE_CACHE
from ..core.model_files import default_detector_path, default_model_path  # noqa: F401 (re-exported for the node)


def _float_range(low, high):
    return [FloatingPointRange(from_value=float(low), to_value=float(high), step=0.0)]


def _int_range(low, high):
    return [IntegerRange(from_value=int(low), to_value=int(high), step=1)]


# name: (default, description, extra descriptor fields). Declared up front, in one place.
PARAMETERS = {
    "model_path": (
        "",
        "ONNX model exported by vitpose-export; empty: <VITPOSE_MODEL_DIR>/vitpose_<model_size>_coco.onnx",
        {"read_only": True}),
    "model_size": ("b", "ViTPose size s|b|l|h, picks the default model file", {"read_only": True}),
    "precision": (
        "fp32",
        f"model precision {'|'.join(PRECISIONS)}; with model_path empty picks "
        "vitpose_<model_size>_coco_<precision>.onnx (fp32: vitpose_<model_size>_coco.onnx); the model's own "
        "metadata decides what runs",
        {"read_only": True}),
    "providers": (
        list(DEFAULT_PROVIDERS),
        "ONNX Runtime execution providers, best first; unavailable ones are skipped",
        {"read_only": True}),
    "fp16": (
        True,
        "run the network in fp16: TensorRT builds an fp16 engine; CUDA loads <model stem>_fp16.onnx beside the model "
        "(vitpose-convert makes it)",
        {"read_only": True}),
    "pipeline": (
        "auto",
        "auto|host|graph: graph crops, normalises and decodes on the provider (one ONNX graph); host does that with "
        "OpenCV/numpy; auto: graph on TensorRT/CUDA, host on CPU",
        {"read_only": True}),
    "engine_cache_dir": ("", f"TensorRT engine cache folder; empty: {DEFAULT_ENGINE_CACHE}", {"read_only": True}),
    "device_id": (0, "CUDA device id", {"read_only": True, "integer_range": _int_range(0, 16)}),
    "cpu_threads": (
        0,
        "CPU execution provider threads; 0: ONNX Runtime's default",
        {"read_only": True, "integer_range": _int_range(0, 256)}),
    "flip_test": (
        False,
        "average with the mirrored crop (about 2x compute, slightly more accurate; not for the synthetic demo model)",
        {"read_only": True}),
    "max_batch": (
        16,
        "persons per inference call; more are split into chunks",
        {"read_only": True, "integer_range": _int_range(1, 256)}),
    "keypoint_score_threshold": (
        0.3,
        "keypoints below this score are left out of markers and the annotated image",
        {"floating_point_range": _float_range(0.0, 1.0)}),
    "min_box_score": (0.3, "detections below this score are ignored", {"floating_point_range": _float_range(0.0, 1.0)}),
    "max_persons": (
        10,
        "at most this many persons per frame (highest detection scores)",
        {"integer_range": _int_range(1, 100)}),
    "person_class_ids": (
        ["person", "0"],
        "class ids that mean 'person' (exact string match): vision_msgs hypothesis class_id; yolo_msgs class_name or "
        "class_id",
        {}),
    "detections_type": (
        "vision_msgs",
        "message type on the detections topic: vision_msgs (Detection2DArray) or yolo_msgs (yolo_ros DetectionArray)",
        {"read_only": True}),
    "detector": ("topic", "where person boxes come from: topic (the detections topic) or builtin (a person detector "
                          "ONNX run by this node on each image with the pose network's providers, fp16, engine cache "
                          "and device; no detections topic)", {"read_only": True}),
    "detector_path": ("", "person detector ONNX (vitpose detector contract) for detector builtin; empty: "
                          "<VITPOSE_MODEL_DIR>/detector_rtdetr_r18.onnx (vitpose-fetch --detector rtdetr-r18)",
                      {"read_only": True}),
    "use_detections": (
        True,
        "false: no detection topic, the whole frame (or roi) is one person box",
        {"read_only": True}),
    "detect_every": (1, "detections are needed every N-th image only: images in between take each person's box "
                        "from its keypoints in the previous image, ids carried; with a detections topic, an image "
                        "that pairs with no detections within sync_slop uses those boxes while the last detections "
                        "are at most N-1 images old (sync_slop must cover the detector's latency). 1: every image "
                        "needs detections", {"read_only": True, "integer_range": _int_range(1, 1000)}),
    "hold_missed": (0, "detection frames in a row a tracked person the detector misses keeps a box from its "
                       "keypoints in the previous image, id carried (no detection may overlap their last box); "
                       "0: a missed person is dropped at once", {"integer_range": _int_range(0, 100)}),
    "roi": ([0, 0, 0, 0], "x, y, width, height of the person box when use_detections is false; zeros: full frame", {}),
    "sync_slop": (
        0.05,
        "max stamp difference (s) when pairing detections with images without an exact match",
        {"read_only": True, "floating_point_range": _float_range(0.0, 1.0)}),
    "sync_cache_size": (
        30,
        "images / detection arrays kept while waiting for their partner",
        {"read_only": True, "integer_range": _int_range(1, 1000)}),
    "compressed": (False, "subscribe to <image>/compressed (sensor_msgs/CompressedImage)", {"read_only": True}),
    "qos_reliability": (
        "best_effort",
        "input QoS: best_effort (receives from any publisher) or reliable",
        {"read_only": True}),
    "qos_depth": (5, "input QoS queue depth", {"read_only": True, "integer_range": _int_range(1, 100)}),
    "publish_markers": (True, "publish pose/markers", {}),
    "marker_depth": (
        3.0,
        "distance (m) in front of the camera of the plane markers are drawn on",
        {"floating_point_range": _float_range(0.1, 100.0)}),
    "marker_scale": (
        0.02,
        "joint sphere diameter as a fraction of marker_depth",
        {"floating_point_range": _float_range(0.001, 1.0)}),
    "tracker": (
        "iou",
        "person ids when detections carry none: iou (constant-velocity IoU tracker) or none (id 0)",
        {"read_only": True}),
    "tracker_iou_threshold": (
        0.2,
        "least IoU between a track's predicted box and a detection to continue the track",
        {"floating_point_range": _float_range(0.01, 1.0)}),
    "tracker_max_age": (
        1.0,
        "seconds a track, or a detector id, is kept unseen before its person id is forgotten",
        {"floating_point_range": _float_range(0.0, 60.0)}),
    "smoothing": (False, "One Euro filter on each tracked person's keypoints (needs ids: detector ids or tracker)", {}),
    "smoothing_min_cutoff": (
        3.0,
        "One Euro minimum cut-off frequency (Hz): lower = smoother when still, more lag",
        {"floating_point_range": _float_range(0.01, 100.0)}),
    "smoothing_beta": (
        0.01,
        "One Euro speed coefficient (per px/s): higher = less lag on fast motion",
        {"floating_point_range": _float_range(0.0, 10.0)}),
    "smoothing_d_cutoff": (
        8.0,
        "One Euro cut-off frequency (Hz) of the speed estimate",
        {"floating_point_range": _float_range(0.01, 100.0)}),
    "smoothing_trend": (
        True,
        "filter around the constant-velocity prediction (no lag on steady motion); false: the plain One Euro filter",
        {}),
    "use_depth": (
        False,
        "subscribe to depth/image_raw (16UC1 mm or 32FC1 m, registered to the colour image) and publish "
        "pose/keypoints_3d",
        {"read_only": True}),
    "depth_window": (
        5,
        "side (px) of the square around a keypoint whose depth median is the joint's depth",
        {"integer_range": _int_range(1, 31)}),
    "depth_max_deviation": (
        0.5,
        "joint depths further than this (m) from the person's median depth are rejected",
        {"floating_point_range": _float_range(0.01, 10.0)}),
    "depth_min": (0.1, "depth readings below this (m) are invalid", {"floating_point_range": _float_range(0.0, 10.0)}),
    "depth_max": (
        20.0,
        "depth readings above this (m) are invalid",
        {"floating_point_range": _float_range(0.1, 1000.0)}),
    "diagnostics_period": (
        1.0,
        "seconds between /diagnostics messages",
        {"read_only": True, "floating_point_range": _float_range(0.1, 60.0)}),
    "diagnostics_stale_s": (
        3.0,
        "seconds without pairs (while images arrive: WARN) or without a processed frame (while frames reach inference:"
        " ERROR) before /diagnostics says so",
        {"floating_point_range": _float_range(0.1, 600.0)}),
    "require_gpu": (
        False,
        "fail at start-up (one line) when ONNX Runtime would run the model on the CPU instead of a GPU provider",
        {"read_only": True}),
    "autostart": (
        True,
        "configure and activate at start-up; false: wait for a lifecycle manager (ros2 lifecycle set)",
        {"read_only": True}),
    "marker_lifetime": (
        1.0,
        "seconds RViz keeps a skeleton the node has not refreshed (0: until replaced)",
        {"floating_point_range": _float_range(0.0, 60.0)}),
}
# Changed at run time by `ros2 param set`; the rest needs a restart.
LIVE_PARAMETERS = ("keypoint_score_threshold", "min_box_score", "max_persons", "person_class_ids", "roi",
                   "publish_markers", "marker_depth", "marker_scale", "tracker_iou_threshold", "tracker_max_age",
                   "smoothing", "smoothing_min_cutoff", "smoothing_beta", "smoothing_d_cutoff", "smoothing_trend",
                   "depth_window", "depth_max_deviation", "depth_min", "depth_max", "diagnostics_stale_s",
                   "marker_lifetime", "hold_missed")
