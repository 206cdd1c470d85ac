"""A published DETR-family detector ONNX -> the detector contract, without torch (onnx + onnxruntime).

Transformers.js exports of RT-DETR (``onnx-community/rtdetr_r18vd``: ``onnx/model.onnx`` with
``config.json`` and ``preprocessor_config.json`` beside it) take ``pixel_values`` and give the raw
``logits`` (N, Q, C) and ``pred_boxes`` (N, Q, 4, centre and size in 0..1). Adoption appends
transformers' RT-DETR post-processing as ONNX nodes (what ``detector_export`` traces from torch):
sigmoid, the top Q of the flattened (query, class) scores, boxes gathered by query and turned into
corners in the input's pixels; the input is renamed ``images``, the outputs ``boxes``, ``scores``,
``classes``; the metadata comes from the two JSON files. The result runs once on ONNX Runtime's
CPU provider before it is kept.
"""
from __future__ import annotations

import json
import pathlib

import numpy as np

from .onnx_adopt import AdoptError, _rename, _shape, save_if_it_runs

MIN_OPSET = 13  # Unsqueeze with axes as an input


def _constant(name: str, values, dtype) -> object:
    from onnx import helper, numpy_helper

    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.asarray(values, dtype), name))


def append_post_processing(graph, logits: str, centre_size: str, queries: int, classes: int,
                           height: int, width: int) -> None:
    """Nodes from ``logits``/``centre_size`` to the contract's ``boxes``, ``scores``, ``classes``."""
    from onnx import TensorProto, helper

    p = "vitpose_post_"
    nodes = [
        helper.make_node("Sigmoid", [logits], [p + "probabilities"]),
        helper.make_node("Flatten", [p + "probabilities"], [p + "flat"], axis=1),
        _constant(p + "k", [queries], np.int64),
        helper.make_node("TopK", [p + "flat", p + "k"], ["scores", p + "index"], axis=1, largest=1, sorted=1),
        _constant(p + "num_classes", [classes], np.int64),
        helper.make_node("Div", [p + "index", p + "num_classes"], [p + "query"]),  # int64: floor for >= 0
        helper.make_node("Mod", [p + "index", p + "num_classes"], ["classes"]),
        _constant(p + "starts_centre", [0], np.int64), _constant(p + "ends_centre", [2], np.int64),
        _constant(p + "ends_size", [4], np.int64), _constant(p + "axis", [2], np.int64),
        helper.make_node("Slice", [centre_size, p + "starts_centre", p + "ends_centre", p + "axis"], [p + "centre"]),
        helper.make_node("Slice", [centre_size, p + "ends_centre", p + "ends_size", p + "axis"], [p + "size"]),
        _constant(p + "half", [0.5], np.float32),
        helper.make_node("Mul", [p + "size", p + "half"], [p + "half_size"]),
        helper.make_node("Sub", [p + "centre", p + "half_size"], [p + "top_left"]),
        helper.make_node("Add", [p + "centre", p + "half_size"], [p + "bottom_right"]),
        helper.make_node("Concat", [p + "top_left", p + "bottom_right"], [p + "corners"], axis=2),
        _constant(p + "scale", [width, height, width, height], np.float32),
        helper.make_node("Mul", [p + "corners", p + "scale"], [p + "pixels"]),
        helper.make_node("Unsqueeze", [p + "query", p + "axis"], [p + "query_3d"]),
        helper.make_node("Shape", [p + "query"], [p + "query_shape"]),
        _constant(p + "four", [4], np.int64),
        helper.make_node("Concat", [p + "query_shape", p + "four"], [p + "gather_shape"], axis=0),
        helper.make_node("Expand", [p + "query_3d", p + "gather_shape"], [p + "gather_index"]),
        helper.make_node("GatherElements", [p + "pixels", p + "gather_index"], ["boxes"], axis=1),
    ]
    graph.node.extend(nodes)
    del graph.output[:]
    graph.output.extend([
        helper.make_tensor_value_info("boxes", TensorProto.FLOAT, ["batch", queries, 4]),
        helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", queries]),
        helper.make_tensor_value_info("classes", TensorProto.INT64, ["batch", queries]),
    ])


def adopt_detector(published: pathlib.Path, output: pathlib.Path, config_path: pathlib.Path,
                   preprocessor_path: pathlib.Path | None, source) -> dict[str, str]:
    """Write ``published`` (see the module doc) as ``output`` in the detector contract; its metadata."""
    import onnx

    from .detector_export import metadata_props

    try:
        proto = onnx.load(str(published))
        config = json.loads(config_path.read_text())
        preprocessing = json.loads(preprocessor_path.read_text()) if preprocessor_path else {}
    except Exception as exc:  # protobuf DecodeError, JSON errors, missing files
        raise AdoptError(f"{published}: cannot read the published detector ({type(exc).__name__}: {exc})") from None
    opset = max((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), default=0)
    if opset < MIN_OPSET:
        raise AdoptError(f"{published}: opset {opset}, the post-processing needs {MIN_OPSET} or newer")
    graph = proto.graph
    initializers = {i.name for i in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initializers]
    outputs = {o.name: o for o in graph.output}
    if len(inputs) != 1 or not {"logits", "pred_boxes"} <= set(outputs):
        raise AdoptError(f"{published}: expected one image input and outputs logits, pred_boxes; found inputs "
                         f"{[i.name for i in inputs]}, outputs {list(outputs)}")
    id2label = {int(k): v for k, v in config.get("id2label", {}).items()}
    names = [str(id2label[i]) for i in range(len(id2label))]
    queries = _shape(outputs["logits"])[1]
    queries = queries if isinstance(queries, int) else int(config.get("num_queries", 300))
    settings = _settings(preprocessing)
    _rename(graph, inputs[0].name, "images")
    append_post_processing(graph, "logits", "pred_boxes", queries, len(names), settings["input_height"],
                           settings["input_width"])
    props = metadata_props(names, settings, source.onnx_repo + " (published ONNX, adopted by vitpose_ros)",
                           source.licence)
    del proto.metadata_props[:]
    for key, value in props.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    _save_checked(proto, output, settings, queries)
    return props


def _settings(preprocessing: dict) -> dict:
    size = preprocessing.get("size") or {"height": 640, "width": 640}
    normalise = bool(preprocessing.get("do_normalize", False))
    return {"input_height": int(size["height"]), "input_width": int(size["width"]),
            "mean": tuple(preprocessing.get("image_mean", (0.0, 0.0, 0.0))) if normalise else (0.0, 0.0, 0.0),
            "std": tuple(preprocessing.get("image_std", (1.0, 1.0, 1.0))) if normalise else (1.0, 1.0, 1.0)}


def _save_checked(proto, output: pathlib.Path, settings: dict, queries: int) -> None:
    x = np.zeros((1, 3, settings["input_height"], settings["input_width"]), np.float32)

    def check(boxes, scores, classes):
        if boxes.shape != (1, queries, 4) or scores.shape != (1, queries) or classes.shape != (1, queries):
            return f"shapes {boxes.shape}, {scores.shape}, {classes.shape}"
        return None

    save_if_it_runs(proto, output, "detector", {"images": x}, ["boxes", "scores", "classes"], check)
