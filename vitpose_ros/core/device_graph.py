"""The device-side ("graph") pipeline's file: crop, normalise, network and decode as ONE ONNX graph.

The graph is composed once, when a model is exported, converted or fetched (or later with
``python -m vitpose_ros.model.compose_graph --model M.onnx``), and written beside the network as
``<stem>_graph.onnx`` (external data ``<stem>_graph.onnx.data`` when over 2 GB, ViTPose-H). The
runtime loads it by path like any model: no copy of the weights is made at load time, and
TensorRT has a file to name its engine after. A provider runs all of it; the host only uploads
the uint8 image and the per-person crop boxes and gets (N, K, 3) keypoints back:

    image (H, W, 3) uint8 ─┐
    crop_boxes (N, 4) f32 ─┴─ pre ──► network ──► decode ──► keypoints (N, K, 3) f32
                              (cx, cy, crop w, crop h: preprocess.boxes_to_center_size)

What the pre and decode parts compute, and why every operator in them runs on TensorRT 10 and
on ONNX Runtime's CUDA provider, is in ``vitpose_ros.model.compose_graph`` which builds them.

Flip test and the decoding method are built into the graph, so each combination other than the
default (no flip test, dark-udp) has its own file: ``<stem>_graph_flip.onnx``,
``<stem>_graph_argmax.onnx``, ``<stem>_graph_argmax_flip.onnx``.

The graph carries the network's metadata plus ``graph_network_sha256`` (core.content_hash's
model_digest of the network it was composed from), ``graph_flip_test`` and
``graph_decode_method``: a graph whose network has changed since is refused, never run silently
(on TensorRT before an engine is built for it).

File names and the metadata contract only (no graph building here).
"""
from __future__ import annotations

import pathlib

from .decode import METHODS as DECODE_METHODS

IMAGE_INPUT = "image"
BOXES_INPUT = "crop_boxes"
KEYPOINTS_OUTPUT = "keypoints"
COMPOSE_MODULE = "vitpose_ros.model.compose_graph"
DEFAULT_DECODE = "dark-udp"

# metadata_props the composer adds to the network's own
NETWORK_DIGEST_KEY = "graph_network_sha256"
FLIP_TEST_KEY = "graph_flip_test"
DECODE_METHOD_KEY = "graph_decode_method"


def graph_model_path(network_path, flip_test: bool = False, decode_method: str = DEFAULT_DECODE) -> pathlib.Path:
    """``models/vitpose_b_coco.onnx`` -> ``models/vitpose_b_coco_graph.onnx`` (see module doc)."""
    if decode_method not in DECODE_METHODS:
        raise ValueError(f"decode method must be one of {', '.join(DECODE_METHODS)}, got {decode_method!r}")
    path = pathlib.Path(network_path)
    suffix = "_graph" + ("_argmax" if decode_method == "argmax" else "") + ("_flip" if flip_test else "")
    return path.with_name(f"{path.stem}{suffix}{path.suffix}")


def compose_command(network_path, flip_test: bool = False, decode_method: str = DEFAULT_DECODE) -> str:
    """The shell command that writes ``graph_model_path(network_path, ...)``."""
    command = f"python -m {COMPOSE_MODULE} --model {network_path}"
    if flip_test:
        command += " --flip-test"
    if decode_method != DEFAULT_DECODE:
        command += f" --decode-method {decode_method}"
    return command


def graph_props(network_digest: str, flip_test: bool, decode_method: str) -> dict[str, str]:
    """The metadata that ties a graph file to its network and to what is built into it."""
    return {NETWORK_DIGEST_KEY: network_digest, FLIP_TEST_KEY: str(bool(flip_test)).lower(),
            DECODE_METHOD_KEY: decode_method}


def graph_mismatch(props: dict[str, str], network_digest: str, flip_test: bool, decode_method: str) -> str | None:
    """Why a graph file's metadata does not fit this network and these settings (None: it fits)."""
    if NETWORK_DIGEST_KEY not in props:
        return "it carries no network digest (not written by the composer)"
    if props[NETWORK_DIGEST_KEY] != network_digest:
        return "its network has changed since it was composed"
    wanted = graph_props(network_digest, flip_test, decode_method)
    for key in (FLIP_TEST_KEY, DECODE_METHOD_KEY):
        if props.get(key) != wanted[key]:
            return f"it was composed with {key}={props.get(key)}, not {wanted[key]}"
    return None
