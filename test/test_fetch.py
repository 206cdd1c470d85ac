"""`python -m vitpose_ros.model.fetch` through the real huggingface_hub code path, offline.

Each test fills a Hugging Face cache (HF_HUB_CACHE) with a small random checkpoint laid out as the
hub stores the published repository (models--ORG--NAME/refs/main + snapshots/<commit>/...), then
runs the CLI with HF_HUB_OFFLINE=1, so hf_hub_download resolves the files from that cache. The
exported ONNX is compared with transformers' VitPoseForPoseEstimation on the same input.
"""
import os
import pathlib
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from hf_reference import hf_backbone_to_official, hf_head_to_official, hf_heatmaps, make_hf_model

from vitpose_ros.core.content_hash import model_digest
from vitpose_ros.model.fetch import FetchError, main, source_for

REPO = pathlib.Path(__file__).resolve().parents[1]
COMMIT = "0123456789abcdef0123456789abcdef01234567"
TOL = 1e-4


def hub_snapshot(cache: pathlib.Path, repo_id: str) -> pathlib.Path:
    """The snapshot folder of ``repo_id`` in a hub cache, with refs/main pointing at it."""
    repo_dir = cache / ("models--" + repo_id.replace("/", "--"))
    (repo_dir / "refs").mkdir(parents=True, exist_ok=True)
    (repo_dir / "refs" / "main").write_text(COMMIT)
    snapshot = repo_dir / "snapshots" / COMMIT
    snapshot.mkdir(parents=True, exist_ok=True)
    return snapshot


def run_fetch(tmp_path, *args):
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HUB_CACHE=str(tmp_path / "hub"),
               VITPOSE_MODEL_DIR=str(tmp_path / "models"), HF_HUB_DISABLE_TELEMETRY="1")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-m", "vitpose_ros.model.fetch", *args], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)


def onnx_heatmaps(path, x):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["heatmaps"], {"input": x.numpy()})[0]


def strong_experts(hf):
    """Scale the MoE experts so that reading the wrong one shows in the heatmaps."""
    with torch.no_grad():
        for name, param in hf.named_parameters():
            if ".experts." in name:
                param.mul_(40)
    return hf


def _transformers_base(cache):
    hf = make_hf_model(seed=3)
    hf.save_pretrained(hub_snapshot(cache, "usyd-community/vitpose-base"))  # config.json + model.safetensors
    return hf, {}


def _transformers_plus_small(cache):
    hf = strong_experts(make_hf_model(experts=6, part_features=16, seed=4))
    hf.save_pretrained(hub_snapshot(cache, "usyd-community/vitpose-plus-small"))
    return hf, {"dataset_index": 0}  # the COCO expert


def _easy_vitpose_wholebody(cache):
    # ViT-S shapes: the original checkpoints carry no config, the variant is found from them
    hf = make_hf_model(hidden=384, layers=12, heads=12, num_keypoints=133, seed=5)
    state = hf_backbone_to_official(hf.state_dict())
    state.update(hf_head_to_official(hf.state_dict(), "keypoint_head."))
    target = hub_snapshot(cache, "JunkyByte/easy_ViTPose") / "torch" / "wholebody" / "vitpose-s-wholebody.pth"
    target.parent.mkdir(parents=True)
    torch.save(state, target)
    return hf, {}


@pytest.mark.parametrize("size,dataset,publish,keypoints", [
    ("b", "coco", _transformers_base, 17),
    ("s", "coco", _transformers_plus_small, 17),
    ("s", "wholebody", _easy_vitpose_wholebody, 133),
], ids=["transformers-b", "vitpose++-s-coco-expert", "easy_vitpose-s-wholebody"])
def test_fetch_downloads_exports_and_matches_transformers(tmp_path, size, dataset, publish, keypoints):
    hf, reference_kwargs = publish(tmp_path / "hub")
    result = run_fetch(tmp_path, "--model", size, "--dataset", dataset)
    assert result.returncode == 0, result.stderr
    expected_path = tmp_path / "models" / f"vitpose_{size}_{dataset}.onnx"  # where pose.launch.py looks
    assert result.stdout.strip().splitlines()[-1] == str(expected_path)
    assert "max abs diff" in result.stdout
    assert "exporting to ONNX" in result.stderr  # the export progress bar

    x = torch.randn(2, 3, 256, 192, generator=torch.Generator().manual_seed(1))
    ours = onnx_heatmaps(expected_path, x)
    assert ours.shape == (2, keypoints, 64, 48)
    assert np.abs(ours - hf_heatmaps(hf, x, **reference_kwargs)).max() <= TOL
    props = {p.key: p.value for p in onnx.load(str(expected_path), load_external_data=False).metadata_props}
    assert props["dataset"] == dataset and props["num_keypoints"] == str(keypoints)
    graph = expected_path.with_name(f"{expected_path.stem}_graph.onnx")  # the graph pipeline's file
    assert sorted(p.name for p in expected_path.parent.iterdir()) == sorted([expected_path.name, graph.name])  # no scratch
    graph_props = {p.key: p.value for p in onnx.load(str(graph), load_external_data=False).metadata_props}
    assert graph_props["graph_network_sha256"] == model_digest(expected_path)

    # Already there: says so, exits 0, leaves the file alone.
    mtime = expected_path.stat().st_mtime_ns
    again = run_fetch(tmp_path, "--model", size, "--dataset", dataset)
    assert again.returncode == 0 and "already there" in again.stdout
    assert again.stdout.strip().splitlines()[-1] == str(expected_path)
    assert expected_path.stat().st_mtime_ns == mtime


def test_no_network_and_nothing_cached_fails_with_one_line(tmp_path):
    (tmp_path / "hub").mkdir()
    result = run_fetch(tmp_path, "--model", "b")
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert "https://huggingface.co/usyd-community/vitpose-base" in line
    assert "python -m vitpose_ros.model.export --checkpoint" in line
    assert str(tmp_path / "models" / "vitpose_b_coco.onnx") in line
    assert not (tmp_path / "models").exists() or not any((tmp_path / "models").iterdir())


def test_fetch_fp16_converts_the_fetched_fp32_model(tmp_path):
    hf, _ = _transformers_base(tmp_path / "hub")
    output = tmp_path / "out" / "m.onnx"
    result = run_fetch(tmp_path, "--model", "b", "--precision", "fp16", "--output", str(output))
    assert result.returncode == 0, result.stderr
    fp16 = tmp_path / "out" / "m_fp16.onnx"
    assert result.stdout.strip().splitlines()[-1] == str(fp16)
    assert output.is_file() and fp16.is_file()  # the fp32 source stays beside its copy
    assert (tmp_path / "out" / "m_graph.onnx").is_file() and (tmp_path / "out" / "m_fp16_graph.onnx").is_file()
    props = {p.key: p.value for p in onnx.load(str(fp16)).metadata_props}
    assert props["precision"] == "fp16" and props["dataset"] == "coco"
    x = torch.randn(2, 3, 256, 192, generator=torch.Generator().manual_seed(1))
    reference = hf_heatmaps(hf, x)
    assert np.abs(onnx_heatmaps(fp16, x) - reference).max() <= 2e-2 * np.abs(reference).max()
    # the fp32 model is there now: a second precision is a conversion, no download or export
    os.remove(fp16)
    again = run_fetch(tmp_path, "--model", "b", "--precision", "fp16", "--output", str(output))
    assert again.returncode == 0 and "fetching" not in again.stdout and fp16.is_file()


def test_sources_follow_the_published_repositories():
    assert source_for("b").repo_id == "usyd-community/vitpose-base"
    assert [source_for(s).repo_id for s in "slh"] == [f"usyd-community/vitpose-plus-{w}" for w in ("small", "large", "huge")]
    assert source_for("l", "coco", "easy_vitpose").files == ("torch/coco/vitpose-l-coco.pth",)
    assert source_for("h", "ap10k").files == ("torch/ap10k/vitpose-h-ap10k.pth",)
    with pytest.raises(FetchError, match="COCO"):
        source_for("b", "wholebody", "transformers")
