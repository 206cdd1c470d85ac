"""Training smoke test, metrics on hand-made cases."""
import numpy as np
import pytest
import torch

from vitpose_ros.model import export

from vitpose_ros.synthetic import train
from vitpose_ros.core.decode import dark_kernel_for_sigma
from vitpose_ros.core.estimator import PoseEstimator
from vitpose_ros.synthetic.evaluate import COCO_SIGMAS, oks, oks_ap, pck, per_keypoint_pck
from vitpose_ros.model import load_checkpoint
from vitpose_ros.core.skeletons import get_skeleton


def test_a_few_training_steps_reduce_the_loss_and_export(tmp_path):
    args = train.parse_args(["--output-dir", str(tmp_path), "--images", "40", "--steps", "40", "--batch", "16",
                             "--warmup", "5", "--lr", "2e-3", "--input-size", "64x48", "--embed-dim", "48",
                             "--depth", "1", "--heads", "2", "--deconv-channels", "32", "--workers", "1"])
    out = train.train(args)
    losses = out["losses"]
    assert len(losses) == 40 and np.mean(losses[-5:]) < 0.7 * np.mean(losses[:5])
    estimator = PoseEstimator(out["onnx"], providers=("cpu",))
    assert (estimator.metadata.input_height, estimator.metadata.input_width) == (64, 48)
    assert estimator.metadata.variant == "synthetic" and estimator.skeleton.name == "coco"
    # decoded with the blur kernel that suits the (default, sigma 1.1) training targets
    assert estimator.metadata.dark_kernel == dark_kernel_for_sigma(args.sigma) == 5
    imported = load_checkpoint(out["checkpoint"])  # our own format, weights_only loading
    assert imported.source_format == "vitpose_ros" and imported.config.embed_dim == 48
    # the kernel stays with the checkpoint: exporting it again gives the same metadata
    assert imported.dark_kernel == 5
    assert export.main(["--checkpoint", str(out["checkpoint"]), "--output", str(tmp_path / "again.onnx")]) == 0
    assert PoseEstimator(tmp_path / "again.onnx", providers=("cpu",)).metadata == estimator.metadata


def test_training_is_reproducible(tmp_path):
    common = ["--images", "8", "--steps", "3", "--batch", "4", "--warmup", "1", "--input-size", "64x48",
              "--embed-dim", "32", "--depth", "1", "--heads", "2", "--deconv-channels", "16", "--workers", "1"]
    a = train.train(train.parse_args(["--output-dir", str(tmp_path / "a"), *common]))
    b = train.train(train.parse_args(["--output-dir", str(tmp_path / "b"), *common]))
    assert a["losses"] == b["losses"]


def test_heatmap_targets_peak_at_the_udp_position():
    kps = torch.tensor([[[47.0, 63.0, 2.0], [0.0, 0.0, 1.0], [10.0, 10.0, 0.0], [500.0, 5.0, 2.0]]])
    targets, weights = train.heatmap_targets(kps, (256, 192))
    # crop pixel (47, 63) -> heatmap (47 * 47/191, 63 * 63/255)
    assert weights.tolist() == [[1.0, 1.0, 0.0, 0.0]]  # invisible and out-of-crop points carry no loss
    peak = np.unravel_index(targets[0, 0].argmax().item(), (64, 48))
    assert peak == (round(63 * 63 / 255), round(47 * 47 / 191))


@pytest.mark.parametrize("sigma", [1.0, 2.0, 3.0])
def test_heatmap_targets_use_the_requested_sigma(sigma):
    kps = torch.tensor([[[47.0, 63.0, 2.0]]])  # -> heatmap centre (11.57..., 15.56...) at 256x192
    targets, _ = train.heatmap_targets(kps, (256, 192), sigma)
    cx, cy = 47 * 47 / 191, 63 * 63 / 255
    xs = torch.arange(48.0)
    expected_row = torch.exp(-((xs - cx) ** 2) / (2 * sigma**2)) * np.exp(-((16 - cy) ** 2) / (2 * sigma**2))
    assert torch.allclose(targets[0, 0, 16], expected_row.float(), atol=1e-6)


def test_simple_decoder_option_trains_and_exports(tmp_path):
    args = train.parse_args(["--output-dir", str(tmp_path), "--images", "8", "--steps", "2", "--batch", "4",
                             "--warmup", "1", "--input-size", "64x48", "--embed-dim", "32", "--depth", "1",
                             "--heads", "2", "--decoder", "simple", "--sigma", "1.5", "--workers", "1"])
    out = train.train(args)
    assert load_checkpoint(out["checkpoint"]).config.decoder == "simple"
    assert PoseEstimator(out["onnx"], providers=("cpu",)).metadata.input_height == 64
    with pytest.raises(SystemExit):  # an unknown decoder is refused by the CLI, not deep in the model
        train.parse_args(["--output-dir", str(tmp_path), "--decoder", "fancy"])


def test_flip_augmentation_mirrors_and_swaps():
    images = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).reshape(2, 3, 4, 5)
    kps = torch.zeros(2, 17, 3)
    kps[:, 5] = torch.tensor([1.0, 2.0, 2.0])  # left shoulder
    perm = torch.from_numpy(get_skeleton("coco").flip_permutation())
    flipped_images, flipped = train.flip_batch(images.clone(), kps.clone(), perm, torch.tensor([True, False]))
    assert torch.equal(flipped_images[0], images[0].flip(-1)) and torch.equal(flipped_images[1], images[1])
    # width 5: x -> 4 - x; the left shoulder becomes the right one and vice versa
    assert flipped[0, 6].tolist() == [3.0, 2.0, 2.0] and flipped[0, 5].tolist() == [4.0, 0.0, 0.0]
    assert torch.equal(flipped[1], kps[1])


@pytest.mark.parametrize("flip_prob", [0.0, 1.0])
def test_sample_batch_mirrors_with_the_requested_probability(flip_prob):
    gen = torch.Generator().manual_seed(3)
    crops = torch.randint(0, 256, (6, 8, 6, 3), dtype=torch.uint8, generator=gen)
    keypoints = torch.rand(6, 17, 3, generator=gen) * 5
    perm = torch.from_numpy(get_skeleton("coco").flip_permutation())
    images, kps, index, mirrored = train.sample_batch(crops, keypoints, 16, flip_prob, perm, gen)
    assert mirrored.tolist() == [flip_prob == 1.0] * 16
    source = crops[index].permute(0, 3, 1, 2).float()
    assert torch.equal(images, source.flip(-1) if flip_prob else source)
    expected_x = 5 - keypoints[index][:, perm, 0] if flip_prob else keypoints[index][..., 0]
    assert torch.allclose(kps[..., 0], expected_x)


def test_compile_falls_back_to_eager_and_leaves_the_weights_alone(monkeypatch):
    from vitpose_ros.model import ViTPoseConfig, build_model, init_weights

    model = init_weights(build_model(ViTPoseConfig(embed_dim=32, depth=1, num_heads=2, image_size=(64, 48),
                                                   deconv_channels=16)), seed=0).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}

    def broken_compile(module):
        def run(x):
            module(x)  # runs (BatchNorm statistics move) and then the "backend" fails
            raise RuntimeError("no C++ compiler\nsecond line")
        return run

    monkeypatch.setattr(torch, "compile", broken_compile)
    said = []
    assert train._compiled(model, 4, False, said.append) is model
    assert said and "no C++ compiler" in said[0] and "second line" not in said[0]
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def _people(n=5, seed=0):
    rng = np.random.default_rng(seed)
    truth = np.zeros((n, 17, 3))
    truth[..., :2] = rng.uniform(100, 300, (n, 17, 2))
    truth[..., 2] = 2
    boxes = np.tile([100.0, 100.0, 300.0, 300.0], (n, 1))  # scale 200 px
    return truth, boxes


def test_pck_thresholds():
    truth, boxes = _people()
    assert pck(truth.copy(), truth, boxes, 0.05) == 1.0
    shifted = truth.copy()
    shifted[..., 0] += 14.0  # 0.07 of the 200 px scale
    assert pck(shifted, truth, boxes, 0.05) == 0.0 and pck(shifted, truth, boxes, 0.1) == 1.0
    truth[:, 3, 2] = 1  # occluded points are not scored
    shifted[:, 3, 0] += 1000
    assert pck(shifted, truth, boxes, 0.1) == 1.0


def test_per_keypoint_pck_shows_left_right_confusion():
    truth, boxes = _people()
    swapped = truth[:, get_skeleton("coco").flip_permutation()]
    per = per_keypoint_pck(swapped, truth, boxes, 0.05)
    assert per[0] == 1.0 and per[5] < 0.5 and per[6] < 0.5


def test_oks_matches_the_coco_formula_and_ap():
    truth, boxes = _people(n=4)
    pred = truth.copy()
    assert np.allclose(oks(pred, truth, boxes), 1.0) and oks_ap(pred, truth, boxes) == pytest.approx(1.0)
    pred[0, :, 0] += 10.0
    area = 200.0 * 200.0
    expected = np.mean(np.exp(-100.0 / (2 * area * (2 * COCO_SIGMAS) ** 2)))
    assert oks(pred, truth, boxes)[0] == pytest.approx(expected)
    far = truth.copy()
    far[..., 0] += 100.0
    assert oks_ap(far, truth, boxes) == pytest.approx(0.0)
