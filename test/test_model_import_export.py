"""Checkpoint import (every format) and ONNX export, against transformers' ViTPose."""
import json
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from hf_reference import hf_backbone_to_official, hf_head_to_official, hf_heatmaps, make_hf_model

from vitpose_ros.model import export
from vitpose_ros.core.metadata import ModelMetadata
from vitpose_ros.model import CheckpointError, build_model, load_checkpoint

TOL = 1e-4


def random_input(batch=2, seed=1):
    return torch.randn(batch, 3, 256, 192, generator=torch.Generator().manual_seed(seed))


def our_heatmaps(imported, x):
    model = build_model(imported.config, imported.state_dict)
    with torch.no_grad():
        return model(x).numpy()


def ort_heatmaps(path, x):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["heatmaps"], {"input": x.numpy()})[0]


@pytest.mark.parametrize("simple", [False, True], ids=["classic", "simple"])
def test_hf_checkpoint_matches_transformers_in_torch_and_onnx(tmp_path, simple):
    hf = make_hf_model(simple=simple, layer_norm_eps=1e-12)  # eps must come from config.json
    hf.save_pretrained(tmp_path / "hf")
    x = random_input()
    reference = hf_heatmaps(hf, x)

    imported = load_checkpoint(tmp_path / "hf" / "model.safetensors")
    assert imported.source_format == "hf"
    assert imported.config.decoder == ("simple" if simple else "classic")
    assert imported.config.layer_norm_eps == 1e-12 and imported.config.num_heads == 4
    assert np.abs(our_heatmaps(imported, x) - reference).max() <= TOL

    out = tmp_path / "model.onnx"
    assert export.main(["--checkpoint", str(tmp_path / "hf"), "--output", str(out)]) == 0
    onnx_out = ort_heatmaps(out, x)
    assert onnx_out.shape == (2, 17, 64, 48)
    assert np.abs(onnx_out - reference).max() <= TOL
    # dynamic batch: another batch size runs through the same file
    x5 = random_input(5, seed=3)
    assert np.abs(ort_heatmaps(out, x5) - hf_heatmaps(hf, x5)).max() <= TOL


@pytest.mark.parametrize("dataset,expert", [("coco", 0), ("mpii", 2), ("wholebody", 5)])
def test_hf_moe_checkpoint_picks_the_datasets_expert(tmp_path, dataset, expert):
    hf = make_hf_model(experts=6, part_features=16, num_keypoints={"coco": 17, "mpii": 16, "wholebody": 133}[dataset])
    with torch.no_grad():  # strong experts, so picking the wrong one shows in the heatmaps
        for name, param in hf.named_parameters():
            if ".experts." in name:
                param.mul_(40)
    hf.save_pretrained(tmp_path)
    x = random_input()
    imported = load_checkpoint(tmp_path, dataset=dataset)
    ours = our_heatmaps(imported, x)
    right = np.abs(ours - hf_heatmaps(hf, x, dataset_index=expert)).max()
    assert right <= TOL
    # any other expert is far further away than float noise: the choice really matters
    other = np.abs(ours - hf_heatmaps(hf, x, dataset_index=(expert + 1) % 6)).max()
    assert other > 100 * max(right, 1e-7)


def test_official_and_easy_vitpose_layouts_load_to_transformers_numbers(tmp_path):
    # ViTPose-S width/depth, so the variant (and its head count) is found from shapes alone.
    hf = make_hf_model(hidden=384, layers=12, heads=12)
    state = hf.state_dict()
    official = hf_backbone_to_official(state)
    official.update(hf_head_to_official(state, "keypoint_head."))
    x = random_input()
    reference = hf_heatmaps(hf, x)

    torch.save({"meta": {"epoch": 210}, "state_dict": official}, tmp_path / "vitpose_small.pth")
    torch.save(official, tmp_path / "easy.pth")  # easy_ViTPose: no wrapper
    for name, fmt in [("vitpose_small.pth", "official"), ("easy.pth", "easy_vitpose")]:
        imported = load_checkpoint(tmp_path / name)
        assert (imported.source_format, imported.config.variant, imported.dataset) == (fmt, "s", "coco")
        assert np.abs(our_heatmaps(imported, x) - reference).max() <= TOL

    out = tmp_path / "s.onnx"
    assert export.main(["--checkpoint", str(tmp_path / "vitpose_small.pth"), "--output", str(out)]) == 0
    assert np.abs(ort_heatmaps(out, x) - reference).max() <= TOL


def test_vitpose_plus_plus_official_layout(tmp_path):
    """MoE checkpoint in the official layout: expert i + keypoint_head / associate_keypoint_heads.<i-1>."""
    hf_coco = make_hf_model(hidden=384, layers=12, heads=12, experts=6, part_features=96)
    hf_aic = make_hf_model(hidden=384, layers=12, heads=12, experts=6, part_features=96, num_keypoints=14, seed=5)
    backbone = {k: v for k, v in hf_coco.state_dict().items() if k.startswith("backbone.")}
    hf_aic.load_state_dict(backbone, strict=False)  # same backbone, its own 14-keypoint head
    state = hf_backbone_to_official(hf_coco.state_dict())
    state.update(hf_head_to_official(hf_coco.state_dict(), "keypoint_head."))
    state.update(hf_head_to_official(hf_aic.state_dict(), "associate_keypoint_heads.0."))
    torch.save({"state_dict": state}, tmp_path / "vitpose++_s.pth")
    x = random_input()

    coco = load_checkpoint(tmp_path / "vitpose++_s.pth")
    assert (coco.source_format, coco.dataset, coco.config.num_keypoints) == ("vitpose++", "coco", 17)
    assert np.abs(our_heatmaps(coco, x) - hf_heatmaps(hf_coco, x, dataset_index=0)).max() <= TOL

    aic = load_checkpoint(tmp_path / "vitpose++_s.pth", dataset="aic")
    assert aic.config.num_keypoints == 14
    assert np.abs(our_heatmaps(aic, x) - hf_heatmaps(hf_aic, x, dataset_index=1)).max() <= TOL

    out = tmp_path / "aic.onnx"
    assert export.main(["--checkpoint", str(tmp_path / "vitpose++_s.pth"), "--output", str(out),
                        "--dataset", "aic"]) == 0
    assert np.abs(ort_heatmaps(out, x) - hf_heatmaps(hf_aic, x, dataset_index=1)).max() <= TOL
    props = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert props["dataset"] == "aic" and props["num_keypoints"] == "14" and props["source_format"] == "vitpose++"


def test_onnx_graph_contract_and_metadata(tmp_path):
    hf = make_hf_model()
    hf.save_pretrained(tmp_path / "hf")
    out = tmp_path / "m.onnx"
    assert export.main(["--checkpoint", str(tmp_path / "hf"), "--output", str(out), "--opset", "18"]) == 0
    model = onnx.load(str(out))
    assert model.opset_import[0].version >= 17
    (inp,), (outp,) = model.graph.input, model.graph.output
    assert inp.name == "input" and outp.name == "heatmaps"
    in_dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    out_dims = [d.dim_param or d.dim_value for d in outp.type.tensor_type.shape.dim]
    assert isinstance(in_dims[0], str) and in_dims[1:] == [3, 256, 192]
    assert isinstance(out_dims[0], str) and out_dims[1:] == [17, 64, 48]
    meta = ModelMetadata.from_props({p.key: p.value for p in model.metadata_props})
    assert meta == ModelMetadata(variant="custom", dataset="coco", num_keypoints=17, input_height=256,
                                 input_width=192, decoder="classic", source_format="hf")
    assert json.loads({p.key: p.value for p in model.metadata_props}["mean"]) == [0.485, 0.456, 0.406]


def test_fixed_batch_and_external_data(tmp_path, monkeypatch):
    hf = make_hf_model()
    hf.save_pretrained(tmp_path / "hf")
    monkeypatch.setattr(export, "EXTERNAL_DATA_THRESHOLD", 0)  # take the >2 GB (ViTPose-H) path
    out = tmp_path / "fixed.onnx"
    assert export.main(["--checkpoint", str(tmp_path / "hf"), "--output", str(out), "--batch", "3"]) == 0
    assert (tmp_path / "fixed.onnx.data").stat().st_size > out.stat().st_size
    x = random_input(3)
    assert np.abs(ort_heatmaps(out, x) - hf_heatmaps(hf, x)).max() <= TOL
    dims = [d.dim_value for d in onnx.load(str(out), load_external_data=False).graph.input[0].type.tensor_type.shape.dim]
    assert dims == [3, 3, 256, 192]


class NotAWeight:
    """A pickled custom object: weights_only loading must refuse it."""


@pytest.mark.parametrize("kind,says", [
    ("random_bytes", "not a PyTorch"), ("truncated", "damaged or truncated"),
    ("other_model", "not a ViTPose checkpoint"), ("custom_object", "refused (weights-only"),
    ("empty_dict", "no tensors"),
])
def test_bad_files_give_one_clear_error(tmp_path, kind, says, capsys):
    path = tmp_path / f"{kind}.pth"
    if kind == "random_bytes":
        path.write_bytes(np.random.default_rng(0).bytes(4096))
    elif kind == "truncated":
        hf = make_hf_model()
        torch.save({"state_dict": hf_backbone_to_official(hf.state_dict())}, path)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif kind == "other_model":
        resnetish = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8), torch.nn.Linear(8, 2))
        torch.save({"state_dict": resnetish.state_dict()}, path)
    elif kind == "custom_object":
        torch.save({"state_dict": {"x": NotAWeight()}}, path)
    else:
        torch.save({}, path)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    message = str(err.value)
    assert "\n" not in message and len(message) < 300
    assert path.name in message or "ViTPose" in message or "tensors" in message

    print(kind, "->", message)
    code = export.main(["--checkpoint", str(path), "--output", str(tmp_path / "x.onnx")])
    stderr = capsys.readouterr().err.strip()
    assert code != 0 and stderr.startswith("vitpose-export: error:") and "\n" not in stderr
    assert not (tmp_path / "x.onnx").exists()


def test_shapes_that_fit_no_variant_are_named(tmp_path):
    hf = make_hf_model(hidden=64, layers=2, heads=4)
    state = hf_backbone_to_official(hf.state_dict())
    state.update(hf_head_to_official(hf.state_dict(), "keypoint_head."))
    torch.save({"state_dict": state}, tmp_path / "odd.pth")
    with pytest.raises(CheckpointError, match=r"embed_dim=64, depth=2.*--num-heads"):
        load_checkpoint(tmp_path / "odd.pth")
    imported = load_checkpoint(tmp_path / "odd.pth", num_heads=4)
    x = random_input()
    assert np.abs(our_heatmaps(imported, x) - hf_heatmaps(hf, x)).max() <= TOL


def test_cli_as_a_process(tmp_path):
    hf = make_hf_model()
    hf.save_pretrained(tmp_path / "hf")
    ok = subprocess.run([sys.executable, "-m", "vitpose_ros.model.export", "--checkpoint", str(tmp_path / "hf"),
                         "--output", str(tmp_path / "m.onnx")], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert "max abs diff" in ok.stdout and (tmp_path / "m.onnx").is_file()
    bad = subprocess.run([sys.executable, "-m", "vitpose_ros.model.export", "--checkpoint", str(tmp_path / "nope.pth"),
                          "--output", str(tmp_path / "n.onnx")], capture_output=True, text=True)
    assert bad.returncode != 0
    assert bad.stderr.strip().count("\n") == 0 and "no such file" in bad.stderr
