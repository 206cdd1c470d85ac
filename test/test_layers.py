"""The package's layers keep their import rules (see vitpose_ros/__init__.py):

    core       numpy, OpenCV, onnxruntime (+ the standard library) and nothing else
    model      + torch, onnx, safetensors; never rclpy or message packages
    ros        rclpy and messages; never torch, never the demo (synthetic)
    synthetic  the demo; its renderer alone imports like core
    constants  (vitpose_ros/constants.py) the shared names: standard library only, any layer may read it

Two checks: a static one over every import statement (lazy ones inside functions included), and
a dynamic one that imports the layer in a fresh interpreter and looks at sys.modules.
"""
import ast
import pathlib
import subprocess
import sys

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "vitpose_ros"
STDLIB = set(sys.stdlib_module_names) | {"__future__"}
ROS = {"rclpy", "rcl_interfaces", "launch", "launch_ros", "ament_index_python", "cv_bridge", "message_filters"}

# Third-party top-level modules each layer may import (the standard library is always allowed).
ALLOWED = {
    "core": {"numpy", "cv2", "onnxruntime"},
    "model": {"numpy", "cv2", "onnxruntime", "torch", "onnx", "safetensors", "onnxconverter_common",
              "huggingface_hub", "tqdm", "transformers"},  # transformers: detector export only
}
# The layers each layer may import from inside vitpose_ros (every one may read vitpose_ros.constants).
ALLOWED_LAYERS = {"core": {"core", "constants"}, "model": {"core", "model", "constants"},
                  "ros": {"core", "ros", "constants"},
                  "synthetic": {"core", "model", "ros", "synthetic", "constants"}}


def _imports(path: pathlib.Path, layer: str):
    """(top-level module, vitpose_ros layer or None) of every import statement in a file."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                yield parts[0], parts[1] if parts[0] == "vitpose_ros" and len(parts) > 1 else None
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                parts = node.module.split(".")
                yield parts[0], parts[1] if parts[0] == "vitpose_ros" and len(parts) > 1 else None
            elif node.level == 1:
                yield "vitpose_ros", layer
            else:  # from ..x import y / from .. import x
                target = node.module.split(".")[0] if node.module else node.names[0].name
                yield "vitpose_ros", target


def _layer_files(layer):
    return sorted((PACKAGE / layer).rglob("*.py"))


@pytest.mark.parametrize("layer", ["core", "model"])
def test_layer_imports_only_allowed_third_party_modules(layer):
    bad = [(f.relative_to(PACKAGE).as_posix(), module) for f in _layer_files(layer)
           for module, _ in _imports(f, layer)
           if module not in STDLIB and module != "vitpose_ros" and module not in ALLOWED[layer]]
    assert not bad, f"{layer} imports modules outside its rule: {bad}"


@pytest.mark.parametrize("layer", sorted(ALLOWED_LAYERS))
def test_layer_imports_only_allowed_layers(layer):
    bad = [(f.relative_to(PACKAGE).as_posix(), target) for f in _layer_files(layer)
           for module, target in _imports(f, layer)
           if module == "vitpose_ros" and target is not None and target not in ALLOWED_LAYERS[layer]]
    assert not bad, f"{layer} reaches into layers it must not: {bad}"


def test_constants_import_nothing_but_the_standard_library():
    imported = list(_imports(PACKAGE / "constants.py", "constants"))
    assert all(module in STDLIB for module, _ in imported), imported


def test_ros_layer_never_imports_torch():
    bad = [f.relative_to(PACKAGE).as_posix() for f in _layer_files("ros")
           if any(module == "torch" for module, _ in _imports(f, "ros"))]
    assert not bad


def _modules_after_import(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return {name.split(".")[0] for name in out.split()}


def _is_ros(module: str) -> bool:
    return module in ROS or module.endswith("_msgs")


@pytest.mark.parametrize("statement", [
    "import vitpose_ros",
    "from vitpose_ros import PoseEstimator",
    "import vitpose_ros.core",
    "import vitpose_ros.core.infer",
    "import vitpose_ros.core.build_engine",
    "import vitpose_ros.synthetic",
    "import vitpose_ros.ros.launch_args",
])
def test_runtime_imports_pull_in_neither_torch_nor_ros(statement):
    loaded = _modules_after_import(statement)
    assert "torch" not in loaded
    assert not {m for m in loaded if _is_ros(m)}, statement


@pytest.mark.parametrize("module", ["vitpose_ros.ros.node", "vitpose_ros.ros.launch_args"])
def test_ros_layer_loads_no_demo_module(module):
    code = f"import sys, {module}; print('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert not [name for name in out.split() if name.startswith("vitpose_ros.synthetic")], module


def test_launch_logic_loads_no_runtime():
    # launch files import launch_args and the shared constants; they must start without the runtime
    loaded = _modules_after_import("import vitpose_ros.ros.launch_args, vitpose_ros.constants")
    assert not loaded & {"numpy", "cv2", "onnxruntime", "torch", "rclpy"}, loaded


def test_model_layer_pulls_in_no_ros():
    loaded = _modules_after_import("from vitpose_ros.model import build_model; import vitpose_ros.model.export")
    assert "torch" in loaded  # the check is live: this layer does load its framework
    assert not {m for m in loaded if _is_ros(m)}


def test_graph_composer_runs_without_torch(tmp_path):
    """A machine with onnx but no torch can compose graph files (and import the converter)."""
    model = tmp_path / "m.onnx"
    model.write_bytes((PACKAGE / "synthetic/models/vitpose_synthetic_coco.onnx").read_bytes())
    loaded = _modules_after_import(f"import vitpose_ros.model.convert; from vitpose_ros.model.compose_graph "
                                   f"import write_graph; write_graph({str(model)!r})")
    assert (tmp_path / "m_graph.onnx").is_file()
    assert "onnx" in loaded and "torch" not in loaded


def test_fetching_ready_made_onnx_needs_no_torch():
    loaded = _modules_after_import("import vitpose_ros.model, vitpose_ros.model.fetch, vitpose_ros.model.onnx_adopt, "
                                   "vitpose_ros.model.detector_adopt, vitpose_ros.model.detector_export")
    assert "torch" not in loaded and not {m for m in loaded if _is_ros(m)}


def test_public_api():
    import vitpose_ros
    from vitpose_ros import PoseEstimator, keypoints_from_cloud
    from vitpose_ros.core.estimator import PoseEstimator as Defined
    from vitpose_ros.ros.conversions import keypoints_from_cloud as defined_fn

    assert PoseEstimator is Defined and keypoints_from_cloud is defined_fn
    assert set(vitpose_ros.__all__) <= set(dir(vitpose_ros))
    with pytest.raises(AttributeError):
        vitpose_ros.no_such_name  # noqa: B018
