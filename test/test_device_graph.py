"""The device-side pipeline (one ONNX graph: crop, normalise, network, decode, composed once into
<stem>_graph.onnx and loaded by path) gives the host pipeline's keypoints; the graph file is valid
ONNX tied to its network; pipeline choice and fallbacks; provider probing."""
import logging
import pathlib
import shutil

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from model_factory import export_random_model, model_with_stale_graph
from onnx import TensorProto, helper, numpy_helper

from vitpose_ros.core.content_hash import model_digest
from vitpose_ros.core.device_graph import graph_model_path
from vitpose_ros.core.engine import ModelError, OnnxEngine, missing_library
from vitpose_ros.core.estimator import PoseEstimator
from vitpose_ros.core.preprocess import boxes_to_center_size
from vitpose_ros.model import compose_graph
from vitpose_ros.model.compose_graph import write_graph
from vitpose_ros.synthetic import render_scene

DEMO_MODEL = pathlib.Path(__file__).resolve().parents[1] / "vitpose_ros/synthetic/models/vitpose_synthetic_coco.onnx"
# Every op the wrapper may add: each is in TensorRT 10's ONNX parser list and has an ORT CUDA
# kernel (model/compose_graph's docstring); a new op must be checked there before it joins this list.
CHECKED_OPS = {"Add", "Sub", "Mul", "Div", "Cast", "Shape", "Gather", "Transpose", "Unsqueeze", "Reshape",
               "Split", "Concat", "Round", "GridSample", "Pad", "Conv", "Clip", "Log", "ArgMax",
               "GatherElements", "MatMul"}


@pytest.fixture(scope="module")
def demo_model(tmp_path_factory):
    """The shipped demo model in a folder of its own, with its plain and flip-test graph files."""
    path = tmp_path_factory.mktemp("demo") / DEMO_MODEL.name
    shutil.copy(DEMO_MODEL, path)
    write_graph(path)
    write_graph(path, flip_test=True)
    return path


@pytest.fixture(scope="module")
def demo_pair(demo_model):
    host = PoseEstimator(demo_model, providers=("cpu",), pipeline="host")
    graph = PoseEstimator(demo_model, providers=("cpu",), pipeline="graph")
    return host, graph


@pytest.fixture
def cuda_listed(monkeypatch):
    """onnxruntime as onnxruntime-gpu lists its providers; the real CPU build underneath runs the
    sessions (as onnxruntime does with a listed provider it cannot use: CPU runs it)."""
    real = ort.get_available_providers
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CUDAExecutionProvider"] + real())
    monkeypatch.setattr(ort, "preload_dlls", lambda *a, **k: None, raising=False)
    real_session = ort.InferenceSession

    def cpu_session(path, sess_options=None, providers=None, provider_options=None):
        return real_session(path, sess_options=sess_options, providers=["CPUExecutionProvider"])

    monkeypatch.setattr(ort, "InferenceSession", cpu_session)


# --- the graph file ----------------------------------------------------------------------------

@pytest.mark.parametrize("flip", [False, True])
def test_graph_file_is_valid_onnx_tied_to_its_network_and_uses_only_checked_ops(demo_model, flip):
    path = graph_model_path(demo_model, flip_test=flip)
    assert path.name == ("vitpose_synthetic_coco_graph_flip.onnx" if flip else "vitpose_synthetic_coco_graph.onnx")
    onnx.checker.check_model(str(path), full_check=True)
    model = onnx.load(str(path))
    added = {n.op_type for n in model.graph.node if n.name.startswith("vitpose_")}
    assert added <= CHECKED_OPS, added - CHECKED_OPS
    assert [i.name for i in model.graph.input] == ["image", "crop_boxes"]
    assert [o.name for o in model.graph.output] == ["keypoints"]
    props = {p.key: p.value for p in model.metadata_props}
    network_props = {p.key: p.value for p in onnx.load(str(demo_model)).metadata_props}
    assert {k: props[k] for k in network_props} == network_props  # the network's metadata travels along
    assert props["graph_network_sha256"] == model_digest(demo_model)
    assert props["graph_flip_test"] == str(flip).lower() and props["graph_decode_method"] == "dark-udp"


def test_compose_cli_writes_the_graph_and_refuses_what_it_cannot_wrap(tmp_path, capsys):
    model = tmp_path / "m.onnx"
    shutil.copy(DEMO_MODEL, model)
    assert compose_graph.main(["--model", str(model), "--decode-method", "argmax", "--flip-test"]) == 0
    assert (tmp_path / "m_graph_argmax_flip.onnx").is_file()
    assert capsys.readouterr().out.strip() == f"wrote {tmp_path / 'm_graph_argmax_flip.onnx'}"
    fixed = export_random_model(tmp_path / "fixed.onnx", batch=1)
    assert not graph_model_path(fixed).exists()  # export skips what cannot be wrapped
    assert compose_graph.main(["--model", str(fixed)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("vitpose-compose-graph: error:") and "fixed batch of 1" in err and "\n" not in err
    assert compose_graph.main(["--model", str(tmp_path / "none.onnx")]) == 1
    assert "model not found" in capsys.readouterr().err


# --- same answers as the host pipeline -----------------------------------------------------------

def _compare(host, graph, image, boxes):
    a, b = host.estimate(image, boxes), graph.estimate(image, boxes)
    assert a.shape == b.shape
    assert np.array_equal(np.isnan(a), np.isnan(b))
    good = ~np.isnan(a[..., 0])
    return np.abs(a[..., :2] - b[..., :2])[good], np.abs(a[..., 2] - b[..., 2])


def test_graph_equals_host_on_30_synthetic_scenes(demo_pair):
    host, graph = demo_pair
    assert graph.pipeline == "graph" and host.pipeline == "host"
    errors, score_errors = [], []
    for seed in range(30):
        image, boxes, _ = render_scene(seed)
        xy, score = _compare(host, graph, image, boxes)
        errors.append(xy.ravel())
        score_errors.append(score.ravel())
    errors = np.concatenate(errors)
    assert errors.max() < 0.5 and errors.mean() < 0.05, (errors.max(), errors.mean())
    assert np.concatenate(score_errors).max() < 1e-3


def test_flip_test_invalid_boxes_and_batch_sizes_agree(demo_model):
    host = PoseEstimator(demo_model, providers=("cpu",), pipeline="host", flip_test=True, max_batch=2)
    graph = PoseEstimator(demo_model, providers=("cpu",), pipeline="graph", flip_test=True, max_batch=2)
    image, boxes, _ = render_scene(3, num_people=3)
    bad = np.array([[np.nan, 0, 10, 10], [50, 50, 20, 90], [700, 500, 800, 600]])
    boxes = np.concatenate([boxes[:1], bad, boxes[1:]])  # 6 boxes, 3 valid: more than max_batch
    xy, score = _compare(host, graph, image, boxes)
    assert xy.size == 3 * 17 * 2 and xy.max() < 0.5 and score.max() < 1e-3
    out = graph.estimate(image, boxes)
    assert np.isnan(out[1:4, :, :2]).all() and (out[1:4, :, 2] == 0).all()
    assert graph.estimate(image, np.zeros((0, 4))).shape == (0, 17, 3)
    one = graph.estimate(image, boxes[:1])
    assert np.abs(one - out[:1]).max() < 1e-4  # a person's result does not depend on its batch


def _constant_heatmap_network(path, heatmaps: np.ndarray, input_size=(256, 192)):
    """An ONNX 'network' whose heatmaps are fixed: (N, K, h, w) = the given maps for every crop."""
    k, h, w = heatmaps.shape
    nodes = [helper.make_node("Shape", ["input"], ["shape"]),
             helper.make_node("Slice", ["shape", "zero", "one"], ["n"]),
             helper.make_node("Concat", ["n", "ones3"], ["target"], axis=0),
             helper.make_node("Expand", ["maps", "target"], ["heatmaps"])]
    inits = [numpy_helper.from_array(heatmaps[None].astype(np.float32), "maps"),
             numpy_helper.from_array(np.array([0], np.int64), "zero"),
             numpy_helper.from_array(np.array([1], np.int64), "one"),
             numpy_helper.from_array(np.array([1, 1, 1], np.int64), "ones3")]
    graph = helper.make_graph(nodes, "fixed", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, *input_size])],
                              [helper.make_tensor_value_info("heatmaps", TensorProto.FLOAT, ["N", k, h, w])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    onnx.save(model, path)
    return path


@pytest.mark.parametrize("method", ["dark-udp", "argmax"])
def test_in_graph_decode_recovers_sub_pixel_peaks(tmp_path, method):
    rng = np.random.default_rng(14)
    h, w = 64, 48
    points = np.stack([rng.uniform(6, w - 7, 17), rng.uniform(6, h - 7, 17)], 1)
    if method == "argmax":
        points = np.round(points)
    ys, xs = np.mgrid[0:h, 0:w]
    maps = np.stack([np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * 2.0 ** 2)) for x, y in points]).astype(np.float32)
    path = _constant_heatmap_network(tmp_path / "fixed.onnx", maps)
    write_graph(path, decode_method=method)
    est = PoseEstimator(path, providers=("cpu",), pipeline="graph", decode_method=method)
    boxes = np.array([[100, 50, 300, 450], [10, 10, 60, 40], [0, 0, 640, 480]], float)
    out = est.estimate(np.zeros((480, 640, 3), np.uint8), boxes)
    centers, sizes = boxes_to_center_size(boxes, 192 / 256)
    expected = points[None] / [w - 1, h - 1] * sizes[:, None] + (centers - sizes / 2)[:, None]
    assert np.abs(out[..., :2] - expected).max() < 0.05
    assert np.allclose(out[..., 2], maps.reshape(17, -1).max(1)[None], atol=1e-6)


# --- choosing the pipeline -------------------------------------------------------------------------

def test_pipeline_choice_and_refusals(demo_model, tmp_path):
    assert PoseEstimator(demo_model, providers=("cpu",)).pipeline == "host"  # auto on CPU (README)
    with pytest.raises(ValueError, match="pipeline must be one of"):
        PoseEstimator(demo_model, providers=("cpu",), pipeline="gpu")
    fixed = export_random_model(tmp_path / "fixed.onnx", batch=1)
    command = f"python -m vitpose_ros.model.compose_graph --model {fixed}"
    with pytest.raises(ModelError, match=f"fixed_graph.onnx does not exist; write it with: {command}$"):
        PoseEstimator(fixed, providers=("cpu",), pipeline="graph")


def test_auto_on_a_gpu_provider_runs_the_graph_file_and_falls_back_to_host_without_it(tmp_path, cuda_listed,
                                                                                      caplog):
    model = tmp_path / "m.onnx"
    shutil.copy(DEMO_MODEL, model)
    caplog.set_level(logging.INFO, logger="vitpose_ros")
    assert PoseEstimator(model, providers=("cuda", "cpu"), engine_cache_dir=tmp_path / "cache").pipeline == "host"
    lines = [r.getMessage() for r in caplog.records if "host pipeline (" in r.getMessage()]
    assert lines == [f"m.onnx: host pipeline (m_graph.onnx does not exist; write it with: "
                     f"python -m vitpose_ros.model.compose_graph --model {model})"]
    write_graph(model)
    assert PoseEstimator(model, providers=("cuda", "cpu"), engine_cache_dir=tmp_path / "cache").pipeline == "graph"


def test_a_graph_whose_network_changed_is_never_run(tmp_path):
    model = export_random_model(tmp_path / "m.onnx", seed=0)
    graph_file = graph_model_path(model)
    old_graph = graph_file.read_bytes()
    export_random_model(model, seed=1)  # new weights in the same file: the export rewrites the graph too
    assert graph_file.read_bytes() != old_graph
    graph = PoseEstimator(model, providers=("cpu",), pipeline="graph", engine_cache_dir=tmp_path / "cache")
    assert graph.pipeline == "graph"
    graph_file.write_bytes(old_graph)  # a graph file left over from the first network
    with pytest.raises(ModelError, match="m_graph.onnx does not fit m.onnx: its network has changed since it was "
                                         "composed; write it again with: python -m vitpose_ros.model.compose_graph"):
        PoseEstimator(model, providers=("cpu",), pipeline="graph", engine_cache_dir=tmp_path / "cache")
    write_graph(model, flip_test=True)
    graph_model_path(model, flip_test=True).rename(graph_file)  # right network, wrong variant
    with pytest.raises(ModelError, match="composed with graph_flip_test=true, not false"):
        PoseEstimator(model, providers=("cpu",), pipeline="graph", engine_cache_dir=tmp_path / "cache")


def test_auto_takes_host_with_a_warning_when_the_graph_file_is_stale(tmp_path, cuda_listed, caplog):
    model = model_with_stale_graph(tmp_path / "m.onnx")
    caplog.set_level(logging.INFO, logger="vitpose_ros")
    assert PoseEstimator(model, providers=("cuda", "cpu"), engine_cache_dir=tmp_path / "cache").pipeline == "host"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "host pipeline" in r.getMessage()]
    assert warnings == [f"m.onnx: host pipeline (m_graph.onnx does not fit m.onnx: its network has changed since it "
                        f"was composed; write it again with: python -m vitpose_ros.model.compose_graph --model {model})"]


def test_missing_library_probe():
    assert missing_library(["libc.so.6"]) is None
    assert missing_library(["libc.so.6", "libvitpose_no_such_library.so.10"]) == "libvitpose_no_such_library.so.10"


def test_one_warning_per_unusable_provider_and_no_onnxruntime_noise(capfd, caplog):
    caplog.set_level(logging.INFO, logger="vitpose_ros.core.engine")
    engine = OnnxEngine(DEMO_MODEL, providers="tensorrt,cuda,cpu")  # this build has neither
    assert engine.active_provider == "CPUExecutionProvider"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2 and "'tensorrt'" in warnings[0] and "'cuda'" in warnings[1]
    captured = capfd.readouterr()
    assert "EP Error" not in captured.err + captured.out


def test_graph_pipeline_finds_external_data_beside_the_model(tmp_path, monkeypatch):
    """ViTPose-H is exported with external data, and so is its graph file."""
    from vitpose_ros.model import export

    monkeypatch.setattr(export, "EXTERNAL_DATA_THRESHOLD", 0)
    monkeypatch.setattr(compose_graph, "EXTERNAL_DATA_THRESHOLD", 0)
    path = export_random_model(tmp_path / "models" / "big.onnx")
    assert (tmp_path / "models" / "big.onnx.data").is_file()
    assert (tmp_path / "models" / "big_graph.onnx.data").is_file()
    assert (tmp_path / "models" / "big_graph.onnx").stat().st_size < 1_000_000  # the weights are beside it
    monkeypatch.chdir(tmp_path)  # not the model's folder
    host = PoseEstimator(path, providers=("cpu",), pipeline="host")
    graph = PoseEstimator(path, providers=("cpu",), pipeline="graph")
    image, boxes, _ = render_scene(1)
    xy, score = _compare(host, graph, image, boxes)
    assert xy.max() < 0.5 and score.max() < 1e-3
