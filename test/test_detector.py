"""The person-detector contract in core: boxes mapped back against torch, bad files refused;
the synthetic detector's training targets, in-graph decoding and AP@0.5 on hand-made cases."""
import json

import cv2
import numpy as np
import onnx
import pytest
import torch

from model_factory import export_random_model
from vitpose_ros.core.detector import DetectorMetadata, PersonDetector, resize_for_detector, select_persons
from vitpose_ros.core.engine import ModelError
from vitpose_ros.synthetic import detector_train
from vitpose_ros.synthetic.detector_evaluate import DetectionAccumulator, box_iou, match_detections
from vitpose_ros.synthetic.detector_net import DecodedDetector, TinyCenterNet, export_detector, net_from_onnx, train_mode

INPUT = (64, 96)  # H x W of the tiny test detectors


def _metadata(resize="stretch", **changes):
    values = dict(input_height=INPUT[0], input_width=INPUT[1], mean=(0.4, 0.5, 0.6), std=(0.2, 0.25, 0.3),
                  resize=resize, class_names=("cat", "person"), person_class=1, source="test",
                  licence="Apache-2.0", pad_value=50 if resize == "letterbox" else 114)  # written for letterbox only
    values.update(changes)
    return DetectorMetadata(**values)


class TwoClassDetector(torch.nn.Module):
    """A random TinyCenterNet's decoded boxes, with class = query parity (so both classes occur)."""

    def __init__(self, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        net = TinyCenterNet(widths=(8, 8, 8, 8, 8, 8), head=8)
        for p in net.parameters():  # spread the random outputs so scores and sizes vary
            torch.nn.init.normal_(p, 0, 0.3)
        self.decoded = DecodedDetector(net.eval(), queries=12)

    def forward(self, images):
        boxes, scores, _ = self.decoded(images)
        classes = torch.arange(scores.shape[1]).expand_as(scores) % 2
        return boxes, scores, classes


@pytest.fixture(scope="module")
def detector_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("detectors")
    model = TwoClassDetector().eval()
    return model, {resize: export_detector(model, folder / f"{resize}.onnx", _metadata(resize))
                   for resize in ("stretch", "letterbox")}


def _reference(model, image, resize):
    """Boxes/scores/classes by torch on a pre-processing written out here, mapped to image pixels."""
    meta = _metadata(resize)
    h, w = image.shape[:2]
    if resize == "stretch":
        net_image = cv2.resize(image, (INPUT[1], INPUT[0]), interpolation=cv2.INTER_LINEAR)
        sx, sy = INPUT[1] / w, INPUT[0] / h
    else:
        scale = min(INPUT[1] / w, INPUT[0] / h)
        nw, nh = round(w * scale), round(h * scale)
        net_image = np.full((*INPUT, 3), meta.pad_value, np.uint8)
        net_image[:nh, :nw] = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
        sx, sy = nw / w, nh / h
    x = (net_image / 255.0 - np.array(meta.mean)) / np.array(meta.std)
    with torch.no_grad():
        boxes, scores, classes = model(torch.from_numpy(x.transpose(2, 0, 1)[None]).float())
    boxes = boxes[0].numpy().astype(np.float64) / [sx, sy, sx, sy]
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
    order = np.argsort(-scores[0].numpy(), kind="stable")
    return boxes[order], scores[0].numpy()[order], classes[0].numpy()[order]


@pytest.mark.parametrize("resize", ["stretch", "letterbox"])
@pytest.mark.parametrize("shape", [(120, 200), (300, 140)])
def test_boxes_map_back_like_torch(detector_files, resize, shape):
    model, files = detector_files
    image = np.random.default_rng(shape[0]).integers(0, 256, (*shape, 3), dtype=np.uint8)
    detector = PersonDetector(files[resize], providers=("cpu",))
    boxes, scores, classes = detector.detect(image)
    ref_boxes, ref_scores, ref_classes = _reference(model, image, resize)
    assert boxes.shape == (12, 4) and boxes.dtype == np.float32 and classes.dtype == np.int64
    np.testing.assert_allclose(scores, ref_scores, atol=1e-5)
    np.testing.assert_allclose(boxes, ref_boxes, atol=1e-3)  # image pixels
    assert (classes == ref_classes).all() and set(classes.tolist()) == {0, 1}
    assert (boxes[:, 2] <= shape[1]).all() and (boxes[:, 3] <= shape[0]).all() and (boxes >= 0).all()
    assert np.all(np.diff(scores) <= 0)  # best first
    assert detector.metadata == _metadata(resize) and detector.active_provider == "CPUExecutionProvider"


def test_letterbox_pads_bottom_right_and_keeps_aspect():
    image = np.full((100, 50, 3), 200, np.uint8)
    out, scale = resize_for_detector(image, (64, 96), "letterbox", pad_value=7)
    assert scale.tolist() == [32 / 50, 64 / 100]
    assert (out[:, :32] == 200).all() and (out[:, 32:] == 7).all()


def test_persons_only_above_the_score_at_most_max(detector_files):
    _, files = detector_files
    image = np.random.default_rng(1).integers(0, 256, (120, 200, 3), dtype=np.uint8)
    detector = PersonDetector(files["stretch"], providers=("cpu",))
    boxes, scores, classes = detector.detect(image)
    threshold = float(np.median(scores))
    persons, person_scores = detector.detect_persons(image, min_score=threshold, max_persons=3)
    expected = (classes == 1) & (scores >= threshold) & (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    assert 0 < len(persons) == min(3, expected.sum())
    np.testing.assert_array_equal(persons, boxes[expected][:3])
    np.testing.assert_array_equal(person_scores, scores[expected][:3])


def test_select_persons_drops_collapsed_boxes():
    boxes = np.array([[0, 0, 10, 10], [5, 5, 5, 9], [1, 1, 4, 4]], np.float32)
    kept, scores = select_persons(boxes, np.array([0.9, 0.8, 0.7], np.float32), np.array([0, 0, 0]), 0, 0.0, None)
    assert kept.tolist() == [[0, 0, 10, 10], [1, 1, 4, 4]] and scores.tolist() == pytest.approx([0.9, 0.7])


def _with_props(onnx_file, target, **changes):
    proto = onnx.load(str(onnx_file))
    props = {p.key: p.value for p in proto.metadata_props}
    props.update(changes)
    del proto.metadata_props[:]
    for key, value in props.items():
        if value is not None:
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
    onnx.save_model(proto, str(target))
    return target


@pytest.mark.parametrize("changes, reason", [
    ({"vitpose_detector": None}, "not a person-detector file"),
    ({"vitpose_detector": "7"}, "contract version '7'"),
    ({"input_height": "32"}, "input is 64x96 but metadata says 32x96"),
    ({"resize": "crop"}, "'resize' must be one of stretch, letterbox"),
    ({"person_class": "2"}, "'person_class' 2 is not an index"),
    ({"class_names": "person"}, "bad detector metadata"),
    ({"mean": "0.5,0.5"}, "'mean' must be 3 comma-separated floats"),
    ({"std": None}, "metadata lacks std"),
])
def test_bad_metadata_is_refused_with_a_reason(detector_files, tmp_path, changes, reason):
    _, files = detector_files
    bad = _with_props(files["stretch"], tmp_path / "bad.onnx", **changes)
    with pytest.raises(ModelError) as err:
        PersonDetector(bad, providers=("cpu",))
    assert reason in str(err.value) and str(bad) in str(err.value) and "\n" not in str(err.value)


def test_pose_model_and_wrong_outputs_are_refused(tmp_path):
    pose = export_random_model(tmp_path / "pose.onnx", image_size=(64, 48))
    with pytest.raises(ModelError, match="no 'vitpose_detector' metadata"):
        PersonDetector(pose, providers=("cpu",))

    class Renamed(torch.nn.Module):  # boxes and scores only: the classes output is missing
        def forward(self, images):
            return images[:, :1, :4, :4].flatten(2), images[:, 0, 0, :4]

    proto_path = tmp_path / "two.onnx"
    torch.onnx.export(Renamed(), (torch.zeros(1, 3, *INPUT),), str(proto_path), input_names=["images"],
                      output_names=["boxes", "scores"], opset_version=17, dynamo=False)
    bad = _with_props(proto_path, tmp_path / "two_meta.onnx", **_metadata().to_props())
    with pytest.raises(ModelError, match="detector outputs lack classes"):
        PersonDetector(bad, providers=("cpu",))
    (tmp_path / "junk.onnx").write_bytes(b"not onnx")
    with pytest.raises(ModelError, match="not a loadable ONNX model"):
        PersonDetector(tmp_path / "junk.onnx", providers=("cpu",))


def test_training_targets_decode_back_to_the_boxes():
    """What training asks of the network, decoded by the exported graph's own decoding, is the boxes."""
    boxes = torch.tensor([[[10.0, 20.0, 50.0, 61.0], [60.0, 5.0, 95.0, 40.0], [np.nan] * 4]])
    heat, index, log_sides, valid = detector_train.centre_targets(boxes, (16, 24), 4)
    assert valid.tolist() == [[True, True, False]] and heat.max() == 1.0

    class Targets(torch.nn.Module):  # a "network" that outputs exactly the targets
        def forward(self, images):
            logits = torch.where(heat >= 1.0, torch.tensor(10.0), torch.tensor(-10.0))
            sides = torch.zeros(1, 4, 16 * 24)
            sides.scatter_(2, index[:, None, :2].expand(-1, 4, -1), log_sides[:, :2].transpose(1, 2))
            return logits, sides.view(1, 4, 16, 24)

    decoded, scores, _ = DecodedDetector(Targets(), queries=2)(torch.zeros(1, 3, 64, 96))
    assert scores.min() > 0.99
    found = decoded[0][torch.argsort(decoded[0][:, 0])]
    torch.testing.assert_close(found, boxes[0, :2], atol=1e-4, rtol=0)


def test_flip_test_graph_averages_both_views_and_exports(tmp_path):
    """With ``flip_test`` the decoded boxes of a mirrored image are the mirrored boxes (the two passes
    are averaged symmetrically), they differ from one pass's, and the ONNX file matches torch at batch 2."""
    torch.manual_seed(3)
    net = TinyCenterNet(widths=(8, 8, 8, 8, 8, 8), head=8)
    for p in net.parameters():
        torch.nn.init.normal_(p, 0, 0.3)
    flip = DecodedDetector(net.eval(), queries=6, flip_test=True)
    images = torch.rand(2, 3, *INPUT) * 4 - 2
    with torch.no_grad():
        boxes, scores, _ = flip(images)
        mirrored_boxes, mirrored_scores, _ = flip(images.flip(-1))
        _, single_scores, _ = DecodedDetector(net, queries=6)(images)
    unmirrored = torch.stack([INPUT[1] - mirrored_boxes[..., 2], mirrored_boxes[..., 1],
                              INPUT[1] - mirrored_boxes[..., 0], mirrored_boxes[..., 3]], -1)
    for i in range(2):  # same peaks; compare in a fixed order (ties aside, TopK order is by score)
        key, mirrored_key = boxes[i, :, 0] * 1e3 + scores[i], unmirrored[i, :, 0] * 1e3 + mirrored_scores[i]
        torch.testing.assert_close(unmirrored[i][mirrored_key.argsort()], boxes[i][key.argsort()], atol=1e-3, rtol=0)
        torch.testing.assert_close(mirrored_scores[i].sort().values, scores[i].sort().values)
    assert not torch.allclose(scores, single_scores)
    path = export_detector(flip, tmp_path / "flip.onnx", _metadata())
    session = PersonDetector(path, providers=("cpu",)).session
    onnx_boxes, onnx_scores, _ = session.run(None, {"images": images.numpy()})
    np.testing.assert_allclose(onnx_scores, scores.numpy(), atol=1e-5)
    np.testing.assert_allclose(onnx_boxes, boxes.numpy(), atol=1e-3)


def test_giou_loss_is_zero_for_boxes_the_cells_predict_exactly():
    boxes = torch.tensor([[[10.0, 20.0, 50.0, 61.0], [60.0, 5.0, 95.0, 40.0], [np.nan] * 4]])
    target, weights = detector_train.area_targets(boxes, (16, 24), 4)
    assert weights.max() == 1.0 and 0 < (weights > 0).sum() < 16 * 24
    assert sorted(target[0][weights[0] == 1.0].tolist()) == sorted(boxes[0, :2].tolist())  # centre cells own their box
    cx, cy = (torch.arange(24) + 0.5) * 4, (torch.arange(16) + 0.5) * 4
    sides = torch.stack([cx - target[..., 0], cy[:, None] - target[..., 1], target[..., 2] - cx,
                         target[..., 3] - cy[:, None]], 1).clamp(min=1e-3)
    assert detector_train.giou_loss((sides / 4).log(), target, weights, 4) == pytest.approx(0, abs=1e-6)
    assert detector_train.giou_loss((sides / 4).log() + 0.3, target, weights, 4) > 0.1


def test_a_few_detector_training_steps_reduce_the_loss_and_export(tmp_path):
    args = detector_train.parse_args(["--output-dir", str(tmp_path), "--images", "24", "--steps", "30", "--batch", "8",
                                      "--warmup", "3", "--input-size", "96x128", "--head", "8", "--workers", "1",
                                      "--giou-weight", "2"])
    out = detector_train.train(args)
    assert len(out["losses"]) == 30 and np.mean(out["losses"][-5:]) < 0.7 * np.mean(out["losses"][:5])
    detector = PersonDetector(out["onnx"], providers=("cpu",))
    assert detector.metadata.class_names == ("person",) and detector.metadata.input_height == 96
    assert "detector_train" in detector.metadata.source
    boxes, scores, classes = detector.detect(np.zeros((480, 640, 3), np.uint8))
    assert boxes.shape == (32, 4) and (classes == 0).all()


def _trained_looking_net(seed: int, widths=(8, 8, 8, 8, 8, 8)) -> TinyCenterNet:
    """A TinyCenterNet (head 8) whose batch norms have non-trivial statistics and affine parameters."""
    torch.manual_seed(seed)
    net = TinyCenterNet(widths=widths, head=8)
    for name, tensor in net.state_dict().items():
        if name.endswith("running_var"):
            tensor.uniform_(0.5, 2.0)
        elif name.endswith("running_mean") or name.endswith(".bias"):
            tensor.normal_(0, 0.2)
        elif name.endswith(".weight"):
            tensor.normal_(1.0 if tensor.dim() == 1 else 0.0, 0.3)
    return net.eval()


def test_network_read_back_from_an_exported_file_gives_the_same_boxes(tmp_path):
    """The export folds batch norms into the convolutions; ``net_from_onnx`` gets the weights back
    as convolutions plus identity batch norms, so the network exported again equals the file."""
    net = _trained_looking_net(5)
    path = export_detector(DecodedDetector(net, queries=6, flip_test=True), tmp_path / "d.onnx", _metadata())
    back = net_from_onnx(path)
    assert back.lateral[0].out_channels == 8
    images = torch.rand(2, 3, *INPUT) * 4 - 2
    with torch.no_grad():
        expected = DecodedDetector(net, queries=6, flip_test=True)(images)
        got = DecodedDetector(back, queries=6, flip_test=True)(images)
    for e, g in zip(expected, got):
        torch.testing.assert_close(g, e, atol=1e-4, rtol=1e-4)
    batchnorm = back.stem[0][1]
    assert torch.all(batchnorm.weight == 1) and torch.all(batchnorm.running_mean == 0)
    train_mode(back, freeze_batchnorm=True)
    assert back.training and not batchnorm.training and back.stem[0][0].training


def test_a_pose_model_is_not_read_as_a_detector_network(tmp_path):
    with pytest.raises(ValueError, match="not a TinyCenterNet"):
        net_from_onnx(export_random_model(tmp_path / "pose.onnx"))


def test_training_from_an_exported_file_keeps_batch_norms_fixed(tmp_path):
    """``--init-from`` an ONNX file: the folded statistics stay (eval-mode batch norms) through
    training and in its checkpoint, training moves the weights, and a head mismatch is refused."""
    first = tmp_path / "first"
    default_widths = TinyCenterNet.__init__.__defaults__[0]  # what training builds
    export_detector(DecodedDetector(_trained_looking_net(6, default_widths), queries=32), first / "d.onnx",
                    detector_train.detector_metadata(detector_train.parse_args(
                        ["--output-dir", str(first), "--input-size", "96x128", "--head", "8"]), (96, 128)))
    args = detector_train.parse_args(["--output-dir", str(tmp_path / "second"), "--images", "16", "--steps", "5",
                                      "--batch", "4", "--warmup", "1", "--input-size", "96x128", "--head", "8",
                                      "--workers", "1", "--crowded-fraction", "0.5",
                                      "--init-from", str(first / "d.onnx")])
    net, frozen = detector_train.initial_net(args)
    assert frozen and not net.stem[0][1].training
    out = detector_train.train(args)
    checkpoint = torch.load(out["checkpoint"], weights_only=True)
    assert checkpoint["frozen_batchnorm"] is True
    state = checkpoint["state_dict"]
    assert torch.all(state["stem.0.1.running_var"] == 1 - 1e-5)  # never replaced by batch statistics
    assert not torch.equal(state["stem.0.0.weight"], net.stem[0][0].weight.detach())
    resumed, frozen_again = detector_train.initial_net(detector_train.parse_args(
        ["--output-dir", str(tmp_path / "third"), "--input-size", "96x128", "--head", "8",
         "--init-from", str(out["checkpoint"])]))
    assert frozen_again
    with pytest.raises(SystemExit, match="head 8 differs from --head 32"):
        detector_train.initial_net(detector_train.parse_args(
            ["--output-dir", str(tmp_path), "--init-from", str(first / "d.onnx")]))


def test_iou_matching_and_ap_on_hand_made_cases():
    truth = np.array([[0, 0, 10, 10], [20, 0, 30, 10]], float)
    assert box_iou(truth, [[0, 0, 10, 5]]).ravel().tolist() == [0.5, 0.0]
    # the best-scored duplicate takes the truth box, the second one is a false positive
    hits = match_detections([[0, 0, 10, 9], [0, 0, 10, 10], [50, 50, 60, 60]], [0.5, 0.9, 0.8], truth)
    assert hits.tolist() == [False, True, False]
    acc = DetectionAccumulator()
    acc.add(truth, [0.9, 0.8], truth)
    assert acc.results()["ap@0.5"] == 1.0
    acc.add(np.array([[100, 100, 110, 110]]), [0.95], np.array([[0, 0, 5, 5]]))  # top-ranked miss
    results = acc.results(score_threshold=0.85)
    # ranked: miss (0.95), hit, hit; 3 truths. Precision at recall 1/3, 2/3 is 1/2, 2/3, never 1
    # interpolated precision is 2/3 at the 67 recall points 0, 0.01 .. 0.66 and 0 above (recall tops at 2/3)
    assert results["ap@0.5"] == pytest.approx(67 * (2 / 3) / 101)
    assert results["recall"] == pytest.approx(1 / 3) and results["precision"] == pytest.approx(1 / 2)
    assert json.dumps(results)
