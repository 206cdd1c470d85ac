"""TensorRT engines are cached per content key: the model files' hashes (remembered, not re-read)
plus what changes the engine. TensorRT cannot run here, so the options the engine would pass are
checked as data, with onnxruntime listing the TensorRT provider (as onnxruntime-gpu does) and the
real CPU build running the sessions."""
import logging
import os
import pathlib
import shutil

import onnxruntime as ort
import pytest
from model_factory import export_random_model, model_with_stale_graph

from vitpose_ros.core import build_engine, engine
from vitpose_ros.core.content_hash import HASH_MEMO_NAME, FileHashes, model_digest
from vitpose_ros.core.device_graph import graph_model_path
from vitpose_ros.core.engine import SessionFactory, engine_cache_key, tensorrt_options
from vitpose_ros.core.estimator import IMAGE_PROFILE, PoseEstimator

SETTINGS = {"pipeline": "host", "fp16": True, "max_batch": 16, "opt_batch": 4, "flip_test": False}


@pytest.fixture(scope="module")
def two_models(tmp_path_factory):
    """Same structure, different weights, same file name (in two folders)."""
    root = tmp_path_factory.mktemp("models")
    return [export_random_model(root / name / "vitpose_tiny.onnx", seed=seed, batch=None)
            for name, seed in (("a", 0), ("b", 1))]


@pytest.fixture
def tensorrt_listed(monkeypatch):
    """onnxruntime-gpu with TensorRT as seen from Python: the provider is listed and its libraries
    load; sessions are recorded and run by the real CPU build."""
    monkeypatch.setattr(ort, "get_available_providers",
                        lambda: ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"])
    monkeypatch.setattr(ort, "preload_dlls", lambda *a, **k: None, raising=False)
    monkeypatch.setattr(engine, "missing_library", lambda names: None)
    real_session, calls = ort.InferenceSession, []

    class Session:
        """The CPU session, reporting the providers it was given as a GPU build's session does."""

        def __init__(self, path, sess_options=None, providers=None, provider_options=None):
            calls.append({"path": pathlib.Path(path), "providers": providers, "options": provider_options})
            self._session = real_session(path, sess_options=sess_options, providers=["CPUExecutionProvider"])
            self._providers = list(providers)

        def get_providers(self):
            return self._providers

        def __getattr__(self, name):
            return getattr(self._session, name)

    monkeypatch.setattr(ort, "InferenceSession", Session)
    return calls


def test_keys_follow_content_not_names(two_models, tmp_path, capsys):
    a, b = two_models
    hashes = FileHashes(tmp_path / HASH_MEMO_NAME)
    key_a, key_b = engine_cache_key(a, SETTINGS, hashes), engine_cache_key(b, SETTINGS, hashes)
    print("identical structure, different weights:", key_a, key_b)
    assert key_a.startswith("vitpose_tiny-") and key_b.startswith("vitpose_tiny-") and key_a != key_b
    again = engine_cache_key(a, SETTINGS, hashes)
    assert again == key_a
    for change in ({"fp16": False}, {"max_batch": 8}, {"opt_batch": 2}, {"flip_test": True}, {"pipeline": "graph"}):
        assert engine_cache_key(a, {**SETTINGS, **change}, hashes) != key_a, change
    moved = tmp_path / "elsewhere" / a.name
    moved.parent.mkdir()
    shutil.copy(a, moved)
    assert engine_cache_key(moved, SETTINGS, hashes) == key_a  # the same bytes elsewhere: the same engine


def test_reexporting_into_the_same_path_changes_the_key(tmp_path):
    path = export_random_model(tmp_path / "m.onnx", seed=0)
    hashes = FileHashes(tmp_path / "cache" / HASH_MEMO_NAME)
    first = engine_cache_key(path, SETTINGS, hashes)
    export_random_model(path, seed=3)
    second = engine_cache_key(path, SETTINGS, hashes)
    print("re-exported into the same path:", first, second)
    assert first != second


def test_external_weights_are_part_of_the_key(tmp_path, monkeypatch):
    from vitpose_ros.model import export

    monkeypatch.setattr(export, "EXTERNAL_DATA_THRESHOLD", 0)
    path = export_random_model(tmp_path / "h.onnx", seed=0, batch=1)
    first = model_digest(path)
    structure = path.read_bytes()
    export_random_model(path, seed=1, batch=1)
    assert path.read_bytes() == structure  # ONNX Runtime's own engine name would not change
    assert model_digest(path) != first


def test_a_file_is_hashed_once_and_remembered_by_size_and_mtime(two_models, tmp_path, capsys):
    model = tmp_path / "m.onnx"
    shutil.copy(two_models[0], model)
    memo = tmp_path / "cache" / HASH_MEMO_NAME
    first = FileHashes(memo)
    key = engine_cache_key(model, SETTINGS, first)
    assert first.reads == 1 and memo.is_file()
    second = FileHashes(memo)  # a later start
    assert engine_cache_key(model, SETTINGS, second) == key and second.reads == 0
    print("same file twice:", key, key)
    # Proof that the second start did not read the bytes: change them, keep size and mtime
    stat = model.stat()
    data = bytearray(model.read_bytes())
    data[-1] ^= 0xFF
    model.write_bytes(bytes(data))
    os.utime(model, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert engine_cache_key(model, SETTINGS, FileHashes(memo)) == key
    os.utime(model, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))  # what any rewrite does to mtime
    third = FileHashes(memo)
    assert engine_cache_key(model, SETTINGS, third) != key and third.reads == 1


def test_tensorrt_options_as_data(tmp_path):
    profiles = {"input": ("1x3x256x192", "4x3x256x192", "16x3x256x192")}
    options = tensorrt_options(tmp_path / "key", tmp_path, fp16=True, device_id=1, workspace_gb=1.5, profiles=profiles)
    assert options == {
        "device_id": 1, "trt_fp16_enable": True, "trt_engine_cache_enable": True,
        "trt_engine_cache_path": str(tmp_path / "key"), "trt_timing_cache_enable": True,
        "trt_timing_cache_path": str(tmp_path), "trt_max_workspace_size": int(1.5 * (1 << 30)),
        "trt_profile_min_shapes": "input:1x3x256x192", "trt_profile_opt_shapes": "input:4x3x256x192",
        "trt_profile_max_shapes": "input:16x3x256x192"}


def test_the_node_s_graph_session_asks_tensorrt_for_a_cache_folder_per_key(two_models, tmp_path, tensorrt_listed,
                                                                         caplog):
    caplog.set_level(logging.INFO, logger="vitpose_ros")
    model = two_models[0]
    cache = tmp_path / "trt"
    estimator = PoseEstimator(model, providers=("tensorrt", "cuda", "cpu"), engine_cache_dir=cache, max_batch=8)
    assert estimator.pipeline == "graph"
    call = tensorrt_listed[-1]
    assert call["path"] == graph_model_path(model)  # loaded by path
    assert call["providers"] == ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    trt = call["options"][0]
    key = SessionFactory(engine_cache_dir=cache).engine_key(
        graph_model_path(model), {"image": IMAGE_PROFILE, "crop_boxes": ("1x4", "4x4", "8x4")},
        {"pipeline": "graph", "flip_test": False, "decode_method": "dark-udp"})
    print("graph pipeline, ViT-tiny, max_batch 8:", key)
    assert trt["trt_engine_cache_path"] == str(cache / key) and trt["trt_timing_cache_path"] == str(cache)
    assert trt["trt_fp16_enable"] is True
    assert trt["trt_profile_min_shapes"] == "image:2x2x3,crop_boxes:1x4"
    assert trt["trt_profile_max_shapes"] == "image:2160x3840x3,crop_boxes:8x4"
    assert call["options"][1] == {"device_id": 0}
    messages = [r.getMessage() for r in caplog.records]
    assert f"TensorRT engine cache {cache}, key {key}: no engine for vitpose_tiny_graph.onnx yet; building it now" \
        in "\n".join(messages)
    (cache / key / "TensorrtExecutionProvider_TRTKernel_graph_1_sm87.engine").write_bytes(b"engine")
    caplog.clear()
    PoseEstimator(model, providers=("tensorrt", "cuda", "cpu"), engine_cache_dir=cache, max_batch=8)
    assert f"TensorRT engine cache {cache}, key {key}: reusing the engine built for vitpose_tiny_graph.onnx" \
        in [r.getMessage() for r in caplog.records]
    # the other model (same structure) gets a folder of its own
    PoseEstimator(two_models[1], providers=("tensorrt",), engine_cache_dir=cache, max_batch=8)
    assert tensorrt_listed[-1]["options"][0]["trt_engine_cache_path"] != str(cache / key)


def test_host_pipeline_key_has_the_network_s_profile_and_flip_test(two_models, tmp_path, tensorrt_listed):
    model = two_models[0]
    PoseEstimator(model, providers=("tensorrt",), engine_cache_dir=tmp_path, pipeline="host", flip_test=True,
                  max_batch=4, fp16=False)
    trt = tensorrt_listed[-1]["options"][0]
    assert tensorrt_listed[-1]["path"] == model
    assert trt["trt_fp16_enable"] is False
    assert trt["trt_profile_opt_shapes"] == "input:4x3x256x192" and trt["trt_profile_max_shapes"] == "input:8x3x256x192"
    key = pathlib.Path(trt["trt_engine_cache_path"]).name
    no_flip = PoseEstimator(model, providers=("tensorrt",), engine_cache_dir=tmp_path, pipeline="host", max_batch=8,
                            fp16=False)
    assert no_flip.engine.max_batch == 8
    assert pathlib.Path(tensorrt_listed[-1]["options"][0]["trt_engine_cache_path"]).name != key  # flip test differs


@pytest.mark.parametrize("pipeline,flip", [("auto", False), ("host", True)])
def test_build_engine_prebuilds_under_the_key_the_node_loads(two_models, tmp_path, tensorrt_listed, pipeline, flip):
    model = two_models[1]
    argv = ["--model", str(model), "--engine-cache-dir", str(tmp_path), "--max-batch", "8", "--pipeline", pipeline]
    assert build_engine.main(argv + (["--flip-test"] if flip else [])) == 0
    built = {c["options"][0]["trt_engine_cache_path"] for c in tensorrt_listed if c["providers"][0].startswith("Tensorrt")}
    tensorrt_listed.clear()
    # what the node constructs from its parameters (providers tensorrt,cuda,cpu; fp16; max_batch 8)
    PoseEstimator(model, providers=("tensorrt", "cuda", "cpu"), engine_cache_dir=tmp_path, max_batch=8,
                  flip_test=flip, pipeline=pipeline)
    assert tensorrt_listed[-1]["options"][0]["trt_engine_cache_path"] in built


def test_a_stale_graph_is_refused_before_tensorrt_builds_an_engine_for_it(tmp_path, tensorrt_listed, caplog):
    model = model_with_stale_graph(tmp_path / "m.onnx")
    caplog.set_level(logging.WARNING, logger="vitpose_ros")
    estimator = PoseEstimator(model, providers=("tensorrt", "cpu"), engine_cache_dir=tmp_path / "trt")
    assert estimator.pipeline == "host"
    graph_calls = [c["providers"] for c in tensorrt_listed if c["path"] == graph_model_path(model)]
    assert graph_calls == [["CPUExecutionProvider"]]  # its metadata read on the CPU, no TensorRT session
    assert any("m_graph.onnx does not fit m.onnx: its network has changed" in r.getMessage() for r in caplog.records)
    assert not any("building it now" in r.getMessage() and "m_graph" in r.getMessage() for r in caplog.records)
