"""The head's deconvolutions as MatMuls (model/subpixel.py): same numbers as ONNX Runtime's own
ConvTranspose, so INT8 can quantize the head with integer GEMMs without changing what it computes."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from vitpose_ros.model.subpixel import rewrite_deconvolutions


def head_graph(rng, cin=6, mid=5, out=3, height=4, width=3, bias=True, kernel=4, relu=True):
    """ConvTranspose(k, s2, p1) -> Relu -> ConvTranspose(4, s2, p1) -> Relu -> 1x1 Conv, random weights."""
    inits = [numpy_helper.from_array(rng.standard_normal((cin, mid, kernel, kernel)).astype(np.float32), "w1"),
             numpy_helper.from_array(rng.standard_normal((mid, mid, 4, 4)).astype(np.float32), "w2"),
             numpy_helper.from_array(rng.standard_normal(mid).astype(np.float32), "b2"),
             numpy_helper.from_array(rng.standard_normal((out, mid, 1, 1)).astype(np.float32), "w3"),
             numpy_helper.from_array(rng.standard_normal(out).astype(np.float32), "b3")]
    deconv = dict(kernel_shape=[kernel, kernel], strides=[2, 2], pads=[1, 1, 1, 1])
    first_inputs = ["x", "w1"]
    if bias:
        inits.append(numpy_helper.from_array(rng.standard_normal(mid).astype(np.float32), "b1"))
        first_inputs.append("b1")
    nodes = [helper.make_node("ConvTranspose", first_inputs, ["d1"], name="deconv1", **deconv),
             helper.make_node("Relu" if relu else "Identity", ["d1"], ["r1"], name="act1"),
             helper.make_node("ConvTranspose", ["r1", "w2", "b2"], ["d2"], name="deconv2",
                              **dict(deconv, kernel_shape=[4, 4])),
             helper.make_node("Relu", ["d2"], ["r2"], name="act2"),
             helper.make_node("Conv", ["r2", "w3", "b3"], ["y"], name="final", kernel_shape=[1, 1])]
    graph = helper.make_graph(nodes, "head", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                            ["batch", cin, height, width])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return onnx.shape_inference.infer_shapes(model)


def run(model, x):
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


@pytest.mark.parametrize("bias, relu", [(True, True), (False, True), (True, False)])
def test_rewritten_head_computes_what_the_deconvolutions_compute(bias, relu):
    rng = np.random.default_rng(3)
    model = head_graph(rng, bias=bias, relu=relu)
    x = rng.standard_normal((2, 6, 4, 3)).astype(np.float32)
    expected = run(model, x)
    renamed = rewrite_deconvolutions(model)
    onnx.checker.check_model(model, full_check=True)
    ops = [n.op_type for n in model.graph.node]
    assert "ConvTranspose" not in ops and "Conv" not in ops
    assert set(renamed) == {"deconv1", "deconv2", "final"}
    matmuls = {n.name for n in model.graph.node if n.op_type == "MatMul"}
    assert set(renamed.values()) == matmuls
    got = run(model, x)
    assert got.shape == expected.shape == (2, 3, 16, 12)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    # old weights are gone, so the file does not carry the head twice
    assert not {"w1", "w2", "w3"} & {t.name for t in model.graph.initializer}


def test_other_deconvolutions_are_left_alone():
    rng = np.random.default_rng(4)
    model = head_graph(rng, kernel=3)  # kernel 3: not the sub-pixel pattern; the second one still is
    x = rng.standard_normal((1, 6, 4, 3)).astype(np.float32)
    expected = run(model, x)
    renamed = rewrite_deconvolutions(model)
    assert set(renamed) == {"deconv2", "final"}
    assert [n.name for n in model.graph.node if n.op_type == "ConvTranspose"] == ["deconv1"]
    np.testing.assert_allclose(run(model, x), expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_exported_vitpose_head_rewrites_exactly(tmp_path):
    """The real export after onnxruntime's pre-processing (BatchNorm folded into the weights)."""
    from model_factory import export_random_model
    from onnxruntime.quantization.shape_inference import quant_pre_process

    source = export_random_model(tmp_path / "tiny.onnx", image_size=(64, 48), seed=2)
    prepared = tmp_path / "prepared.onnx"
    quant_pre_process(str(source), str(prepared))
    model = onnx.load(str(prepared))
    x = np.random.default_rng(5).standard_normal((3, 3, 64, 48)).astype(np.float32)
    session = ort.InferenceSession(str(prepared), providers=["CPUExecutionProvider"])
    expected = session.run(None, {session.get_inputs()[0].name: x})[0]
    assert len(rewrite_deconvolutions(model)) == 3
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
