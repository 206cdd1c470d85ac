"""Where model files live by default, and the command that puts one there (plain paths, no ROS).

The launch file, the node's error messages and ``vitpose-fetch`` all name the same folder:
``$VITPOSE_MODEL_DIR`` if set, else ``~/.local/share/vitpose_ros/models``; the file for a size
and keypoint set is ``vitpose_<size>_<dataset>.onnx`` in it; the person detector the node's
``detector:=builtin`` loads by default is ``person_detector.onnx`` in it.
"""
from __future__ import annotations

import os
import pathlib

MODEL_SIZES = ("s", "b", "l", "h")
MODEL_DIR_VARIABLE = "VITPOSE_MODEL_DIR"
FETCH_MODULE = "vitpose_ros.model.fetch"
DEFAULT_DETECTOR_FILE = "person_detector.onnx"  # a detector-contract file (vitpose_ros.core.detector)


def model_dir() -> pathlib.Path:
    """The default model folder (read from the environment on every call)."""
    configured = os.environ.get(MODEL_DIR_VARIABLE)
    return pathlib.Path(configured).expanduser() if configured else pathlib.Path.home() / ".local/share/vitpose_ros/models"


def default_model_path(size: str, dataset: str = "coco") -> pathlib.Path:
    """``<model_dir>/vitpose_<size>_<dataset>.onnx``: what the launch file loads for ``model:=<size>``."""
    return model_dir() / f"vitpose_{size}_{dataset}.onnx"


def fetch_command(size: str, dataset: str = "coco") -> str:
    """The shell command that downloads and exports the default model for ``size``."""
    command = f"python -m {FETCH_MODULE} --model {size}"
    return command if dataset == "coco" else f"{command} --dataset {dataset}"


def default_detector_path() -> pathlib.Path:
    """``<model_dir>/person_detector.onnx``: what ``detector:=builtin`` loads when detector_path is empty."""
    return model_dir() / DEFAULT_DETECTOR_FILE
