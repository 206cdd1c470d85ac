"""`fetch --detector NAME`: a transformers RT-DETR checkpoint -> detector ONNX in the detector contract, offline.

A tiny RT-DETR of the published architecture with random weights is saved in a Hugging Face cache
laid out as the Hub stores PekingU/rtdetr_r18vd; fetch runs with HF_HUB_OFFLINE=1. The file's
detections are compared with transformers' model and its own post-processing.
"""
import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from test_fetch import hub_snapshot, run_fetch

from vitpose_ros.model.detector_export import DETECTORS, compare_detections, reference_detections

SIZE = 160  # input side of the tiny test checkpoints (the published ones use 640)
CLASSES = ["person", "bicycle", "car"]
GAIN = 1.2  # larger gains make random models ill-conditioned (float error amplified)


def tiny_detector(model_class: str, seed: int):
    import transformers

    kind = "RTDetrV2" if "V2" in model_class else "RTDetr"
    backbone = transformers.RTDetrResNetConfig(embedding_size=16, hidden_sizes=[16, 32, 64, 128], depths=[1, 1, 1, 1],
                                               layer_type="basic", out_features=["stage2", "stage3", "stage4"])
    config = getattr(transformers, f"{kind}Config")(
        backbone_config=backbone, encoder_in_channels=[32, 64, 128], encoder_hidden_dim=32, encoder_ffn_dim=64,
        encoder_attention_heads=2, d_model=32, decoder_in_channels=[32, 32, 32], decoder_ffn_dim=64,
        decoder_attention_heads=2, decoder_layers=2, num_queries=20, num_denoising=0, num_labels=len(CLASSES),
        id2label=dict(enumerate(CLASSES)), label2id={n: i for i, n in enumerate(CLASSES)})
    model = getattr(transformers, model_class)(config).eval()
    # Every weight random, fan-in scaled (norms about 1): the features then differ from
    # place to place enough that proposal and class scores are far apart. With the init's near-equal
    # scores, float rounding would pick among near-ties arbitrarily in torch and ONNX Runtime alike.
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            norm = isinstance(module, (torch.nn.LayerNorm, torch.nn.BatchNorm2d))
            for kind, param in module.named_parameters(recurse=False):
                noise = torch.randn(param.shape, generator=gen)
                if norm:
                    param.copy_((1.0 if kind == "weight" else 0.0) + 0.1 * noise)
                else:
                    param.copy_(noise * GAIN / max(1, param[0].numel()) ** 0.5)
    return model


def publish(cache, name, seed=11):
    source = DETECTORS[name]
    model = tiny_detector(source.model_class, seed)
    snapshot = hub_snapshot(cache, source.repo_id)
    model.save_pretrained(snapshot)
    (snapshot / "preprocessor_config.json").write_text(json.dumps(
        {"image_processor_type": "RTDetrImageProcessor", "do_resize": True, "size": {"height": SIZE, "width": SIZE},
         "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": False}))
    return model


@pytest.mark.parametrize("name", ["rtdetr-r18", "rtdetr-v2-r18"])
def test_fetch_detector_exports_and_matches_transformers(tmp_path, name):
    model = publish(tmp_path / "hub", name)
    result = run_fetch(tmp_path, "--detector", name)
    assert result.returncode == 0, result.stderr
    path = tmp_path / "models" / f"detector_{name.replace('-', '_')}.onnx"  # core.model_files.default_detector_path
    assert result.stdout.strip().splitlines()[-1] == str(path)
    assert "scores max abs diff" in result.stdout

    proto = onnx.load(str(path))
    props = {p.key: p.value for p in proto.metadata_props}
    assert props["vitpose_detector"] == "1" and props["resize"] == "stretch"
    assert (props["input_height"], props["input_width"]) == (str(SIZE), str(SIZE))
    assert props["mean"] == "0,0,0" and props["std"] == "1,1,1"
    assert json.loads(props["class_names"]) == CLASSES and props["person_class"] == "0"
    assert props["licence"] == "Apache-2.0" and DETECTORS[name].repo_id in props["source"]
    assert max(op.version for op in proto.opset_import if op.domain in ("", "ai.onnx")) >= 16
    assert any(node.op_type == "GridSample" for node in proto.graph.node)

    images = torch.rand(3, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(5))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    boxes, scores, classes = session.run(["boxes", "scores", "classes"], {"images": images.numpy()})
    assert boxes.shape == (3, 20, 4) and scores.shape == (3, 20) and classes.dtype == np.int64
    expected = reference_detections(model, images, (SIZE, SIZE))
    for i, (ref_boxes, ref_scores, ref_labels) in enumerate(expected):
        # the leading rows, where the scores are well apart, must agree position by position
        gaps = -np.diff(ref_scores)
        lead = int(np.argmax(gaps < 1e-5)) if (gaps < 1e-5).any() else len(gaps)
        assert lead >= 3, ref_scores[:5]
        assert np.abs(scores[i, :lead] - ref_scores[:lead]).max() <= 1e-4
        assert (classes[i, :lead] == ref_labels[:lead]).all()
        assert np.abs(boxes[i, :lead] - ref_boxes[:lead]).max() <= 1e-4 * SIZE  # px
        assert max(compare_detections((boxes[i], scores[i], classes[i]), expected[i], SIZE, SIZE)) <= 1e-4

    again = run_fetch(tmp_path, "--detector", name)
    assert again.returncode == 0 and "already there" in again.stdout


class _Raw(torch.nn.Module):
    """The model as Transformers.js exports it: raw logits and centre-size boxes."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, pixel_values):
        out = self.model(pixel_values=pixel_values)
        return out.logits, out.pred_boxes


def publish_onnx(cache, seed=11):
    """onnx-community/rtdetr_r18vd's layout: onnx/model.onnx (pixel_values -> logits, pred_boxes),
    config.json, preprocessor_config.json."""
    import warnings

    model = tiny_detector("RTDetrForObjectDetection", seed)
    snapshot = hub_snapshot(cache, DETECTORS["rtdetr-r18"].onnx_repo)
    (snapshot / "onnx").mkdir(parents=True)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(_Raw(model).eval(), (torch.zeros(1, 3, SIZE, SIZE),), str(snapshot / "onnx" / "model.onnx"),
                          input_names=["pixel_values"], output_names=["logits", "pred_boxes"], opset_version=17,
                          dynamic_axes={n: {0: "batch_size"} for n in ("pixel_values", "logits", "pred_boxes")},
                          dynamo=False)
    model.config.to_json_file(str(snapshot / "config.json"))
    (snapshot / "preprocessor_config.json").write_text(json.dumps(
        {"image_processor_type": "RTDetrImageProcessor", "size": {"height": SIZE, "width": SIZE},
         "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": False}))
    return model


def test_published_detector_onnx_is_adopted_without_torch_in_fetch(tmp_path):
    model = publish_onnx(tmp_path / "hub")
    result = run_fetch(tmp_path, "--detector", "rtdetr-r18", "--format", "onnx")
    assert result.returncode == 0, result.stderr
    path = tmp_path / "models" / "detector_rtdetr_r18.onnx"
    assert result.stdout.strip().splitlines()[-1] == str(path) and "adopted" in result.stdout
    proto = onnx.load(str(path))
    props = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(props["class_names"]) == CLASSES and props["person_class"] == "0"
    assert (props["input_height"], props["mean"], props["resize"]) == (str(SIZE), "0,0,0", "stretch")
    assert [i.name for i in proto.graph.input] == ["images"]
    images = torch.rand(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(6))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    boxes, scores, classes = session.run(["boxes", "scores", "classes"], {"images": images.numpy()})
    for i, (ref_boxes, ref_scores, ref_labels) in enumerate(reference_detections(model, images, (SIZE, SIZE))):
        gaps = -np.diff(ref_scores)
        lead = int(np.argmax(gaps < 1e-5)) if (gaps < 1e-5).any() else len(gaps)
        assert lead >= 3
        assert np.abs(scores[i, :lead] - ref_scores[:lead]).max() <= 1e-4
        assert (classes[i, :lead] == ref_labels[:lead]).all()
        assert np.abs(boxes[i, :lead] - ref_boxes[:lead]).max() <= 1e-4 * SIZE
        assert max(compare_detections((boxes[i], scores[i], classes[i]), (ref_boxes, ref_scores, ref_labels),
                                      SIZE, SIZE)) <= 1e-4
    no_published = run_fetch(tmp_path, "--detector", "rtdetr-v2-r18", "--format", "onnx")
    assert no_published.returncode == 1 and "--format export" in no_published.stderr


def test_unknown_detector_fails_with_one_line(tmp_path):
    result = run_fetch(tmp_path, "--detector", "yolov8")
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "rtdetr-r18" in lines[0]


def test_boxes_that_disagree_fail_the_comparison():
    boxes = np.array([[10.0, 10.0, 50.0, 80.0], [0.0, 0.0, 20.0, 20.0]], np.float32)
    scores, classes = np.array([0.9, 0.5], np.float32), np.array([0, 2])
    assert compare_detections((boxes, scores, classes), (boxes, scores, classes), 100, 100) == (0.0, 0.0)
    moved = boxes.copy()
    moved[0, 2] += 1.0
    assert compare_detections((moved, scores, classes), (boxes, scores, classes), 100, 100)[1] == pytest.approx(0.01)
    assert compare_detections((boxes, scores, np.array([1, 2])), (boxes, scores, classes), 100, 100)[0] == float("inf")
