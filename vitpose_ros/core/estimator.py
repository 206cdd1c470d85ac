"""Image + person boxes -> keypoints in image pixels: the pure core the ROS node wraps.

    estimator = PoseEstimator("vitpose_b_coco.onnx", providers=("tensorrt", "cuda", "cpu"))
    keypoints = estimator.estimate(image_rgb, boxes_xyxy)   # (N, K, 3): x, y, score

All N persons go through one inference call (chunks of ``max_batch`` above that). Invalid boxes
(NaN/inf, inverted or empty, entirely outside the image) are not run: their rows come back as
x = y = NaN, score 0, so row i always belongs to box i. Boxes partly outside are clipped.
"""
from __future__ import annotations

import logging
import time

import numpy as np

from .decode import decode_heatmaps
from .engine import DEFAULT_ENGINE_CACHE, OnnxEngine
from .preprocess import DEFAULT_PADDING, CropBatcher, check_image, sanitize_boxes
from .skeletons import get_skeleton


class PoseEstimator:
    def __init__(self, model_path, providers=("tensorrt", "cuda", "cpu"), fp16: bool = True,
                 engine_cache_dir=DEFAULT_ENGINE_CACHE, flip_test: bool = False, max_batch: int = 16,
                 padding: float = DEFAULT_PADDING, decode_method: str = "dark-udp", device_id: int = 0,
                 cpu_threads: int = 0, logger: logging.Logger | None = None):
        self.engine = OnnxEngine(model_path, providers=providers, fp16=fp16, engine_cache_dir=engine_cache_dir,
                                 device_id=device_id, cpu_threads=cpu_threads,
                                 # flip test doubles the batch the model sees
                                 max_batch=max_batch * (2 if flip_test else 1), logger=logger)
        meta = self.engine.metadata
        self.metadata = meta
        self.skeleton = get_skeleton(meta.dataset, meta.num_keypoints)
        self.flip_test = flip_test
        self.max_batch = max_batch
        self.decode_method = decode_method
        self.batcher = CropBatcher((meta.input_height, meta.input_width), meta.mean, meta.std,
                                   padding=padding, max_batch=max_batch)
        self._flip_permutation = self.skeleton.flip_permutation()
        self.last_timings: dict[str, float] = {}

    @property
    def active_provider(self) -> str:
        return self.engine.active_provider

    @property
    def num_keypoints(self) -> int:
        return self.metadata.num_keypoints

    def estimate(self, image_rgb: np.ndarray, boxes_xyxy) -> np.ndarray:
        """uint8 HxWx3 RGB image, (N,4) boxes x1,y1,x2,y2 in pixels -> float32 (N,K,3)."""
        image = check_image(image_rgb)
        boxes, valid = sanitize_boxes(boxes_xyxy, image.shape[1], image.shape[0])
        result = np.zeros((len(boxes), self.num_keypoints, 3), np.float32)
        result[~valid, :, :2] = np.nan
        timings = {"preprocess": 0.0, "inference": 0.0, "decode": 0.0}
        good = np.flatnonzero(valid)
        for start in range(0, len(good), self.max_batch):
            rows = good[start:start + self.max_batch]
            result[rows] = self._estimate_chunk(image, boxes[rows], timings)
        self.last_timings = timings
        return result

    def _estimate_chunk(self, image: np.ndarray, boxes: np.ndarray, timings: dict) -> np.ndarray:
        t0 = time.perf_counter()
        batch, centers, sizes = self.batcher.prepare(image, boxes, flip=self.flip_test)
        t1 = time.perf_counter()
        heatmaps = self.engine.run(batch)
        t2 = time.perf_counter()
        if self.flip_test:
            heatmaps = self._merge_flipped(heatmaps, len(boxes))
        keypoints = decode_heatmaps(heatmaps, centers, sizes, self.decode_method, self.metadata.dark_kernel)
        t3 = time.perf_counter()
        timings["preprocess"] += t1 - t0
        timings["inference"] += t2 - t1
        timings["decode"] += t3 - t2
        return keypoints

    def _merge_flipped(self, heatmaps: np.ndarray, n: int) -> np.ndarray:
        """Average the heatmaps with those of the mirrored crops, mirrored back.

        Mirroring back = flip the columns and swap left/right channels. Under UDP the mirrored
        crop's pixel x maps to w-1-x exactly, so no half-pixel shift is needed.
        """
        mirrored = heatmaps[n:, self._flip_permutation, :, ::-1]
        return 0.5 * (heatmaps[:n] + mirrored)
