"""vitpose_ros: ViTPose human pose estimation for ROS 2, run through ONNX Runtime.

The package is split by what each layer may import (``test/test_layers.py`` enforces it):

    vitpose_ros.core       numpy + OpenCV + onnxruntime: engine, pre-processing, decoding,
                           skeletons, drawing; the `infer` and `build_engine` CLIs
    vitpose_ros.model      + torch: the ViTPose network, checkpoint import, ONNX export (CLI)
    vitpose_ros.ros        + rclpy and message packages: the pose node, conversions, markers,
                           stamp sync, diagnostics, launch-argument logic; never the demo
    vitpose_ros.synthetic  the demo: synthetic-people renderer, its camera node, training,
                           evaluation, the demo runner and the shipped demo model

``vitpose_ros.constants`` holds the names they share (standard library only). docs/architecture.md
has the picture and every module.

The public names below are imported on first use, so ``import vitpose_ros`` costs nothing and
never pulls in torch or rclpy.
"""
import importlib

__version__ = "0.1.0"

# public name -> module that defines it
_PUBLIC = {
    "PoseEstimator": "vitpose_ros.core.estimator",
    "ModelError": "vitpose_ros.core.engine",
    "ModelMetadata": "vitpose_ros.core.metadata",
    "Skeleton": "vitpose_ros.core.skeletons",
    "get_skeleton": "vitpose_ros.core.skeletons",
    "draw_poses": "vitpose_ros.core.draw",
    "keypoints_from_cloud": "vitpose_ros.ros.conversions",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name):
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'vitpose_ros' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_PUBLIC))
