"""INT8 models (dynamic and static QDQ), their converter CLIs, and what the runtime sees."""
import json
import pathlib

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest

from vitpose_ros.core.estimator import PoseEstimator
from vitpose_ros.core.metadata import ModelMetadata
from vitpose_ros.model import convert, export
from vitpose_ros.model.int8 import quantizable_layers, quantize_model
from vitpose_ros.synthetic import demo_model_path
from vitpose_ros.synthetic.calibration import BOXES_FILE, write_calibration_frames
from vitpose_ros.synthetic.evaluate import Accumulator, render_eval_frame


@pytest.fixture(scope="module")
def fp32_model(tmp_path_factory):
    from model_factory import export_random_model

    return export_random_model(tmp_path_factory.mktemp("int8") / "tiny.onnx", image_size=(64, 48))


@pytest.fixture(scope="module")
def calibration(tmp_path_factory):
    folder = tmp_path_factory.mktemp("calibration")
    write_calibration_frames(folder, frames=6)
    return folder


def optimized_op_types(path, tmp_path) -> dict:
    """Op counts of the graph ONNX Runtime's CPU provider really runs (after its fusions)."""
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    ops = {}
    for node in onnx.load(options.optimized_model_filepath).graph.node:
        ops[node.op_type] = ops.get(node.op_type, 0) + 1
    return ops


def metadata(path) -> dict:
    return {p.key: p.value for p in onnx.load(str(path)).metadata_props}


def test_layers_are_sorted_into_network_parts(fp32_model):
    layers = quantizable_layers(onnx.load(str(fp32_model)))
    depth = 4  # the "tiny" variant
    assert len(layers.blocks) == 4 * depth and all(
        any(k in n for k in ("qkv", "proj", "fc1", "fc2")) for n in layers.blocks)
    assert len(layers.attention) == 2 * depth and all("/attn/MatMul" in n for n in layers.attention)
    assert layers.patch_embed == ("/backbone/patch_embed/proj/Conv",)
    assert len(layers.head) == 3 and all(n.startswith("/head/") for n in layers.head)


def test_dynamic_int8_quantizes_weight_matmuls_only(fp32_model, tmp_path):
    out = quantize_model(fp32_model, tmp_path / "dyn.onnx", mode="dynamic")
    props = metadata(out)
    assert (props["precision"], props["quantization"], props["quantized_parts"]) == ("int8", "dynamic", "blocks,head")
    assert props["variant"] == "tiny" and props["dark_kernel"] == "11"  # the source's metadata carried over
    weights = {t.name: t for t in onnx.load(str(out)).graph.initializer}
    int8_matrices = [t for t in weights.values() if t.data_type == onnx.TensorProto.INT8 and len(t.dims) == 2]
    assert len(int8_matrices) == 16 + 3  # qkv, proj, fc1, fc2 x 4 blocks; 2 deconvolutions + 1x1 conv
    ops = optimized_op_types(out, tmp_path)
    assert ops.get("DynamicQuantizeMatMul", 0) + ops.get("MatMulInteger", 0) == 16 + 3
    assert "ConvTranspose" not in ops
    # the attention's activation x activation products stay float
    assert ops.get("MatMul", 0) + ops.get("FusedMatMul", 0) == 8
    estimator = PoseEstimator(out, providers="cpu")
    assert estimator.metadata.precision == "int8"
    assert out.stat().st_size < fp32_model.stat().st_size


def test_blocks_only_leaves_the_head_as_deconvolutions(fp32_model, tmp_path):
    out = quantize_model(fp32_model, tmp_path / "blocks.onnx", mode="dynamic", parts=("blocks",))
    assert metadata(out)["quantized_parts"] == "blocks"
    ops = optimized_op_types(out, tmp_path)
    assert ops.get("DynamicQuantizeMatMul", 0) + ops.get("MatMulInteger", 0) == 16 and ops["ConvTranspose"] == 2


def test_static_int8_is_qdq_with_per_channel_weights_and_symmetric_activations(fp32_model, calibration, tmp_path):
    out = quantize_model(fp32_model, tmp_path / "static.onnx", mode="static", calibration=calibration,
                         boxes_file=calibration / BOXES_FILE)
    assert metadata(out)["quantization"] == "static"
    graph = onnx.load(str(out)).graph
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in graph.initializer}
    dequantize = [n for n in graph.node if n.op_type == "DequantizeLinear"]
    weight_dq = [n for n in dequantize if inits.get(n.input[0]) is not None and inits[n.input[0]].ndim == 2]
    assert len(weight_dq) == 16 + 3  # the blocks' and the head's (as MatMuls) weight matrices
    for node in weight_dq:  # per output channel: one scale per column of the (in, out) weight
        assert inits[node.input[1]].shape == (inits[node.input[0]].shape[1],)
    activation_q = [n for n in graph.node if n.op_type == "QuantizeLinear"]
    assert activation_q
    for node in activation_q:  # int8 with zero point 0: TensorRT's explicit quantization needs it
        zero_point = inits[node.input[2]]
        assert zero_point.dtype == np.int8 and not zero_point.any()
        assert float(inits[node.input[1]]) > 0
    # ONNX Runtime's CPU provider runs every quantized MatMul as an integer kernel
    ops = optimized_op_types(out, tmp_path)
    assert ops.get("MatMulIntegerToFloat", 0) + ops.get("QLinearMatMul", 0) == 16 + 3
    assert "ConvTranspose" not in ops


def test_static_calibration_from_a_video_with_whole_frame_boxes(fp32_model, tmp_path):
    video = tmp_path / "walk.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10, (96, 128))
    from vitpose_ros.synthetic import render_person_crop

    for seed in range(4):
        image, _, _ = render_person_crop(seed)
        writer.write(cv2.cvtColor(cv2.resize(image, (96, 128)), cv2.COLOR_RGB2BGR))
    writer.release()
    said = []
    quantize_model(fp32_model, tmp_path / "video.onnx", mode="static", calibration=video, say=said.append)
    assert said == [f"calibrated on 4 person crops from {video}"]


@pytest.mark.parametrize("case, words", [
    ("static_without_calibration", "--calibration"),
    ("empty_folder", "no images"),
    ("boxes_name_nothing", "no person crop"),
    ("bad_boxes_file", "boxes file"),
    ("not_onnx", "not a loadable ONNX model"),
    ("already_int8", "INT8 is made from an fp32 model"),
])
def test_bad_conversions_fail_with_one_line_and_write_nothing(case, words, fp32_model, calibration, tmp_path, capsys):
    source, args = str(fp32_model), []
    if case == "static_without_calibration":
        args = ["--int8-mode", "static"]
    elif case == "empty_folder":
        (tmp_path / "empty").mkdir()
        args = ["--calibration", str(tmp_path / "empty")]
    elif case == "boxes_name_nothing":
        (tmp_path / "boxes.json").write_text(json.dumps({"other.png": [[0, 0, 10, 10]]}))
        args = ["--calibration", str(calibration), "--boxes", str(tmp_path / "boxes.json")]
    elif case == "bad_boxes_file":
        (tmp_path / "boxes.json").write_text("[1, 2")
        args = ["--calibration", str(calibration), "--boxes", str(tmp_path / "boxes.json")]
    elif case == "not_onnx":
        source = str(tmp_path / "junk.onnx")
        pathlib.Path(source).write_bytes(b"not a model")
    elif case == "already_int8":
        source = str(quantize_model(fp32_model, tmp_path / "already.onnx", mode="dynamic"))
    out = tmp_path / "out.onnx"
    assert convert.main(["--input", source, "--precision", "int8", "--output", str(out)] + args) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("vitpose-convert: error:") and words in err
    assert not out.exists()


def test_convert_cli_writes_the_int8_sibling_and_reports_the_shift(fp32_model, calibration, tmp_path, capsys):
    source = tmp_path / "vitpose_t_coco.onnx"
    source.write_bytes(fp32_model.read_bytes())
    assert convert.main(["--input", str(source), "--precision", "int8", "--calibration", str(calibration),
                         "--boxes", str(calibration / BOXES_FILE)]) == 0
    out = tmp_path / "vitpose_t_coco_int8.onnx"
    assert metadata(out)["quantization"] == "static"  # --calibration given: static by default
    text = capsys.readouterr().out
    assert f"wrote {out}: int8" in text and "heatmap peaks vs fp32: mean" in text


def test_export_with_precision_int8_writes_both_files(tmp_path, capsys):
    from vitpose_ros.model import build_model, init_weights, save_own_checkpoint, variant_config

    cfg = variant_config("tiny", image_size=(64, 48))
    checkpoint = tmp_path / "tiny.pth"
    save_own_checkpoint(checkpoint, cfg, init_weights(build_model(cfg)).state_dict())
    out = tmp_path / "vitpose_t_coco.onnx"
    code = export.main(["--checkpoint", str(checkpoint), "--output", str(out), "--precision", "int8",
                        "--int8-mode", "dynamic"])
    assert code == 0, capsys.readouterr().err
    assert ModelMetadata.from_props(metadata(out)).precision == "fp32"
    assert ModelMetadata.from_props(metadata(tmp_path / "vitpose_t_coco_int8.onnx")).precision == "int8"


def test_shipped_int8_demo_model_matches_fp32_on_held_out_scenes():
    """A cheap version of the README's 1,000-frame measurement: 12 held-out scenes."""
    int8_path = demo_model_path(precision="int8")
    props = metadata(int8_path)
    assert (props["precision"], props["quantization"]) == ("int8", "static")
    fp32, int8 = PoseEstimator(demo_model_path(), providers="cpu"), PoseEstimator(int8_path, providers="cpu")
    results, shifts = [Accumulator(), Accumulator()], []
    for i in range(12):
        image, boxes, truth = render_eval_frame("scenes", i)
        predicted = [fp32.estimate(image, boxes), int8.estimate(image, boxes)]
        for acc, p in zip(results, predicted):
            acc.add(p, truth, boxes)
        shifts.append(np.linalg.norm(predicted[0][..., :2] - predicted[1][..., :2], axis=-1).ravel())
    fp32_pck, int8_pck = (r.results()["pck@0.05"] for r in results)
    assert fp32_pck > 0.8 and abs(int8_pck - fp32_pck) <= 0.03
    assert np.mean(np.concatenate(shifts)) < 1.5  # pixels in 640x480 scenes


def test_int8_on_the_cuda_provider_is_advised_against():
    """The CUDA provider cannot run here; the rule the engine logs by is checked on its own."""
    from vitpose_ros.core.engine import int8_provider_advice

    assert "slower than fp32" in int8_provider_advice("int8", "cuda")
    assert all(int8_provider_advice(p, provider) is None
               for p, provider in [("int8", "cpu"), ("int8", "tensorrt"), ("fp32", "cuda"), ("fp16", "cuda")])
