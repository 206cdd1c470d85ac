"""The ROS-free runtime: image + person boxes -> keypoints, through ONNX Runtime.

Imports numpy, OpenCV and onnxruntime only (never torch, rclpy or message packages), so it is
all a robot needs at run time. ``python -m vitpose_ros.core.infer`` and
``python -m vitpose_ros.core.build_engine`` are its command-line tools.
"""
from .draw import draw_poses
from .engine import ModelError, OnnxEngine, SessionFactory
from .estimator import PoseEstimator
from .metadata import ModelMetadata
from .skeletons import Skeleton, get_skeleton

__all__ = ["ModelError", "ModelMetadata", "OnnxEngine", "PoseEstimator", "SessionFactory", "Skeleton", "draw_poses",
           "get_skeleton"]
