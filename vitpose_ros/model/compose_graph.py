"""Compose the device-side graph of a model once and write it beside it (onnx; no torch).

    python -m vitpose_ros.model.compose_graph --model M.onnx [--flip-test] [--decode-method dark-udp|argmax]

Wraps the exported network between a pre-processing graph and a decoding graph and writes
``<stem>_graph.onnx`` (``vitpose_ros.core.device_graph``: file names, metadata, the pipeline's
inputs and outputs). Export, convert and fetch call this for the default graph; run it by hand for
a model made before, or for the flip-test / argmax variants. The runtime loads the file by path.

Pre (the same numbers as preprocess.CropBatcher): a sampling grid per person from the UDP map
    x_image = u / (w - 1) * crop_w + cx - crop_w / 2          (u = crop column, likewise y)
normalised for GridSample with align_corners=1 (-1 and +1 are the centres of the first and last
image pixel: g = 2 x / (W - 1) - 1), bilinear, zeros outside the image -- what cv2.warpAffine
with BORDER_CONSTANT 0 does -- then (x/255 - mean)/std. All persons sample the one image: their
grids are stacked along the height axis ((1, N*h, w, 2)) so GridSample's batch stays 1. The
samples are rounded to integers as cv2.warpAffine's uint8 output is; OpenCV >= 4.11 samples at
float coordinates like GridSample, so the crops equal the host path's (older OpenCV rounds the
coordinates to 1/32 pixel: then they differ by a grey level here and there). Flip test appends
the column-mirrored crops.

Decode (the same numbers as decode.decode_heatmaps, dark-udp): ArgMax over each map, score =
the map's value there, Gaussian blur with the model's ``dark_kernel`` (OpenCV's kernel, as two
1-D convolutions over a reflect-101 padded map: OpenCV's default border), clip to [0.001, 50],
log, edge padding, the 3x3 neighbourhood of the arg-max gathered, gradient and Hessian by central
differences as one MatMul, one Newton step (2x2 solve in closed form, +eps on the diagonal as
np.linalg.solve's input in decode.py), clamped to [-1, 1], UDP back-transform.

One merged graph rather than three sessions chained with IO binding: TensorRT builds and caches a
single engine for all of it, ONNX Runtime has no intermediate tensor to place, and a plain
``session.run`` then does exactly one upload per input and one download of the result.

Operator support, checked for every op used here (Add Sub Mul Div Cast Shape Gather Transpose
Unsqueeze Reshape Split Concat Round GridSample Pad Conv Clip Log ArgMax GatherElements
MatMul):
- TensorRT 10's ONNX parser (onnx-tensorrt docs/operators.md, "TensorRT 10.0 supports operators
  in the inclusive range of opset 9 to opset 20"): all listed as supported; UINT8 only as a
  network input, which is how the image enters (then Cast); Pad modes reflect/edge map to
  SampleMode kREFLECT/kCLAMP; GridSample takes 4-D input, mode "bilinear", padding "zeros",
  align_corners; Unsqueeze/Split/Pad axes and shapes are initializers here, as it requires.
- ONNX Runtime's CUDA provider (docs/OperatorKernels.md, CUDAExecutionProvider): all have CUDA
  kernels for the float32/int64 types used (GridSample from opset 16, ArgMax with the default
  select_last_index=0, Pad constant/reflect/edge).
- GridSample exists from opset 16; opset 20 renamed its mode "bilinear" to "linear", so the mode
  follows the network's opset (TensorRT 10.0's parser reads "bilinear"; export uses opset 17).

numpy, OpenCV (the Gaussian kernel) and onnx.
"""
from __future__ import annotations

import argparse
import pathlib
import sys

import cv2
import numpy as np

from ..core.cli import cli_error
from ..core.content_hash import model_digest
from ..core.device_graph import (BOXES_INPUT, DECODE_METHODS, DEFAULT_DECODE, IMAGE_INPUT, KEYPOINTS_OUTPUT,
                                 graph_model_path, graph_props)
from ..core.metadata import HEATMAP_STRIDE, ModelMetadata
from ..core.skeletons import get_skeleton

MIN_OPSET = 16  # GridSample
# Protobuf cannot hold a model over 2 GiB: a bigger graph keeps its weights in <name>.data
EXTERNAL_DATA_THRESHOLD = 1_800_000_000
_EPS = float(np.finfo(np.float32).eps)


class GraphUnsupported(ValueError):
    """This network cannot be wrapped (the message says why); the host pipeline still works."""


class _Builder:
    """Collects nodes and constant initializers under a name prefix."""

    def __init__(self, prefix: str):
        from onnx import helper

        self._helper = helper
        self.prefix = prefix
        self.nodes: list = []
        self.initializers: list = []
        self._count = 0

    def const(self, name: str, value, dtype=np.float32) -> str:
        from onnx import numpy_helper

        full = f"{self.prefix}{name}"
        self.initializers.append(numpy_helper.from_array(np.asarray(value, dtype), full))
        return full

    def op(self, op_type: str, inputs, outputs: int | list[str] = 1, **attributes):
        self._count += 1
        if isinstance(outputs, int):
            outputs = [f"{self.prefix}{op_type.lower()}_{self._count}_{i}" for i in range(outputs)]
        self.nodes.append(self._helper.make_node(op_type, list(inputs), outputs,
                                                 name=f"{self.prefix}{op_type}_{self._count}", **attributes))
        return outputs[0] if len(outputs) == 1 else outputs


def _split_centre_size(b: _Builder, boxes: str) -> tuple[str, str]:
    """(N,4) cx, cy, w, h -> origin (N,2) = centre - size/2, size (N,2)."""
    centre, size = b.op("Split", [boxes, b.const("split22", [2, 2], np.int64)], 2, axis=1)
    origin = b.op("Sub", [centre, b.op("Mul", [size, b.const("half", 0.5)])])
    return origin, size


def build_preprocess(b: _Builder, network_input: str, input_size: tuple[int, int], mean, std,
                     flip: bool, opset: int) -> None:
    from onnx import TensorProto

    h, w = input_size
    image = b.op("Unsqueeze", [b.op("Transpose", [b.op("Cast", [IMAGE_INPUT], to=TensorProto.FLOAT)], perm=[2, 0, 1]),
                               b.const("axis0", [0], np.int64)])                       # (1, 3, H, W)
    # [2/(W-1), 2/(H-1)]: image pixels -> GridSample's [-1, 1] (align_corners=1)
    width_height = b.op("Cast", [b.op("Gather", [b.op("Shape", [IMAGE_INPUT]), b.const("wh", [1, 0], np.int64)])],
                        to=TensorProto.FLOAT)
    to_grid = b.op("Div", [b.const("two", 2.0), b.op("Sub", [width_height, b.const("one", 1.0)])])
    origin, size = _split_centre_size(b, BOXES_INPUT)
    # crop pixel (u, v) as a fraction of the crop: (u/(w-1), v/(h-1)), shape (h, w, 2)
    vs, us = np.mgrid[0:h, 0:w].astype(np.float64)
    fraction = b.const("crop_fraction", np.stack([us / (w - 1), vs / (h - 1)], -1))
    per_person = b.const("per_person_shape", [-1, 1, 1, 2], np.int64)
    pixels = b.op("Add", [b.op("Mul", [fraction, b.op("Reshape", [size, per_person])]),
                          b.op("Reshape", [origin, per_person])])                      # (N, h, w, 2)
    grid = b.op("Sub", [b.op("Mul", [pixels, to_grid]), b.const("one_g", 1.0)])
    stacked = b.op("Reshape", [grid, b.const("stack_shape", [1, -1, w, 2], np.int64)])  # (1, N*h, w, 2)
    sampled = b.op("GridSample", [image, stacked], align_corners=1, padding_mode="zeros",
                   mode="linear" if opset >= 20 else "bilinear")                      # (1, 3, N*h, w)
    crops = b.op("Transpose", [b.op("Reshape", [sampled, b.const("unstack_shape", [3, -1, h, w], np.int64)])],
                 perm=[1, 0, 2, 3])                                                    # (N, 3, h, w)
    crops = b.op("Round", [crops])  # cv2.warpAffine's uint8 output: the host path's crops exactly
    if flip:  # the mirrored crops follow the crops, as CropBatcher.normalise lays them out
        mirrored = b.op("Gather", [crops, b.const("flip_columns", np.arange(w - 1, -1, -1), np.int64)], axis=3)
        crops = b.op("Concat", [crops, mirrored], axis=0)
    # (x/255 - mean)/std == x * scale + offset, after sampling so the zeros outside the image
    # become the normalised black the host path feeds too
    scale = 1.0 / (255.0 * np.asarray(std, np.float64))
    offset = -np.asarray(mean, np.float64) / np.asarray(std, np.float64)
    b.op("Add", [b.op("Mul", [crops, b.const("scale", scale.reshape(1, 3, 1, 1))]),
                 b.const("offset", offset.reshape(1, 3, 1, 1))], [network_input])


def _derivative_matrix() -> np.ndarray:
    """(9, 5): the 3x3 neighbourhood (row-major, dy then dx in -1..1) -> dx, dy, dxx, dyy, dxy,
    the central differences of decode.dark_refine."""
    m = np.zeros((9, 5))

    def at(dx, dy):
        return (dy + 1) * 3 + (dx + 1)

    m[at(1, 0), 0], m[at(-1, 0), 0] = 0.5, -0.5
    m[at(0, 1), 1], m[at(0, -1), 1] = 0.5, -0.5
    m[at(1, 0), 2], m[at(-1, 0), 2], m[at(0, 0), 2] = 1.0, 1.0, -2.0
    m[at(0, 1), 3], m[at(0, -1), 3], m[at(0, 0), 3] = 1.0, 1.0, -2.0
    for (dx, dy), weight in {(1, 1): 0.5, (1, 0): -0.5, (0, 1): -0.5, (0, 0): 1.0, (-1, 0): -0.5,
                             (0, -1): -0.5, (-1, -1): 0.5}.items():
        m[at(dx, dy), 4] += weight
    return m


def build_decode(b: _Builder, network_output: str, num_keypoints: int, heatmap_size: tuple[int, int],
                 kernel: int, method: str, flip_permutation=None) -> None:
    from onnx import TensorProto

    k, (h, w) = num_keypoints, heatmap_size
    heatmaps = network_output
    if flip_permutation is not None:  # (2N, K, h, w): crops then mirrors -> mean with mirrored-back
        halves = b.op("Reshape", [heatmaps, b.const("halves_shape", [2, -1, k, h, w], np.int64)])
        direct = b.op("Gather", [halves, b.const("first", 0, np.int64)], axis=0)
        mirrored = b.op("Gather", [halves, b.const("second", 1, np.int64)], axis=0)
        mirrored = b.op("Gather", [mirrored, b.const("flip_channels", flip_permutation, np.int64)], axis=1)
        mirrored = b.op("Gather", [mirrored, b.const("flip_columns", np.arange(w - 1, -1, -1), np.int64)], axis=3)
        heatmaps = b.op("Mul", [b.op("Add", [direct, mirrored]), b.const("half_d", 0.5)])
    flat = b.op("Reshape", [heatmaps, b.const("flat_shape", [-1, k, h * w], np.int64)])
    index = b.op("ArgMax", [flat], axis=2, keepdims=1)                                   # (N, K, 1)
    score = b.op("GatherElements", [flat, index], axis=2)
    row = b.op("Div", [index, b.const("w", w, np.int64)])                                 # floor: index >= 0
    col = b.op("Sub", [index, b.op("Mul", [row, b.const("w2", w, np.int64)])])
    coords = b.op("Cast", [b.op("Concat", [col, row], axis=2)], to=TensorProto.FLOAT)   # (N, K, 2) x, y
    if method == "dark-udp":
        pad = kernel // 2
        gauss = cv2.getGaussianKernel(kernel, 0).astype(np.float32)[:, 0]  # what cv2.GaussianBlur uses
        maps = b.op("Reshape", [heatmaps, b.const("maps_shape", [-1, 1, h, w], np.int64)])
        maps = b.op("Pad", [maps, b.const("blur_pads", [0, 0, pad, pad, 0, 0, pad, pad], np.int64)], mode="reflect")
        maps = b.op("Conv", [maps, b.const("gauss_y", gauss.reshape(1, 1, kernel, 1))])
        maps = b.op("Conv", [maps, b.const("gauss_x", gauss.reshape(1, 1, 1, kernel))])
        logs = b.op("Log", [b.op("Clip", [maps, b.const("lo", 0.001), b.const("hi", 50.0)])])
        logs = b.op("Pad", [logs, b.const("edge_pads", [0, 0, 1, 1, 0, 0, 1, 1], np.int64)], mode="edge")
        logs = b.op("Reshape", [logs, b.const("padded_shape", [-1, k, (h + 2) * (w + 2)], np.int64)])
        # index in the padded map = (row+1)(w+2) + col+1 = index + 2 row + w + 3, then the 3x3 around it
        centre = b.op("Add", [index, b.op("Mul", [row, b.const("two_i", 2, np.int64)])])
        offsets = [(w + 3) + dy * (w + 2) + dx for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
        around = b.op("GatherElements", [logs, b.op("Add", [centre, b.const("offsets", offsets, np.int64)])], axis=2)
        derivs = b.op("MatMul", [around, b.const("derivatives", _derivative_matrix())])   # (N, K, 5)
        gx, gy, dxx, dyy, dxy = b.op("Split", [derivs, b.const("split5", [1] * 5, np.int64)], 5, axis=2)
        eps = b.const("eps", _EPS)
        dxx, dyy = b.op("Add", [dxx, eps]), b.op("Add", [dyy, eps])
        det = b.op("Sub", [b.op("Mul", [dxx, dyy]), b.op("Mul", [dxy, dxy])])
        step_x = b.op("Div", [b.op("Sub", [b.op("Mul", [dyy, gx]), b.op("Mul", [dxy, gy])]), det])
        step_y = b.op("Div", [b.op("Sub", [b.op("Mul", [dxx, gy]), b.op("Mul", [dxy, gx])]), det])
        # the clamp of decode.dark_refine: flat maps must not throw a keypoint out of its crop
        step = b.op("Clip", [b.op("Concat", [step_x, step_y], axis=2), b.const("m1", -1.0), b.const("p1", 1.0)])
        coords = b.op("Sub", [coords, step])
    # UDP back-transform with the (un-mirrored) crop boxes
    origin, size = _split_centre_size(b, BOXES_INPUT)
    per_pixel = b.op("Div", [size, b.const("hm_extent", [w - 1, h - 1])])
    per_person = b.const("pp_shape", [-1, 1, 2], np.int64)
    xy = b.op("Add", [b.op("Mul", [coords, b.op("Reshape", [per_pixel, per_person])]),
                      b.op("Reshape", [origin, per_person])])
    b.op("Concat", [xy, score], [KEYPOINTS_OUTPUT], axis=2)


def compose(network, metadata: ModelMetadata, flip_permutation=None, decode_method: str = DEFAULT_DECODE):
    """The network (an onnx ModelProto, changed in place and returned) wrapped into
    image + crop boxes -> keypoints (see module doc)."""
    from onnx import TensorProto, helper

    if decode_method not in DECODE_METHODS:
        raise GraphUnsupported(f"decode method must be one of {', '.join(DECODE_METHODS)}, got {decode_method!r}")
    opset = max((o.version for o in network.opset_import if o.domain in ("", "ai.onnx")), default=0)
    if opset < MIN_OPSET:
        raise GraphUnsupported(f"the network's opset {opset} is below {MIN_OPSET} (GridSample); "
                               "re-export with --opset 17")
    graph = network.graph
    weights = {t.name for t in graph.initializer}
    inputs = [i for i in graph.input if i.name not in weights]
    if len(inputs) != 1 or not graph.output:
        raise GraphUnsupported(f"expected one image input and an output, found {len(inputs)} inputs")
    network_input, network_output = inputs[0], graph.output[0]
    batch = network_input.type.tensor_type.shape.dim[0] if network_input.type.tensor_type.shape.dim else None
    if batch is not None and batch.HasField("dim_value"):
        raise GraphUnsupported(f"the network has a fixed batch of {batch.dim_value}; export with --batch dynamic")
    size = (metadata.input_height, metadata.input_width)
    heatmap_size = (size[0] // HEATMAP_STRIDE, size[1] // HEATMAP_STRIDE)
    # the runtime checks a network's shapes against its metadata; the graph is checked here, once
    expected_shapes = ((network_input, (3,) + size), (network_output, (metadata.num_keypoints,) + heatmap_size))
    for value_info, expected in expected_shapes:
        dims = [d.dim_value if d.HasField("dim_value") else None for d in value_info.type.tensor_type.shape.dim][1:]
        if len(dims) != 3 or any(d is not None and d != e for d, e in zip(dims, expected)):
            raise GraphUnsupported(f"{value_info.name!r} has shape (N, {', '.join(map(str, dims))}) but the metadata "
                                   f"says (N, {', '.join(map(str, expected))})")
    pre, dec = _Builder("vitpose_pre/"), _Builder("vitpose_decode/")
    build_preprocess(pre, network_input.name, size, metadata.mean, metadata.std, flip_permutation is not None, opset)
    build_decode(dec, network_output.name, metadata.num_keypoints, heatmap_size, metadata.dark_kernel, decode_method,
                 flip_permutation)
    # Nodes in topological order: pre, the network, decode (the node protos are small; the
    # weights stay where they are, in the initializers)
    nodes = pre.nodes + list(graph.node) + dec.nodes
    del graph.node[:]
    graph.node.extend(nodes)
    graph.initializer.extend(pre.initializers + dec.initializers)
    kept_inputs = [i for i in graph.input if i.name != network_input.name]
    del graph.input[:]
    graph.input.extend([helper.make_tensor_value_info(IMAGE_INPUT, TensorProto.UINT8, ["height", "width", 3]),
                        helper.make_tensor_value_info(BOXES_INPUT, TensorProto.FLOAT, ["persons", 4])] + kept_inputs)
    del graph.output[:]
    graph.output.extend([helper.make_tensor_value_info(KEYPOINTS_OUTPUT, TensorProto.FLOAT,
                                                       ["persons", metadata.num_keypoints, 3])])
    graph.name = "vitpose_device_pipeline"
    return network


def write_graph(network_path, flip_test: bool = False, decode_method: str = DEFAULT_DECODE) -> pathlib.Path:
    """Compose the graph of the model at ``network_path`` and write it beside it; returns its path.
    GraphUnsupported says why a network cannot be wrapped (e.g. a fixed batch)."""
    import onnx

    network_path = pathlib.Path(network_path)
    output = graph_model_path(network_path, flip_test, decode_method)
    digest = model_digest(network_path)  # before loading: the graph names the bytes it was made from
    network = onnx.load(str(network_path), load_external_data=True)
    props = {p.key: p.value for p in network.metadata_props}
    try:
        metadata = ModelMetadata.from_props(props)
    except (ValueError, TypeError) as exc:
        raise GraphUnsupported(f"bad vitpose metadata ({exc})") from None
    flip = get_skeleton(metadata.dataset, metadata.num_keypoints).flip_permutation() if flip_test else None
    compose(network, metadata, flip, decode_method)
    for key, value in graph_props(digest, flip_test, decode_method).items():
        entry = network.metadata_props.add()
        entry.key, entry.value = key, value
    data_file = output.with_name(output.name + ".data")
    if data_file.exists():
        data_file.unlink()
    external = sum(len(t.raw_data) for t in network.graph.initializer) > EXTERNAL_DATA_THRESHOLD
    # written under a scratch name, then moved: a half-written graph is never taken for a whole one
    scratch = output.with_name(f".{output.name}.partial")
    onnx.save_model(network, str(scratch), save_as_external_data=external, all_tensors_to_one_file=True,
                    location=data_file.name)
    scratch.replace(output)
    return output


def write_graph_or_say_why(network_path, say=print, **variant) -> pathlib.Path | None:
    """``write_graph`` for export/convert/fetch: a network that cannot be wrapped is fine (the host
    pipeline runs it), so say why in one line instead of failing."""
    try:
        path = write_graph(network_path, **variant)
    except GraphUnsupported as exc:
        say(f"no graph pipeline file for {pathlib.Path(network_path).name}: {exc}")
        return None
    say(f"wrote {path} (the graph pipeline: crop + network + decode)")
    return path


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="vitpose-compose-graph", description=__doc__.split("\n\n")[0],
        epilog="Writes <stem>_graph.onnx beside the model (<stem>_graph_flip.onnx with --flip-test, "
               "<stem>_graph_argmax[_flip].onnx with --decode-method argmax), which pipeline:=graph and "
               "pipeline:=auto on TensorRT/CUDA load. Run it again after replacing the model.")
    parser.add_argument("--model", required=True, help="ViTPose ONNX model (fp32, or a converted fp16/int8 copy)")
    parser.add_argument("--flip-test", action="store_true", help="the graph for the node's flip_test:=true")
    parser.add_argument("--decode-method", choices=DECODE_METHODS, default=DEFAULT_DECODE,
                        help="keypoint decoding built into the graph (the node uses dark-udp)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    model = pathlib.Path(args.model)
    if not model.is_file():
        return cli_error("vitpose-compose-graph", f"model not found: {model}")
    try:
        path = write_graph(model, flip_test=args.flip_test, decode_method=args.decode_method)
    except GraphUnsupported as exc:
        return cli_error("vitpose-compose-graph", f"{model}: {exc}")
    except Exception as exc:  # onnx's own errors: not a readable ONNX model
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        return cli_error("vitpose-compose-graph", f"{model}: cannot compose the graph ({reason})")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
