"""Where model files live by default, and the command that puts one there (plain paths, no ROS).

The launch file, the node's error messages and ``vitpose-fetch`` all name the same folder:
``$VITPOSE_MODEL_DIR`` if set, else ``~/.local/share/vitpose_ros/models``; the file for a size
and keypoint set is ``vitpose_<size>_<dataset>.onnx`` in it, a person detector fetched by name
``detector_<name>.onnx`` (``-`` as ``_``); ``detector:=builtin`` loads the default one's
when ``detector_path`` is empty.
"""
from __future__ import annotations

import os
import pathlib

from ..constants import MODEL_SIZES  # noqa: F401 (re-exported)

MODEL_DIR_VARIABLE = "VITPOSE_MODEL_DIR"
FETCH_MODULE = "vitpose_ros.model.fetch"
DEFAULT_DETECTOR = "rtdetr-r18"  # what `fetch --detector` is told in the docs, and detector_path's default


def model_dir() -> pathlib.Path:
    """The default model folder (read from the environment on every call)."""
    configured = os.environ.get(MODEL_DIR_VARIABLE)
    if configured:
        return pathlib.Path(configured).expanduser()
    return pathlib.Path.home() / ".local/share/vitpose_ros/models"


def default_model_path(size: str, dataset: str = "coco") -> pathlib.Path:
    """``<model_dir>/vitpose_<size>_<dataset>.onnx``: what the launch file loads for ``model:=<size>``."""
    return model_dir() / f"vitpose_{size}_{dataset}.onnx"


def fetch_command(size: str, dataset: str = "coco") -> str:
    """The shell command that downloads and exports the default model for ``size``."""
    command = f"python -m {FETCH_MODULE} --model {size}"
    return command if dataset == "coco" else f"{command} --dataset {dataset}"


def default_detector_path(name: str = DEFAULT_DETECTOR) -> pathlib.Path:
    """``<model_dir>/detector_<name>.onnx``: where ``fetch --detector <name>`` writes."""
    return model_dir() / f"detector_{name.replace('-', '_')}.onnx"


def detector_fetch_command(name: str = DEFAULT_DETECTOR) -> str:
    """The shell command that downloads and exports a person detector."""
    return f"python -m {FETCH_MODULE} --detector {name}"
