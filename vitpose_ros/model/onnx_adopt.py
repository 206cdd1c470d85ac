"""Published ViTPose ONNX files -> our model contract, without torch (onnx + onnxruntime only).

Where ready-made files are published (checked on the Hub; names as the repositories give them):

    COCO, ViTPose-B      onnx-community/vitpose-base-simple     onnx/model.onnx (+ _fp16, _int8, ...
                         siblings); Transformers.js export of usyd-community/vitpose-base-simple
                         (simple decoder); preprocessor_config.json beside it. Apache-2.0
    COCO, ViTPose-S      onnx-community/vitpose-plus-small-ONNX  onnx/model.onnx; Transformers.js
                         export of usyd-community/vitpose-plus-small (ViTPose++: a dataset index
                         input picks the expert). Apache-2.0
    other sets, S/B/L    JunkyByte/easy_ViTPose  onnx/<set>/vitpose-<s|b|l>-<set>.onnx, input
                         ``input_0``, output ``output_0``, dynamic batch, 256x192, ImageNet
                         normalisation (its export script); the H files are not usable (a 412 kB
                         graph whose weights sit in a folder beside it). Apache-2.0 (ViTPose's)

Adopting a file: the image input (the one 4-D float input) becomes ``input``, the heatmap output
(the 4-D output) ``heatmaps``, other outputs are dropped; an integer input (ViTPose++'s dataset
index) becomes a constant of the expert asked for, broadcast over the batch; ``metadata_props``
get our ``ModelMetadata`` (input size from the graph, else the preprocessor config; mean/std from
the preprocessor config, else ImageNet's; keypoints from the output shape, checked against the
keypoint set). The result runs once on ONNX Runtime's CPU provider at batch 2 before it is kept.
"""
from __future__ import annotations

import json
import pathlib
from dataclasses import dataclass

from ..core.metadata import HEATMAP_STRIDE, IMAGENET_MEAN, IMAGENET_STD, INPUT_NAME, OUTPUT_NAME, ModelMetadata
from ..core.skeletons import get_skeleton
from .fetch import Source

# transformers' ViTPose++ experts (VitPoseBackbone's dataset_index)
VITPOSE_PLUS_EXPERTS = {"coco": 0, "aic": 1, "mpii": 2, "ap10k": 3, "apt36k": 4, "wholebody": 5}
PREPROCESSOR_CONFIG = "preprocessor_config.json"


class AdoptError(RuntimeError):
    """The published file does not fit; the message is the one line the CLI prints."""


@dataclass(frozen=True)
class OnnxSource(Source):
    """A published ViTPose ONNX file: where, which files (the ONNX file first), how to read it."""

    layout: str  # "transformers.js" | "easy_vitpose"
    variant: str
    dataset: str
    decoder: str = "classic"

    @property
    def onnx_file(self) -> str:
        return self.files[0]


def onnx_source_for(size: str, dataset: str = "coco", source: str = "auto") -> OnnxSource:
    """The published ONNX of ViTPose-<size> for ``dataset`` (see the module doc); AdoptError if none."""
    transformers_js = {
        "b": ("onnx-community/vitpose-base-simple", "ViTPose-B (simple decoder) COCO, Transformers.js ONNX", "simple"),
        "s": ("onnx-community/vitpose-plus-small-ONNX", "ViTPose++-S COCO expert, Transformers.js ONNX", "classic"),
    }
    if source in ("auto", "transformers") and dataset == "coco" and size in transformers_js:
        repo, description, decoder = transformers_js[size]
        return OnnxSource(repo, ("onnx/model.onnx", PREPROCESSOR_CONFIG), description, "Apache-2.0",
                          "transformers.js", size.upper(), dataset, decoder)
    if source == "transformers":
        raise AdoptError(f"no Transformers.js ONNX of ViTPose-{size.upper()} {dataset} is published "
                         "(onnx-community has COCO S and B); use --source easy_vitpose or auto")
    if size == "h":
        raise AdoptError("easy_ViTPose's published ViTPose-H ONNX files are not usable (graph without its weights); "
                         "install torch and fetch with --format export instead")
    return OnnxSource("JunkyByte/easy_ViTPose", (f"onnx/{dataset}/vitpose-{size}-{dataset}.onnx",),
                      f"ViTPose-{size.upper()} {dataset}, ONNX as published for easy_ViTPose",
                      "Apache-2.0 (ViTPose's licence)", "easy_vitpose", size.upper(), dataset)


def _shape(value_info) -> list:
    dims = value_info.type.tensor_type.shape.dim
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in dims]


def _rename(graph, old: str, new: str) -> None:
    """Rename tensor ``old`` to ``new`` everywhere in ``graph`` (inputs, outputs, nodes)."""
    if old == new:
        return
    for value in list(graph.input) + list(graph.output) + list(graph.value_info):
        if value.name == old:
            value.name = new
    for node in graph.node:
        node.input[:] = [new if name == old else name for name in node.input]
        node.output[:] = [new if name == old else name for name in node.output]


def _fix_integer_input(graph, name: str, value: int, image_name: str) -> None:
    """Replace input ``name`` (int64 (batch,)) by ``value`` broadcast over the image's batch."""
    import numpy as np
    from onnx import helper, numpy_helper

    graph.input.remove(next(i for i in graph.input if i.name == name))
    prefix = f"{name}_fixed"
    nodes = [
        helper.make_node("Constant", [], [f"{prefix}_value"],
                         value=numpy_helper.from_array(np.array([value], np.int64))),
        helper.make_node("Shape", [image_name], [f"{prefix}_image_shape"]),
        helper.make_node("Constant", [], [f"{prefix}_zero"], value=numpy_helper.from_array(np.array([0], np.int64))),
        helper.make_node("Constant", [], [f"{prefix}_one"], value=numpy_helper.from_array(np.array([1], np.int64))),
        helper.make_node("Slice", [f"{prefix}_image_shape", f"{prefix}_zero", f"{prefix}_one"], [f"{prefix}_batch"]),
        helper.make_node("Expand", [f"{prefix}_value", f"{prefix}_batch"], [name]),
    ]
    for node in reversed(nodes):  # ahead of their users: ONNX graphs are topologically sorted
        graph.node.insert(0, node)


def _preprocessing(config_path: pathlib.Path | None) -> dict:
    if config_path is None or not config_path.is_file():
        return {}
    try:
        return json.loads(config_path.read_text())
    except (OSError, ValueError) as exc:
        raise AdoptError(f"{config_path}: not a readable preprocessor config ({exc})") from None


def adopt(published: pathlib.Path, output: pathlib.Path, source: OnnxSource,
          preprocessor_config: pathlib.Path | None = None) -> ModelMetadata:
    """Write ``published`` as ``output`` in our contract (see the module doc); its metadata.

    The file is written whole or not at all: staged beside ``output``, run once, then moved."""
    import onnx

    try:
        proto = onnx.load(str(published))
    except Exception as exc:  # protobuf DecodeError, missing external data, ...
        raise AdoptError(f"{published}: not a loadable ONNX model ({type(exc).__name__}: {exc})") from None
    graph = proto.graph
    initializers = {i.name for i in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initializers]
    images = [i for i in inputs if len(_shape(i)) == 4 and i.type.tensor_type.elem_type == onnx.TensorProto.FLOAT]
    integers = [i for i in inputs if i.type.tensor_type.elem_type in (onnx.TensorProto.INT64, onnx.TensorProto.INT32)]
    if len(images) != 1 or len(images) + len(integers) != len(inputs):
        raise AdoptError(f"{published}: expected one float (N, 3, H, W) image input (and at most a dataset index), "
                         f"found inputs {[i.name for i in inputs]}")
    heatmaps = [o for o in graph.output if len(_shape(o)) == 4]
    if len(heatmaps) != 1:
        raise AdoptError(f"{published}: expected one (N, K, H/4, W/4) heatmap output, found "
                         f"{[(o.name, _shape(o)) for o in graph.output]}")
    image_name = images[0].name
    for integer in integers:
        if source.dataset not in VITPOSE_PLUS_EXPERTS:
            raise AdoptError(f"{published}: ViTPose++ has no {source.dataset} expert")
        _fix_integer_input(graph, integer.name, VITPOSE_PLUS_EXPERTS[source.dataset], image_name)
    for extra in [o for o in graph.output if o.name != heatmaps[0].name]:
        graph.output.remove(extra)
    _rename(graph, image_name, INPUT_NAME)
    _rename(graph, heatmaps[0].name, OUTPUT_NAME)

    config = _preprocessing(preprocessor_config)
    size = config.get("size") or {}
    in_shape, out_shape = _shape(images[0]), _shape(heatmaps[0])
    height = in_shape[2] if isinstance(in_shape[2], int) else int(size.get("height", 256))
    width = in_shape[3] if isinstance(in_shape[3], int) else int(size.get("width", 192))
    expected = get_skeleton(source.dataset).num_keypoints
    if isinstance(out_shape[1], int) and out_shape[1] != expected:
        raise AdoptError(f"{published}: {out_shape[1]} heatmaps, but {source.dataset} has {expected} keypoints")
    metadata = ModelMetadata(
        variant=source.variant, dataset=source.dataset, num_keypoints=expected, input_height=height,
        input_width=width, mean=tuple(config.get("image_mean", IMAGENET_MEAN)),
        std=tuple(config.get("image_std", IMAGENET_STD)), decoder=source.decoder,
        source_format=f"onnx:{source.layout}")
    del proto.metadata_props[:]
    for key, value in metadata.to_props().items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.doc_string = f"{source.description} ({source.repo_id}/{source.onnx_file}), adopted by vitpose_ros"
    _save_checked(proto, output, metadata)
    return metadata


def _save_checked(proto, output: pathlib.Path, metadata: ModelMetadata) -> None:
    import numpy as np

    want = (2, metadata.num_keypoints, metadata.input_height // HEATMAP_STRIDE, metadata.input_width // HEATMAP_STRIDE)
    x = np.zeros(want[:1] + (3, metadata.input_height, metadata.input_width), np.float32)
    save_if_it_runs(proto, output, "model", {INPUT_NAME: x}, [OUTPUT_NAME], lambda heatmaps: (
        None if heatmaps.shape == want else f"heatmaps of shape {heatmaps.shape} at batch 2, expected {want}"))


def save_if_it_runs(proto, output: pathlib.Path, what: str, feeds: dict, output_names: list[str], check) -> None:
    """Write ``proto`` to ``output`` only if ONNX Runtime's CPU provider runs it on ``feeds`` and
    ``check(*outputs)`` finds nothing wrong (it returns None, or what is wrong): staged beside
    ``output`` and moved into place, so a failed adoption leaves nothing behind."""
    import os
    import tempfile

    import onnx
    import onnxruntime as ort

    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=output.parent, prefix=".adopt-") as scratch:
        staged = pathlib.Path(scratch) / output.name
        onnx.save_model(proto, str(staged))
        try:
            session = ort.InferenceSession(str(staged), providers=["CPUExecutionProvider"])
            outputs = session.run(output_names, feeds)
        except Exception as exc:
            raise AdoptError(f"the adopted {what} does not run on ONNX Runtime's CPU provider "
                             f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); nothing written") from None
        wrong = check(*outputs)
        if wrong:
            raise AdoptError(f"the adopted {what} gives {wrong}; nothing written")
        os.replace(staged, output)


def main(argv=None) -> int:
    """``python -m vitpose_ros.model.onnx_adopt --input F.onnx --model s --dataset coco --output OUT.onnx``:
    adopt a published file downloaded by hand (``--layout`` as in the table above)."""
    import argparse

    from ..core.cli import cli_error
    from ..core.model_files import MODEL_SIZES

    parser = argparse.ArgumentParser(prog="vitpose-adopt", description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", required=True, help="the published ONNX file")
    parser.add_argument("--model", required=True, choices=MODEL_SIZES)
    parser.add_argument("--dataset", default="coco")
    parser.add_argument("--source", default="auto", choices=("auto", "transformers", "easy_vitpose"))
    parser.add_argument("--preprocessor-config", default=None, help="the repository's preprocessor_config.json")
    parser.add_argument("--output", required=True)
    args = parser.parse_args(argv)
    try:
        source = onnx_source_for(args.model, args.dataset, args.source)
        config = pathlib.Path(args.preprocessor_config) if args.preprocessor_config else None
        meta = adopt(pathlib.Path(args.input), pathlib.Path(args.output), source, config)
    except (AdoptError, ValueError) as exc:
        return cli_error("vitpose-adopt", str(exc))
    print(f"adopted as ViTPose-{meta.variant} {meta.dataset} ({meta.num_keypoints} keypoints): {args.output}")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
