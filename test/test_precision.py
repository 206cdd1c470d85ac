"""fp16 copies of exported models (export --precision fp16, vitpose_ros.model.convert)."""
import shutil
import subprocess
import sys

import numpy as np
import onnx
import pytest
from hf_reference import make_hf_model
from test_device_graph import DEMO_MODEL

from vitpose_ros.core.estimator import PoseEstimator
from vitpose_ros.core.metadata import ModelMetadata, precision_model_path
from vitpose_ros.model import export
from vitpose_ros.model.convert import heatmap_difference
from vitpose_ros.model.precision import FP16_FP32_OPS
from vitpose_ros.synthetic import render_scene


def _props(path):
    return {p.key: p.value for p in onnx.load(str(path)).metadata_props}


def test_export_writes_an_fp16_sibling_with_float_io_and_fp32_sensitive_ops(tmp_path):
    make_hf_model().save_pretrained(tmp_path / "hf")
    out = tmp_path / "m.onnx"
    assert export.main(["--checkpoint", str(tmp_path / "hf"), "--output", str(out), "--precision", "fp16"]) == 0
    fp16 = precision_model_path(out, "fp16")
    assert fp16 == tmp_path / "m_fp16.onnx" and fp16.stat().st_size < 0.6 * out.stat().st_size
    assert ModelMetadata.from_props(_props(fp16)).precision == "fp16"
    assert ModelMetadata.from_props(_props(out)).precision == "fp32"
    model = onnx.load(str(fp16))
    io = list(model.graph.input) + list(model.graph.output)
    assert all(v.type.tensor_type.elem_type == onnx.TensorProto.FLOAT for v in io)
    types = {t.name: t.data_type for t in model.graph.initializer}
    blocked = [n for n in model.graph.node if n.op_type in FP16_FP32_OPS]
    assert any(n.op_type == "LayerNormalization" for n in blocked) and any(n.op_type == "Softmax" for n in blocked)
    for n in blocked:  # their weights stay float32 (inputs come through Casts to float32)
        assert all(types.get(i, onnx.TensorProto.FLOAT) == onnx.TensorProto.FLOAT for i in n.input)
    assert any(t == onnx.TensorProto.FLOAT16 for t in types.values())
    assert heatmap_difference(out, fp16) < 0.01


def test_fp16_demo_keypoints_stay_within_half_a_pixel_of_fp32(tmp_path):
    source = tmp_path / DEMO_MODEL.name
    shutil.copy(DEMO_MODEL, source)
    result = subprocess.run([sys.executable, "-m", "vitpose_ros.model.convert", "--input", str(source),
                             "--precision", "fp16"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    fp16 = precision_model_path(source, "fp16")
    assert fp16.is_file() and f"wrote {fp16}" in result.stdout
    fp32_est = PoseEstimator(source, providers=("cpu",), pipeline="host")
    fp16_est = PoseEstimator(fp16, providers=("cpu",), pipeline="graph")  # the CPU provider runs fp16 graphs
    assert fp16_est.metadata.precision == "fp16"
    errors = []
    for seed in range(30):
        image, boxes, _ = render_scene(seed)
        errors.append(np.abs(fp32_est.estimate(image, boxes)[..., :2] - fp16_est.estimate(image, boxes)[..., :2]).ravel())
    assert np.concatenate(errors).max() < 0.5
    # an fp16 model is not converted again: one line, non-zero exit
    again = subprocess.run([sys.executable, "-m", "vitpose_ros.model.convert", "--input", str(fp16),
                            "--precision", "fp16", "--output", str(tmp_path / "x.onnx")], capture_output=True, text=True)
    assert again.returncode == 1 and "already fp16" in again.stderr and len(again.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("argv,says", [(["--precision", "fp8"], "invalid choice"),
                                       (["--input", "nope.onnx", "--precision", "fp16"], "not a loadable ONNX model")])
def test_convert_cli_refuses_bad_arguments(argv, says):
    argv = argv if "--input" in argv else ["--input", str(DEMO_MODEL), *argv]
    result = subprocess.run([sys.executable, "-m", "vitpose_ros.model.convert", *argv], capture_output=True, text=True)
    assert result.returncode != 0 and says in result.stderr
