"""`fetch --format onnx`: published ViTPose ONNX files adopted into our contract, offline, without torch in fetch.

Each test writes a file in a published repository's layout into a Hugging Face cache (see
test_fetch.hub_snapshot): exported from transformers' VitPoseForPoseEstimation with random weights
under that repository's input/output names. fetch adopts it; the adopted file must give the same
keypoints as our own export of the same weights.
"""
import json
import pathlib
import warnings

import numpy as np
import onnx
import pytest
import torch
from hf_reference import make_hf_model
from test_fetch import hub_snapshot, run_fetch, strong_experts
from test_runtime import scene

from vitpose_ros.core.estimator import PoseEstimator
from vitpose_ros.model import build_model, load_checkpoint
from vitpose_ros.model.export import export_model, metadata_for
from vitpose_ros.model.onnx_adopt import AdoptError, onnx_source_for

BOXES = np.array([[100, 60, 260, 420], [330, 150, 450, 330]], float)
PREPROCESSOR = {"do_affine_transform": True, "do_normalize": True, "do_rescale": True,
                "image_mean": [0.485, 0.456, 0.406], "image_processor_type": "VitPoseImageProcessor",
                "image_std": [0.229, 0.224, 0.225], "normalize_factor": 200.0,
                "rescale_factor": 0.00392156862745098, "size": {"height": 256, "width": 192}}


class _Heatmaps(torch.nn.Module):
    def __init__(self, hf, with_index):
        super().__init__()
        self.hf, self.with_index = hf, with_index

    def forward(self, pixel_values, dataset_index=None):
        if self.with_index:
            return self.hf(pixel_values=pixel_values, dataset_index=dataset_index).heatmaps
        return self.hf(pixel_values=pixel_values).heatmaps


def publish_onnx(hf, path: pathlib.Path, input_name, output_name, dataset_index_name=None):
    """``hf`` as ONNX at ``path`` under the given names (dynamic batch), as the repositories export."""
    path.parent.mkdir(parents=True, exist_ok=True)
    x = torch.zeros(1, 3, 256, 192)
    args, names, axes = (x,), [input_name], {input_name: {0: "batch_size"}, output_name: {0: "batch_size"}}
    if dataset_index_name:
        args, names = (x, torch.zeros(1, dtype=torch.long)), names + [dataset_index_name]
        axes[dataset_index_name] = {0: "batch_size"}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(_Heatmaps(hf, dataset_index_name is not None).eval(), args, str(path), input_names=names,
                          output_names=[output_name], dynamic_axes=axes, opset_version=17, dynamo=False)


def onnx_heatmaps(path, x):
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(["heatmaps"], {"input": x})[0]


def own_export(hf, folder: pathlib.Path, dataset="coco"):
    """Our importer + exporter on the same weights (the reference)."""
    hf.save_pretrained(folder / "checkpoint")
    imported = load_checkpoint(folder / "checkpoint", dataset=dataset)
    return export_model(build_model(imported.config, imported.state_dict), folder / "ours.onnx", metadata_for(imported))


def _onnx_community_base(cache):
    hf = make_hf_model(simple=True, seed=7)
    snapshot = hub_snapshot(cache, "onnx-community/vitpose-base-simple")
    publish_onnx(hf, snapshot / "onnx" / "model.onnx", "pixel_values", "heatmaps")
    (snapshot / "preprocessor_config.json").write_text(json.dumps(PREPROCESSOR))
    return hf, "coco"


def _onnx_community_plus_small(cache):
    hf = strong_experts(make_hf_model(experts=6, part_features=16, seed=8))
    snapshot = hub_snapshot(cache, "onnx-community/vitpose-plus-small-ONNX")
    publish_onnx(hf, snapshot / "onnx" / "model.onnx", "pixel_values", "heatmaps", dataset_index_name="dataset_index")
    (snapshot / "preprocessor_config.json").write_text(json.dumps(PREPROCESSOR))
    return hf, "coco"


def _easy_vitpose_mpii(cache):
    hf = make_hf_model(num_keypoints=16, seed=9)
    snapshot = hub_snapshot(cache, "JunkyByte/easy_ViTPose")
    publish_onnx(hf, snapshot / "onnx" / "mpii" / "vitpose-b-mpii.onnx", "input_0", "output_0")
    return hf, "mpii"


@pytest.mark.parametrize("size,publish", [("b", _onnx_community_base), ("s", _onnx_community_plus_small),
                                          ("b", _easy_vitpose_mpii)],
                         ids=["onnx-community-vitpose-base-simple", "onnx-community-vitpose-plus-small",
                              "easy_vitpose-b-mpii"])
def test_published_onnx_is_adopted_and_matches_our_export(tmp_path, size, publish):
    hf, dataset = publish(tmp_path / "hub")
    result = run_fetch(tmp_path, "--model", size, "--dataset", dataset, "--format", "onnx")
    assert result.returncode == 0, result.stderr
    adopted = tmp_path / "models" / f"vitpose_{size}_{dataset}.onnx"  # where pose.launch.py looks
    assert result.stdout.strip().splitlines()[-1] == str(adopted)
    assert "adopted" in result.stdout and "CPU run checked" in result.stdout
    proto = onnx.load(str(adopted))
    assert [i.name for i in proto.graph.input] == ["input"] and [o.name for o in proto.graph.output] == ["heatmaps"]
    props = {p.key: p.value for p in proto.metadata_props}
    assert props["dataset"] == dataset and props["source_format"].startswith("onnx:")

    ours = own_export(hf, tmp_path / "reference", dataset)
    rgb = scene(0)
    expected = PoseEstimator(ours, providers=("cpu",)).estimate(rgb, BOXES)
    got = PoseEstimator(adopted, providers=("cpu",)).estimate(rgb, BOXES)
    # Random weights give flat heatmaps, where DARK's sub-pixel step magnifies float rounding: the
    # networks are held to 1e-4 on heatmaps, the decoded keypoints to 5e-3 px (real weights: far less).
    x = np.random.default_rng(0).normal(size=(2, 3, 256, 192)).astype(np.float32)
    assert np.abs(onnx_heatmaps(adopted, x) - onnx_heatmaps(ours, x)).max() <= 1e-4
    assert np.abs(got[..., :2] - expected[..., :2]).max() <= 5e-3  # px
    assert np.abs(got[..., 2] - expected[..., 2]).max() <= 1e-4
    # no scratch left: the model and its graph pipeline's file, which gives the same keypoints
    assert sorted(p.name for p in adopted.parent.iterdir()) == [adopted.name, f"{adopted.stem}_graph.onnx"]
    graph = PoseEstimator(adopted, providers=("cpu",), pipeline="graph").estimate(rgb, BOXES)
    assert np.abs(graph[..., :2] - got[..., :2]).max() <= 0.5 and np.abs(graph[..., 2] - got[..., 2]).max() <= 1e-3
    print(f"adopted vs own export: keypoints max {np.abs(got[..., :2] - expected[..., :2]).max():.2g} px")


def test_wrong_expert_would_show(tmp_path):
    """The ViTPose++ expert is really fixed: the COCO expert's heatmaps differ from another's."""
    hf = strong_experts(make_hf_model(experts=6, part_features=16, seed=8))
    x = torch.randn(2, 3, 256, 192, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        coco = hf(pixel_values=x, dataset_index=torch.zeros(2, dtype=torch.long)).heatmaps
        other = hf(pixel_values=x, dataset_index=torch.ones(2, dtype=torch.long)).heatmaps
    assert (coco - other).abs().max() > 1e-4  # the heatmap tolerance the adopted file is held to


def test_a_broken_published_file_fails_with_one_line_and_writes_nothing(tmp_path):
    snapshot = hub_snapshot(tmp_path / "hub", "JunkyByte/easy_ViTPose")
    (snapshot / "onnx" / "wholebody").mkdir(parents=True)
    (snapshot / "onnx" / "wholebody" / "vitpose-s-wholebody.onnx").write_bytes(b"not an onnx file")
    result = run_fetch(tmp_path, "--model", "s", "--dataset", "wholebody", "--format", "onnx")
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "not a loadable ONNX model" in lines[0], result.stderr
    assert not (tmp_path / "models").exists() or not any((tmp_path / "models").iterdir())


def test_published_sources():
    assert onnx_source_for("b").repo_id == "onnx-community/vitpose-base-simple"
    assert onnx_source_for("b").onnx_file == "onnx/model.onnx"
    assert onnx_source_for("s").repo_id == "onnx-community/vitpose-plus-small-ONNX"
    assert onnx_source_for("l").onnx_file == "onnx/coco/vitpose-l-coco.onnx"
    assert onnx_source_for("b", "ap10k").onnx_file == "onnx/ap10k/vitpose-b-ap10k.onnx"
    with pytest.raises(AdoptError, match="ViTPose-H"):
        onnx_source_for("h")
