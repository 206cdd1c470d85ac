"""The device-side pipeline (one ONNX graph: crop, normalise, network, decode) gives the
host pipeline's keypoints; the protobuf writer behind it writes valid ONNX; provider probing."""
import logging
import pathlib

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from model_factory import export_random_model
from onnx import TensorProto, helper, numpy_helper

from vitpose_ros.core import onnx_proto as pb
from vitpose_ros.core.device_graph import compose
from vitpose_ros.core.engine import ModelError, OnnxEngine, missing_library
from vitpose_ros.core.estimator import PoseEstimator
from vitpose_ros.core.preprocess import boxes_to_center_size
from vitpose_ros.synthetic import render_scene

DEMO_MODEL = pathlib.Path(__file__).resolve().parents[1] / "vitpose_ros/synthetic/models/vitpose_synthetic_coco.onnx"
# Every op the wrapper may add: each is in TensorRT 10's ONNX parser list and has an ORT CUDA
# kernel (device_graph's docstring); a new op must be checked there before it joins this list.
CHECKED_OPS = {"Add", "Sub", "Mul", "Div", "Cast", "Shape", "Gather", "Transpose", "Unsqueeze", "Reshape",
               "Split", "Concat", "Round", "GridSample", "Pad", "Conv", "Clip", "Log", "ArgMax",
               "GatherElements", "MatMul"}


@pytest.fixture(scope="module")
def demo_pair():
    host = PoseEstimator(DEMO_MODEL, providers=("cpu",), pipeline="host")
    graph = PoseEstimator(DEMO_MODEL, providers=("cpu",), pipeline="graph")
    return host, graph


# --- protobuf writer ---------------------------------------------------------------------------

def test_writer_output_is_valid_onnx_with_the_values_written():
    weights = np.arange(6, dtype=np.float32).reshape(2, 3)
    nodes = [pb.node("Add", ["x", "w"], ["y"]),
             pb.node("Transpose", ["y"], ["t"], perm=[1, 0]),
             pb.node("Pad", ["t", "pads"], ["z"], mode="reflect"),
             pb.node("LeakyRelu", ["z"], ["out"], alpha=0.25)]
    body = pb.graph("g", nodes, [pb.value_info("x", pb.FLOAT, ["n", 3])], [pb.value_info("out", pb.FLOAT, ["m", "k"])],
                    [pb.tensor("w", weights), pb.tensor("pads", np.array([0, -0, 1, 1], np.int64)),
                     pb.tensor("scalar", np.array(-3, np.int64))])
    model = onnx.load_from_string(pb.model(body, 17, metadata={"key": "value"}))
    onnx.checker.check_model(model, full_check=True)
    init = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    assert np.array_equal(init["w"], weights) and init["scalar"].shape == () and init["scalar"] == -3
    attrs = {a.name: helper.get_attribute_value(a) for n in model.graph.node for a in n.attribute}
    assert attrs == {"perm": [1, 0], "mode": b"reflect", "alpha": 0.25}
    assert model.metadata_props[0].key == "key" and model.opset_import[0].version == 17
    dims = [d.dim_param for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims[0] == "n" and model.graph.input[0].type.tensor_type.shape.dim[1].dim_value == 3
    x = np.ones((2, 3), np.float32)
    out = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    assert np.array_equal(out, np.pad((x + weights).T, ((0, 1), (0, 1)), mode="reflect"))  # pads: begins, then ends


def test_field_splitter_reads_back_every_field_of_a_real_model():
    data = DEMO_MODEL.read_bytes()
    fields = pb.split_fields(data)
    assert b"".join(raw for _, raw, _ in fields) == data
    graph = [payload for number, _, payload in fields if number == pb.MODEL_GRAPH][0]
    inputs = [pb.field_string(p, pb.VALUE_INFO_NAME) for n, _, p in pb.split_fields(graph) if n == pb.GRAPH_INPUT]
    assert inputs == [i.name for i in onnx.load(DEMO_MODEL).graph.input]
    with pytest.raises(ValueError, match="truncated"):
        pb.split_fields(data[:1000])


@pytest.mark.parametrize("flip", [False, True])
def test_composed_graph_is_valid_and_uses_only_checked_ops(demo_pair, flip):
    _, est = demo_pair
    m = est.metadata
    composed = compose(DEMO_MODEL.read_bytes(), "input", "heatmaps", (m.input_height, m.input_width),
                       m.num_keypoints, m.mean, m.std, m.dark_kernel,
                       flip_permutation=est.skeleton.flip_permutation() if flip else None)
    model = onnx.load_from_string(composed)
    onnx.checker.check_model(model, full_check=True)
    added = {n.op_type for n in model.graph.node if n.name.startswith("vitpose_")}
    assert added <= CHECKED_OPS, added - CHECKED_OPS
    assert [i.name for i in model.graph.input] == ["image", "crop_boxes"]
    assert [o.name for o in model.graph.output] == ["keypoints"]
    assert dict((p.key, p.value) for p in model.metadata_props)["dark_kernel"] == str(m.dark_kernel)


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


def test_flip_test_invalid_boxes_and_batch_sizes_agree(tmp_path):
    host = PoseEstimator(DEMO_MODEL, providers=("cpu",), pipeline="host", flip_test=True, max_batch=2)
    graph = PoseEstimator(DEMO_MODEL, providers=("cpu",), pipeline="graph", flip_test=True, max_batch=2)
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
    est = PoseEstimator(path, providers=("cpu",), pipeline="graph", decode_method=method)
    boxes = np.array([[100, 50, 300, 450], [10, 10, 60, 40], [0, 0, 640, 480]], float)
    out = est.estimate(np.zeros((480, 640, 3), np.uint8), boxes)
    centers, sizes = boxes_to_center_size(boxes, 192 / 256)
    expected = points[None] / [w - 1, h - 1] * sizes[:, None] + (centers - sizes / 2)[:, None]
    assert np.abs(out[..., :2] - expected).max() < 0.05
    assert np.allclose(out[..., 2], maps.reshape(17, -1).max(1)[None], atol=1e-6)


# --- choosing the pipeline -------------------------------------------------------------------------

def test_pipeline_choice_and_refusals(tmp_path):
    assert PoseEstimator(DEMO_MODEL, providers=("cpu",)).pipeline == "host"  # auto on CPU (README)
    with pytest.raises(ValueError, match="pipeline must be one of"):
        PoseEstimator(DEMO_MODEL, providers=("cpu",), pipeline="gpu")
    fixed = export_random_model(tmp_path / "fixed.onnx", batch=1)
    with pytest.raises(ModelError, match="fixed batch"):
        PoseEstimator(fixed, providers=("cpu",), pipeline="graph")


def test_missing_library_probe():
    assert missing_library(["libc.so.6"]) is None
    assert missing_library(["libc.so.6", "libvitpose_no_such_library.so.10"]) == "libvitpose_no_such_library.so.10"


def test_one_warning_per_unusable_provider_and_no_onnxruntime_noise(capfd, caplog):
    caplog.set_level(logging.INFO, logger="vitpose_ros.core.engine")
    engine = OnnxEngine(DEMO_MODEL, providers="tensorrt,cuda,cpu")
    assert engine.active_provider == "CPUExecutionProvider"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2 and "'tensorrt'" in warnings[0] and "'cuda'" in warnings[1]
    captured = capfd.readouterr()
    assert "EP Error" not in captured.err + captured.out


def test_graph_pipeline_finds_external_data_beside_the_model(tmp_path, monkeypatch):
    """ViTPose-H is exported with external data; the composed graph is loaded from bytes."""
    from vitpose_ros.model import export

    monkeypatch.setattr(export, "EXTERNAL_DATA_THRESHOLD", 0)
    path = export_random_model(tmp_path / "models" / "big.onnx")
    assert (tmp_path / "models" / "big.onnx.data").is_file()
    monkeypatch.chdir(tmp_path)  # not the model's folder
    host = PoseEstimator(path, providers=("cpu",), pipeline="host")
    graph = PoseEstimator(path, providers=("cpu",), pipeline="graph")
    image, boxes, _ = render_scene(1)
    xy, score = _compare(host, graph, image, boxes)
    assert xy.max() < 0.5 and score.max() < 1e-3
