"""The heatmap head's deconvolutions rewritten as MatMuls (sub-pixel form), for INT8 on CPU.

ONNX Runtime's CPU provider has no integer ConvTranspose kernel, so a quantized head would run in
float; in ViT-S that head is a fifth of the multiply-adds and a third of an INT8 run. A
ConvTranspose with kernel 4, stride 2 and padding 1 is, for each output phase (a, b) in {0, 1}^2
(output pixel (2i + a, 2j + b)), a 2x2 convolution of the input. All four phases are one MatMul:
a 2x2 im2col of the padded input (4 * Cin channels) times a (4 * Cin, 4 * Cout) weight, whose
output is cut into the four phases and interleaved into the 2x larger map. The MatMul has a
constant weight, so both INT8 flavours quantize it with the same integer GEMMs as the transformer
blocks. Between two rewritten layers the tensors stay channels-last (no transposes); a 1x1
convolution after them becomes a MatMul too. The result equals the source graph up to float
rounding (test/test_subpixel.py holds it to that).

Works on a graph after ``quant_pre_process`` (BatchNorm folded into the ConvTranspose, shapes
inferred); nodes that do not match the pattern are left as they are.
"""
from __future__ import annotations

import itertools

import numpy as np

# Kernel row (or column) that window row dy of the 2x2 im2col meets in output phase a. Output row
# 2i + a reads input rows i - 1, i (phase 0: kernel rows 3, 1) or i, i + 1 (phase 1: rows 2, 0);
# in the input padded by one, those are rows r, r + 1 with r = i + a.
KERNEL_TAP = ((3, 1), (2, 0))


def subpixel_weight(weight: np.ndarray, bias: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """ConvTranspose weight (Cin, Cout, 4, 4) and bias -> MatMul weight (4 Cin, 4 Cout) and bias (4 Cout).

    Rows are (dy, dx, cin) in im2col order, columns (a, b, cout) in phase order."""
    cin, cout = weight.shape[:2]
    matrix = np.empty((2, 2, cin, 2, 2, cout), weight.dtype)
    for dy, dx, a, b in itertools.product(range(2), repeat=4):
        matrix[dy, dx, :, a, b, :] = weight[:, :, KERNEL_TAP[a][dy], KERNEL_TAP[b][dx]]
    if bias is None:
        bias = np.zeros(cout, weight.dtype)
    return matrix.reshape(4 * cin, 4 * cout), np.tile(bias, 4).astype(weight.dtype)


def _attributes(node) -> dict:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _is_subpixel_deconvolution(node, constants) -> bool:
    attrs = _attributes(node)
    return (node.op_type == "ConvTranspose" and node.input[1] in constants
            and (len(node.input) < 3 or node.input[2] in constants)
            and list(attrs.get("kernel_shape", [4, 4])) == [4, 4] and list(attrs.get("strides", [1, 1])) == [2, 2]
            and list(attrs.get("pads", [0] * 4)) == [1] * 4 and attrs.get("group", 1) == 1
            and list(attrs.get("dilations", [1, 1])) == [1, 1] and not any(attrs.get("output_padding", []))
            and not attrs.get("output_shape") and attrs.get("auto_pad", b"NOTSET") in (b"NOTSET", "NOTSET"))


def _is_pointwise_convolution(node, constants) -> bool:
    attrs = _attributes(node)
    return (node.op_type == "Conv" and node.input[1] in constants
            and (len(node.input) < 3 or node.input[2] in constants)
            and constants[node.input[1]].shape[2:] == (1, 1) and attrs.get("group", 1) == 1
            and not any(attrs.get("pads", [])) and set(attrs.get("strides", [1])) == {1})


class _GraphBuilder:
    """New nodes and constants with unique names under one prefix (a constant is made once per name)."""

    def __init__(self, prefix: str):
        self.prefix, self.nodes, self.initializers = prefix, [], []

    def constant(self, name: str, array) -> str:
        from onnx import numpy_helper

        full = f"{self.prefix}/{name}"
        if all(t.name != full for t in self.initializers):
            self.initializers.append(numpy_helper.from_array(np.asarray(array), full))
        return full

    def node(self, op_type: str, inputs, name: str, output: str | None = None, **attrs) -> str:
        from onnx import helper

        output = output or f"{self.prefix}/{name}_output"
        self.nodes.append(helper.make_node(op_type, list(inputs), [output], name=f"{self.prefix}/{name}", **attrs))
        return output


def _subpixel_matmul(build: _GraphBuilder, x_nhwc: str, height: int, width: int, weight, bias, relu: bool) -> str:
    """NHWC (N, H, W, Cin) -> NHWC (N, 2H, 2W, Cout): the ConvTranspose as im2col + MatMul + interleave."""
    cout = weight.shape[1]
    matrix, tiled_bias = subpixel_weight(weight, bias)
    padded = build.node("Pad", [x_nhwc, build.constant("pads", np.array([0, 1, 1, 0, 0, 1, 1, 0], np.int64))], "pad")
    windows = [build.node("Slice", [padded, build.constant(f"win{dy}{dx}_starts", np.array([dy, dx], np.int64)),
                                    build.constant(f"win{dy}{dx}_ends", np.array([dy + height + 1, dx + width + 1],
                                                                                np.int64)),
                                    build.constant("spatial_axes", np.array([1, 2], np.int64))], f"window{dy}{dx}")
               for dy, dx in itertools.product(range(2), repeat=2)]
    columns = build.node("Concat", windows, "im2col", axis=3)
    product = build.node("MatMul", [columns, build.constant("weight", matrix)], "matmul")
    out = build.node("Add", [product, build.constant("bias", tiled_bias)], "bias")
    if relu:
        out = build.node("Relu", [out], "relu")
    phase_axes = build.constant("phase_axes", np.array([1, 2, 3], np.int64))
    rows = []
    for a in range(2):
        phases = []
        for b in range(2):
            group = 2 * a + b
            starts = build.constant(f"phase{a}{b}_starts", np.array([a, b, group * cout], np.int64))
            ends = build.constant(f"phase{a}{b}_ends", np.array([a + height, b + width, (group + 1) * cout], np.int64))
            phases.append(build.node("Slice", [out, starts, ends, phase_axes], f"phase{a}{b}"))
        # [n, i, j, b, c] -> [n, i, 2j + b, c]: output row 2i + a
        pair = build.node("Concat", phases, f"row{a}_pair", axis=3)
        rows.append(build.node("Reshape", [pair, build.constant(f"row{a}_shape",
                                                                  np.array([0, height, 2 * width, cout], np.int64))],
                               f"row{a}"))
    # [n, i, a * 2W + col, c] -> [n, 2i + a, col, c]
    both = build.node("Concat", rows, "rows", axis=2)
    return build.node("Reshape", [both, build.constant("out_shape", np.array([0, 2 * height, 2 * width, cout],
                                                                              np.int64))], "interleave")


def rewrite_deconvolutions(model) -> dict[str, str]:
    """Rewrite, in place, each ConvTranspose(4, stride 2, pad 1) [-> Relu] of ``model`` as a MatMul,
    and a 1x1 Conv reading such a chain's output. Returns {source node name: its MatMul's name}."""
    from onnx import numpy_helper

    graph = model.graph
    constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in itertools.chain(graph.input, graph.value_info)}
    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    graph_outputs = {o.name for o in graph.output}

    def only_consumer(tensor):
        users = consumers.get(tensor, [])
        return users[0] if len(users) == 1 and tensor not in graph_outputs else None

    replaced, renamed = set(), {}
    new_nodes_after: dict[int, list] = {}
    nhwc_of: dict[str, str] = {}  # NCHW output of a rewritten layer -> its channels-last twin
    for index, node in enumerate(graph.node):
        if not _is_subpixel_deconvolution(node, constants):
            continue
        shape = shapes.get(node.input[0], [])
        if len(shape) != 4 or not all(shape[1:]):
            continue  # spatial size unknown: leave it as a ConvTranspose
        _, _, height, width = shape
        build = _GraphBuilder(node.name)
        x_nhwc = nhwc_of.get(node.input[0]) or build.node("Transpose", [node.input[0]], "to_nhwc", perm=[0, 2, 3, 1])
        output = node.output[0]
        relu = only_consumer(output)
        relu = relu if relu is not None and relu.op_type == "Relu" else None
        bias = constants[node.input[2]] if len(node.input) > 2 and node.input[2] else None
        y_nhwc = _subpixel_matmul(build, x_nhwc, height, width, constants[node.input[1]], bias, relu is not None)
        final = relu.output[0] if relu is not None else output
        replaced.update({node.name} | ({relu.name} if relu is not None else set()))
        renamed[node.name] = f"{node.name}/matmul"
        nhwc_of[final] = y_nhwc
        # The NCHW tensor for other readers; pruned below when the next rewritten layer is its only one.
        build.node("Transpose", [y_nhwc], "to_nchw", output=final, perm=[0, 3, 1, 2])
        pointwise = only_consumer(final)
        if pointwise is not None and _is_pointwise_convolution(pointwise, constants):
            weight = constants[pointwise.input[1]][:, :, 0, 0]  # (K, C)
            head = _GraphBuilder(pointwise.name)
            heat = head.node("MatMul", [y_nhwc, head.constant("weight", np.ascontiguousarray(weight.T))], "matmul")
            if len(pointwise.input) > 2 and pointwise.input[2]:
                heat = head.node("Add", [heat, head.constant("bias", constants[pointwise.input[2]])], "bias")
            head.node("Transpose", [heat], "to_nchw", output=pointwise.output[0], perm=[0, 3, 1, 2])
            build.nodes.pop()  # the NCHW twin of the deconvolution output has no reader left
            build.nodes += head.nodes
            build.initializers += head.initializers
            replaced.add(pointwise.name)
            renamed[pointwise.name] = f"{pointwise.name}/matmul"
        new_nodes_after[index] = build.nodes
        graph.initializer.extend(build.initializers)
    if not renamed:
        return {}
    kept = []
    for index, node in enumerate(graph.node):
        if node.name not in replaced:
            kept.append(node)
        kept.extend(new_nodes_after.get(index, []))
    # Nodes stay in topological order: a chain's new nodes sit where its ConvTranspose was, and
    # the Relu / 1x1 Conv they replace come after it.
    del graph.node[:]
    graph.node.extend(_without_dead_ends(kept, {o.name for o in graph.output}))
    used = {name for node in graph.node for name in node.input}
    unused = [t for t in graph.initializer if t.name not in used]
    for tensor in unused:
        graph.initializer.remove(tensor)
    return renamed


def _without_dead_ends(nodes, graph_outputs) -> list:
    """Drop nodes none of whose outputs is read (repeatedly, from the end of the graph)."""
    nodes = list(nodes)
    while True:
        read = {name for node in nodes for name in node.input} | graph_outputs
        alive = [node for node in nodes if any(o in read for o in node.output)]
        if len(alive) == len(nodes):
            return nodes
        nodes = alive
