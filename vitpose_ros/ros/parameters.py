"""The pose node's parameters, declared in one table: name -> (default, description, descriptor).

Everything here is plain data plus the default model path, so launch logic, docs and tests can read
it; ``PoseNode`` declares them all up front from this table.
"""
from __future__ import annotations

import os
import pathlib

from rcl_interfaces.msg import FloatingPointRange, IntegerRange

from ..core.engine import DEFAULT_ENGINE_CACHE
from ..core.metadata import PRECISIONS, precision_model_path

NODE_NAME = "vitpose"
MODEL_SIZES = ("s", "b", "l", "h")
DEFAULT_MODEL_DIR = pathlib.Path(os.environ.get("VITPOSE_MODEL_DIR", pathlib.Path.home() / ".local/share/vitpose_ros/models"))


def default_model_path(size: str, precision: str = "fp32") -> pathlib.Path:
    """<VITPOSE_MODEL_DIR>/vitpose_<size>_coco.onnx, or its converted sibling ..._coco_<precision>.onnx."""
    return precision_model_path(DEFAULT_MODEL_DIR / f"vitpose_{size}_coco.onnx", precision)


def _float_range(low, high):
    return [FloatingPointRange(from_value=float(low), to_value=float(high), step=0.0)]


def _int_range(low, high):
    return [IntegerRange(from_value=int(low), to_value=int(high), step=1)]


# name: (default, description, extra descriptor fields). Declared up front, in one place.
PARAMETERS = {
    "model_path": ("", "ONNX model exported by vitpose-export; empty: <VITPOSE_MODEL_DIR>/vitpose_<model_size>_coco.onnx", {"read_only": True}),
    "model_size": ("b", "ViTPose size s|b|l|h, picks the default model file", {"read_only": True}),
    "precision": ("fp32", f"model precision {'|'.join(PRECISIONS)}; with model_path empty picks vitpose_<model_size>_coco_<precision>.onnx "
                          "(fp32: vitpose_<model_size>_coco.onnx); the model's own metadata decides what runs", {"read_only": True}),
    "providers": (["tensorrt", "cuda", "cpu"], "ONNX Runtime execution providers, best first; unavailable ones are skipped", {"read_only": True}),
    "fp16": (True, "TensorRT fp16 engine", {"read_only": True}),
    "engine_cache_dir": ("", f"TensorRT engine cache folder; empty: {DEFAULT_ENGINE_CACHE}", {"read_only": True}),
    "device_id": (0, "CUDA device id", {"read_only": True, "integer_range": _int_range(0, 16)}),
    "cpu_threads": (0, "CPU execution provider threads; 0: ONNX Runtime's default", {"read_only": True, "integer_range": _int_range(0, 256)}),
    "flip_test": (False, "average with the mirrored crop (about 2x compute, slightly more accurate; not for the synthetic demo model)", {"read_only": True}),
    "max_batch": (16, "persons per inference call; more are split into chunks", {"read_only": True, "integer_range": _int_range(1, 256)}),
    "keypoint_score_threshold": (0.3, "keypoints below this score are left out of markers and the annotated image", {"floating_point_range": _float_range(0.0, 1.0)}),
    "min_box_score": (0.3, "detections below this score are ignored", {"floating_point_range": _float_range(0.0, 1.0)}),
    "max_persons": (10, "at most this many persons per frame (highest detection scores)", {"integer_range": _int_range(1, 100)}),
    "person_class_ids": (["person", "0"], "hypothesis class ids that mean 'person' (exact string match)", {}),
    "use_detections": (True, "false: no detection topic, the whole frame (or roi) is one person box", {"read_only": True}),
    "roi": ([0, 0, 0, 0], "x, y, width, height of the person box when use_detections is false; zeros: full frame", {}),
    "sync_slop": (0.05, "max stamp difference (s) when pairing detections with images without an exact match", {"read_only": True, "floating_point_range": _float_range(0.0, 1.0)}),
    "sync_cache_size": (30, "images / detection arrays kept while waiting for their partner", {"read_only": True, "integer_range": _int_range(1, 1000)}),
    "compressed": (False, "subscribe to <image>/compressed (sensor_msgs/CompressedImage)", {"read_only": True}),
    "qos_reliability": ("best_effort", "input QoS: best_effort (receives from any publisher) or reliable", {"read_only": True}),
    "qos_depth": (5, "input QoS queue depth", {"read_only": True, "integer_range": _int_range(1, 100)}),
    "publish_markers": (True, "publish pose/markers", {}),
    "marker_depth": (3.0, "distance (m) in front of the camera of the plane markers are drawn on", {"floating_point_range": _float_range(0.1, 100.0)}),
    "marker_scale": (0.02, "joint sphere diameter as a fraction of marker_depth", {"floating_point_range": _float_range(0.001, 1.0)}),
    "diagnostics_period": (1.0, "seconds between /diagnostics messages", {"read_only": True, "floating_point_range": _float_range(0.1, 60.0)}),
}
# Changed at run time by `ros2 param set`; the rest needs a restart.
LIVE_PARAMETERS = ("keypoint_score_threshold", "min_box_score", "max_persons", "person_class_ids", "roi",
                   "publish_markers", "marker_depth", "marker_scale")
