"""Pre-processing, decoding, engine and estimator."""
import logging

import numpy as np
import onnx
import pytest
from model_factory import export_random_model
from onnx import TensorProto, helper

from vitpose_ros.core.decode import dark_kernel_for_sigma, decode_heatmaps
from vitpose_ros.core.engine import ModelError, OnnxEngine
from vitpose_ros.core.estimator import PoseEstimator
from vitpose_ros.core.preprocess import CropBatcher, boxes_to_center_size, sanitize_boxes, udp_warp_matrix

H_HM, W_HM = 64, 48


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return export_random_model(tmp_path_factory.mktemp("m") / "tiny.onnx")


@pytest.fixture(scope="module")
def estimator(tiny_model):
    return PoseEstimator(tiny_model, providers=("cpu",))


def scene(seed=0, h=480, w=640):
    """A smooth random image: gradients and blobs, so bilinear sampling differences stay small."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.zeros((h, w, 3), np.float32)
    for c in range(3):
        img[..., c] = 80 + 60 * np.sin(xs / rng.uniform(20, 60) + c) + 60 * np.cos(ys / rng.uniform(20, 60))
    for _ in range(12):
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(10, 60)
        img += (rng.uniform(-60, 60, 3) * np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * r * r))[..., None])
    return np.clip(img, 0, 255).astype(np.uint8)


def gaussians(points, sigma=2.0):
    ys, xs = np.mgrid[0:H_HM, 0:W_HM]
    return np.stack([np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma ** 2)) for x, y in points]).astype(np.float32)


# --- decoding --------------------------------------------------------------------------------

BOXES = [(100, 50, 300, 450), (10, 10, 60, 40), (500, 100, 640, 200), (200, 300, 260, 480), (0, 0, 640, 480)]


@pytest.mark.parametrize("box", BOXES)
def test_dark_udp_round_trip_is_sub_pixel_exact(box):
    rng = np.random.default_rng(hash(box) % 2**32)
    points = np.stack([rng.uniform(6, W_HM - 7, 17), rng.uniform(6, H_HM - 7, 17)], 1)
    centers, sizes = boxes_to_center_size(np.array([box]), 192 / 256)
    expected = points / [W_HM - 1, H_HM - 1] * sizes[0] + centers[0] - sizes[0] / 2
    out = decode_heatmaps(gaussians(points)[None], centers, sizes, "dark-udp")
    assert out.shape == (1, 17, 3) and out.dtype == np.float32
    assert np.abs(out[0, :, :2] - expected).max() < 0.05
    assert np.allclose(out[0, :, 2], gaussians(points).reshape(17, -1).max(1))
    # plain arg-max is off by up to half a heatmap pixel: the refinement is doing the work
    coarse = decode_heatmaps(gaussians(points)[None], centers, sizes, "argmax")
    assert np.abs(coarse[0, :, :2] - expected).max() > 0.05


def test_argmax_decoder_lands_on_integer_peaks_exactly():
    points = np.array([[3, 5], [40, 60], [0, 0], [47, 63]], float)
    centers, sizes = np.array([[320.0, 240.0]]), np.array([[94.0, 126.0]])
    out = decode_heatmaps(gaussians(points)[None], centers, sizes, "argmax")
    expected = points / [W_HM - 1, H_HM - 1] * sizes[0] + centers[0] - sizes[0] / 2
    assert np.allclose(out[0, :, :2], expected, atol=1e-4)


def test_dark_kernel_follows_the_target_sigma():
    # the pairings in ViTPose/mmpose configs: sigma 2 -> modulate_kernel 11, sigma 3 -> 17
    assert dark_kernel_for_sigma(2.0) == 11 and dark_kernel_for_sigma(3.0) == 17
    kernels = [dark_kernel_for_sigma(s) for s in (0.5, 1.0, 1.1, 1.25, 1.5, 2.0, 2.5, 3.0)]
    assert kernels == sorted(kernels) and all(k % 2 == 1 and k >= 3 for k in kernels)
    assert dark_kernel_for_sigma(1.1) == 5  # OpenCV's sigma for k=5 is exactly 1.1


def test_a_kernel_matched_to_sharp_peaks_is_not_dragged_by_a_neighbour():
    """A sharp (sigma 1.1) peak with a weaker blob 3.5 px beside it, as a model unsure between two
    places gives: the wide official kernel mixes the two, the matched one stays on the peak."""
    truth = np.array([20.3, 30.6])
    ys, xs = np.mgrid[0:H_HM, 0:W_HM]
    blob = lambda x, y, a: a * np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * 1.1 ** 2))  # noqa: E731
    heatmap = (blob(*truth, 1.0) + blob(truth[0] + 3.5, truth[1], 0.5)).astype(np.float32)[None, None]
    centers, sizes = np.array([[(W_HM - 1) / 2, (H_HM - 1) / 2]]), np.array([[W_HM - 1.0, H_HM - 1.0]])
    errors = {k: np.abs(decode_heatmaps(heatmap, centers, sizes, kernel=k)[0, 0, :2] - truth).max()
              for k in (dark_kernel_for_sigma(1.1), 11)}
    assert errors[5] < 0.25 and errors[11] > 0.5  # heatmap pixels


def test_preprocess_box_geometry():
    centers, sizes = boxes_to_center_size(np.array([[100, 100, 200, 400], [0, 0, 300, 100]]), 0.75, padding=1.25)
    assert np.allclose(centers, [[150, 250], [150, 50]])
    assert np.allclose(sizes, [[281.25, 375], [375, 500]])  # tall: width grows; wide: height grows
    assert np.allclose(sizes[:, 0] / sizes[:, 1], 0.75)


def test_sanitize_boxes_clips_and_flags():
    boxes = [[10, 10, 50, 80], [-20, -5, 30, 40], [np.nan, 0, 10, 10], [50, 50, 40, 60],
             [700, 10, 800, 50], [0, 0, 0, 10], [600, 400, 700, 500]]
    clipped, valid = sanitize_boxes(boxes, 640, 480)
    assert valid.tolist() == [True, True, False, False, False, False, True]
    assert np.allclose(clipped[1], [0, 0, 30, 40]) and np.allclose(clipped[6], [600, 400, 640, 480])
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        sanitize_boxes([1, 2, 3], 640, 480)


# --- agreement with transformers' VitPoseImageProcessor ------------------------------------

def hf_processor():
    from transformers.models.vitpose.image_processing_pil_vitpose import VitPoseImageProcessorPil

    return VitPoseImageProcessorPil()


def test_crops_match_transformers_processor():
    image = scene(1)
    boxes = np.array([[100, 60, 260, 420], [300, 200, 420, 300], [520, 10, 630, 470]], float)
    coco = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], 1)
    hf = np.asarray(hf_processor()(images=[image], boxes=[coco.tolist()], return_tensors="np")["pixel_values"])
    ours, centers, sizes = CropBatcher((256, 192)).prepare(image, boxes)
    assert ours.shape == hf.shape == (3, 3, 256, 192)
    # Compare where the crop samples the image's interior: at the image edge scipy and OpenCV
    # treat the half pixel towards the zero padding differently.
    inside = np.zeros((3, 256, 192), bool)
    for i, (center, size) in enumerate(zip(centers, sizes)):
        m = udp_warp_matrix(center, size, (192, 256))
        src_x = (np.arange(192) - m[0, 2]) / m[0, 0]
        src_y = (np.arange(256) - m[1, 2]) / m[1, 1]
        inside[i] = ((src_y >= 1) & (src_y <= image.shape[0] - 2))[:, None] & ((src_x >= 1) & (src_x <= image.shape[1] - 2))[None]
    assert inside[2].mean() < 0.9  # the third box's crop really reaches past the image
    # OpenCV's bilinear weights are 5-bit fixed point, scipy's are exact: compare in grey levels.
    levels = (np.abs(ours - hf) * 0.225 * 255).transpose(1, 0, 2, 3)[:, inside]
    assert levels.max() <= 1.5 and levels.mean() < 0.1


def test_keypoints_match_transformers_post_processing():
    """Same heatmaps through both decoders.

    transformers blurs with sigma=0.8 (its documented DARK kernel), the official ViTPose decoder
    with OpenCV's sigma for k=11 (2.0). On sigma-2 Gaussian heatmaps both recover the peak; the
    blur changes how far from quadratic the log-heatmap is, which we measured at < 0.01 heatmap
    pixel. Tolerance: 0.02 heatmap pixel, converted to image pixels for each box.
    """
    import types

    import torch

    rng = np.random.default_rng(7)
    boxes = np.array([[100, 60, 260, 420], [300, 200, 420, 300]], float)
    points = np.stack([rng.uniform(6, W_HM - 7, (2, 17)), rng.uniform(6, H_HM - 7, (2, 17))], -1)
    heatmaps = np.stack([gaussians(p) for p in points]) + rng.normal(0, 0.002, (2, 17, H_HM, W_HM)).astype(np.float32)
    coco = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], 1)
    hf = hf_processor().post_process_pose_estimation(
        types.SimpleNamespace(heatmaps=torch.from_numpy(heatmaps.copy())), boxes=[coco.tolist()])[0]
    centers, sizes = boxes_to_center_size(boxes, 192 / 256)
    ours = decode_heatmaps(heatmaps, centers, sizes)
    for i, person in enumerate(hf):
        tolerance = 0.02 * sizes[i, 0] / (W_HM - 1)
        assert np.abs(ours[i, :, :2] - person["keypoints"].numpy()).max() < tolerance
        assert np.allclose(ours[i, :, 2], person["scores"].numpy(), atol=1e-6)


# --- estimator -----------------------------------------------------------------------------

def count_session_runs(estimator):
    calls = []
    real_run = estimator.engine.session.run

    def counting_run(*args, **kwargs):
        calls.append(args[1][estimator.engine.input_name].shape[0])
        return real_run(*args, **kwargs)

    estimator.engine.session.run = counting_run
    return calls


def test_estimate_shapes_and_metadata(estimator):
    assert estimator.num_keypoints == 17 and estimator.skeleton.name == "coco"
    assert estimator.active_provider == "CPUExecutionProvider"
    out = estimator.estimate(scene(), np.array([[100, 60, 260, 420]]))
    assert out.shape == (1, 17, 3) and out.dtype == np.float32 and np.isfinite(out).all()
    # even a random model's keypoints stay inside the crop: x in 180 +- 168.75, y in 240 +- 225
    assert (np.abs(out[0, :, 0] - 180) <= 168.75).all() and (np.abs(out[0, :, 1] - 240) <= 225).all()


def test_all_persons_in_one_call_and_batched_equals_one_by_one(tiny_model):
    est = PoseEstimator(tiny_model, providers=("cpu",), max_batch=16)
    image = scene(2)
    boxes = np.array([[100, 60, 260, 420], [300, 200, 420, 300], [520, 10, 630, 470], [5, 5, 100, 100], [200, 100, 400, 460]], float)
    calls = count_session_runs(est)
    batched = est.estimate(image, boxes)
    assert calls == [5]
    single = np.concatenate([est.estimate(image, boxes[i:i + 1]) for i in range(5)])
    assert np.abs(batched - single).max() < 1e-3

    small = PoseEstimator(tiny_model, providers=("cpu",), max_batch=2)
    calls = count_session_runs(small)
    chunked = small.estimate(image, boxes)
    assert calls == [2, 2, 1] and np.abs(chunked - batched).max() < 1e-3


def test_no_boxes_runs_nothing(estimator):
    calls = count_session_runs(estimator)
    out = estimator.estimate(scene(), np.zeros((0, 4)))
    assert out.shape == (0, 17, 3) and calls == []


def test_flip_test_is_mirror_equivariant_with_the_right_pairs(tiny_model):
    """With flip test, estimating a mirrored image gives the mirrored pose with left/right swapped.

    Exact up to float noise in the heatmaps; a random model's heatmaps are nearly flat, so that
    noise can move a few arg-maxes: compare the median keypoint error.
    """
    image = scene(3)
    width = image.shape[1]
    boxes = np.array([[100, 60, 260, 420], [330, 150, 450, 330]], float)
    mirrored_boxes = np.stack([width - 1 - boxes[:, 2], boxes[:, 1], width - 1 - boxes[:, 0], boxes[:, 3]], 1)

    def equivariance_error(est):
        a = est.estimate(image, boxes)
        b = est.estimate(np.ascontiguousarray(image[:, ::-1]), mirrored_boxes)
        b = b[:, est.skeleton.flip_permutation()]
        b[..., 0] = width - 1 - b[..., 0]
        return np.median(np.abs(a[..., :2] - b[..., :2]).max(-1))

    flip = PoseEstimator(tiny_model, providers=("cpu",), flip_test=True)
    calls = count_session_runs(flip)
    assert equivariance_error(flip) < 0.05
    assert calls == [4, 4]  # crops and their mirrors in one call
    no_flip = PoseEstimator(tiny_model, providers=("cpu",), flip_test=False)
    assert equivariance_error(no_flip) > 5.0  # a random model is not symmetric by itself
    wrong_pairs = PoseEstimator(tiny_model, providers=("cpu",), flip_test=True)
    wrong_pairs._flip_permutation = np.arange(17)  # mirror without swapping left and right
    assert equivariance_error(wrong_pairs) > 5.0


def test_provider_fallback_really_falls_back(tiny_model, caplog):
    caplog.set_level(logging.DEBUG, logger="vitpose_ros.core.engine")  # the provider line is debug
    est = PoseEstimator(tiny_model, providers=("tensorrt", "cuda"))
    assert est.active_provider == "CPUExecutionProvider"
    skipped = [r.getMessage() for r in caplog.records if "skipping" in r.getMessage()]
    assert any("'tensorrt'" in m and "TensorrtExecutionProvider" in m for m in skipped)
    assert any("'cuda'" in m for m in skipped)
    assert any("provider: CPUExecutionProvider" in r.getMessage() for r in caplog.records)
    with pytest.raises(ValueError, match="unknown execution provider"):
        PoseEstimator(tiny_model, providers=("directml",))


def test_malformed_inputs_are_rejected_or_masked(estimator):
    image = scene(4)
    with pytest.raises(ValueError, match="uint8"):
        estimator.estimate(image.astype(np.float32), [[0, 0, 10, 10]])
    with pytest.raises(ValueError, match="HxWx3"):
        estimator.estimate(image[..., 0], [[0, 0, 10, 10]])
    with pytest.raises(ValueError, match="HxWx3"):
        estimator.estimate(np.zeros((480, 640, 4), np.uint8), [[0, 0, 10, 10]])
    with pytest.raises(ValueError, match="too small"):
        estimator.estimate(np.zeros((0, 640, 3), np.uint8), [[0, 0, 10, 10]])
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        estimator.estimate(image, [[0, 0, 10]])

    good = np.array([100, 60, 260, 420], float)
    boxes = np.array([good, [np.nan, 0, 5, 5], [300, 300, 200, 200], [900, 900, 1000, 1000], [-50, -50, 700, 900]])
    out = estimator.estimate(image, boxes)
    assert out.shape == (5, 17, 3)
    assert np.isnan(out[1:4, :, :2]).all() and (out[1:4, :, 2] == 0).all()
    assert np.abs(out[0] - estimator.estimate(image, good[None])[0]).max() < 1e-3
    # partly outside: clipped to the frame
    assert np.abs(out[4] - estimator.estimate(image, [[0, 0, 640, 480]])[0]).max() < 1e-3


def test_metadata_configures_the_runtime(tmp_path):
    path = export_random_model(tmp_path / "mpii.onnx", dataset="mpii", num_keypoints=16, image_size=(128, 96))
    est = PoseEstimator(path, providers=("cpu",))
    assert (est.metadata.input_height, est.metadata.input_width) == (128, 96)
    assert est.skeleton.name == "mpii" and est.estimate(scene(), [[10, 10, 200, 300]]).shape == (1, 16, 3)


def test_the_models_dark_kernel_is_used_for_decoding(tmp_path):
    image, boxes = scene(), np.array([[10, 10, 200, 300], [300, 100, 620, 470]], float)
    official = PoseEstimator(export_random_model(tmp_path / "k11.onnx"), providers=("cpu",))
    matched = PoseEstimator(export_random_model(tmp_path / "k5.onnx", dark_kernel=5), providers=("cpu",))
    assert official.metadata.dark_kernel == 11 and matched.metadata.dark_kernel == 5
    batch, centers, sizes = matched.batcher.prepare(image, boxes)
    heatmaps = matched.engine.run(batch)
    got = matched.estimate(image, boxes)
    assert np.abs(got - decode_heatmaps(heatmaps, centers, sizes, kernel=5)).max() < 1e-3
    assert np.abs(got[..., :2] - official.estimate(image, boxes)[..., :2]).max() > 0.1  # same weights


def test_an_even_dark_kernel_in_the_metadata_is_refused(tmp_path):
    path = export_random_model(tmp_path / "m.onnx")
    model = onnx.load(str(path))
    next(p for p in model.metadata_props if p.key == "dark_kernel").value = "4"
    onnx.save(model, str(path))
    with pytest.raises(ModelError, match="dark_kernel"):
        OnnxEngine(path, providers=("cpu",))


def test_fixed_batch_model_is_padded(tmp_path):
    path = export_random_model(tmp_path / "b2.onnx", batch=2)
    est = PoseEstimator(path, providers=("cpu",))
    out = est.estimate(scene(), np.array([[10, 10, 200, 300], [100, 100, 300, 400], [0, 0, 50, 50]], float))
    assert out.shape == (3, 17, 3) and np.isfinite(out).all()


def _write_graph(path, in_shape, out_shape):
    """An ONNX graph with the given I/O shapes (an Identity: only the shapes matter)."""
    inp = helper.make_tensor_value_info("input", TensorProto.FLOAT, in_shape)
    out = helper.make_tensor_value_info("heatmaps", TensorProto.FLOAT, out_shape)
    node = helper.make_node("Identity", ["input"], ["heatmaps"])
    onnx.save(helper.make_model(helper.make_graph([node], "g", [inp], [out]),
                                opset_imports=[helper.make_opsetid("", 17)], ir_version=9), str(path))
    return path


@pytest.mark.parametrize("in_shape,out_shape,message", [
    (["N", 3, 256], ["N", 3, 256], "expected \\(N, 3, H, W\\)"),
    (["N", 1, 256, 192], ["N", 1, 256, 192], "expected \\(N, 3, H, W\\)"),
    (["N", 3, 256, 192], ["N", 3, 256, 192], "does not fit a ViTPose heatmap head"),
])
def test_models_that_do_not_fit_are_refused(tmp_path, in_shape, out_shape, message):
    path = _write_graph(tmp_path / "bad.onnx", in_shape, out_shape)
    with pytest.raises(ModelError, match=message):
        OnnxEngine(path, providers=("cpu",))


def test_unloadable_model_files(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        OnnxEngine(tmp_path / "missing.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"\x00garbage" * 100)
    with pytest.raises(ModelError, match="not a loadable ONNX model"):
        OnnxEngine(tmp_path / "junk.onnx")


def test_decoding_many_maps_at_once_equals_one_by_one():
    """Large stacks (many persons x 133 whole-body keypoints) cross OpenCV's channel limit."""
    rng = np.random.default_rng(11)
    heatmaps = rng.random((6, 133, H_HM, W_HM), dtype=np.float32)
    centers = rng.uniform(100, 400, (6, 2))
    sizes = rng.uniform(50, 300, (6, 2))
    together = decode_heatmaps(heatmaps, centers, sizes)
    apart = np.concatenate([decode_heatmaps(heatmaps[i:i + 1], centers[i:i + 1], sizes[i:i + 1]) for i in range(6)])
    assert np.array_equal(together, apart)
