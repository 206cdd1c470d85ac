"""Image + person boxes -> keypoints in image pixels: the pure core the ROS node wraps.

    estimator = PoseEstimator("vitpose_b_coco.onnx", providers=("tensorrt", "cuda", "cpu"))
    keypoints = estimator.estimate(image_rgb, boxes_xyxy)   # (N, K, 3): x, y, score

All N persons go through one inference call (chunks of ``max_batch`` above that). Invalid boxes
(NaN/inf, inverted or empty, entirely outside the image) are not run: their rows come back as
x = y = NaN, score 0, so row i always belongs to box i. Boxes partly outside are clipped.

Two pipelines give the same keypoints (test/test_device_graph.py holds them to it):
  host   crops cut and normalised with OpenCV, the network run, heatmaps decoded with numpy
  graph  one ONNX graph does all of it on the provider: the host uploads the uint8 image and
         the crop boxes and gets keypoints back. The graph is a file beside the model,
         ``<stem>_graph.onnx`` (device_graph), written when the model is exported, converted or
         fetched, loaded by path
``auto`` takes ``graph`` when a GPU provider (TensorRT, CUDA) is the first choice and the graph
file is there and fits the network, else ``host`` (one log line naming the command that writes
the file); ``host`` is the faster of the two on CPU (figures: docs/benchmarks.md; the pipelines: docs/gpu.md). ``graph``
without a fitting file is a ModelError naming that command.
"""
from __future__ import annotations

import logging
import time

import numpy as np

from ..constants import PIPELINES
from .decode import decode_heatmaps
from .content_hash import model_digest
from .device_graph import (BOXES_INPUT, DECODE_METHODS, IMAGE_INPUT, KEYPOINTS_OUTPUT, compose_command,
                           graph_mismatch, graph_model_path)
from .engine import DEFAULT_ENGINE_CACHE, ModelError, OnnxEngine, load_session, release_freed_memory
from .metadata import ModelMetadata
from .preprocess import DEFAULT_PADDING, CropBatcher, boxes_to_center_size, check_image, sanitize_boxes
from .skeletons import get_skeleton
# TensorRT profile of the graph pipeline's image input (H x W x 3): any camera up to 4K
IMAGE_PROFILE = ("2x2x3", "480x640x3", "2160x3840x3")


class PoseEstimator:
    def __init__(self, model_path, providers=("tensorrt", "cuda", "cpu"), fp16: bool = True,
                 engine_cache_dir=DEFAULT_ENGINE_CACHE, flip_test: bool = False, max_batch: int = 16,
                 padding: float = DEFAULT_PADDING, decode_method: str = "dark-udp", device_id: int = 0,
                 cpu_threads: int = 0, logger: logging.Logger | None = None, pipeline: str = "auto",
                 opt_batch: int | None = None):
        if pipeline not in PIPELINES:
            raise ValueError(f"pipeline must be one of {', '.join(PIPELINES)}, got {pipeline!r}")
        if decode_method not in DECODE_METHODS:
            raise ValueError(f"decode_method must be one of {', '.join(DECODE_METHODS)}, got {decode_method!r}")
        # flip test doubles the batch the network sees
        self.engine = OnnxEngine(model_path, providers=providers, fp16=fp16, engine_cache_dir=engine_cache_dir,
                                 device_id=device_id, cpu_threads=cpu_threads,
                                 max_batch=max_batch * (2 if flip_test else 1), opt_batch=opt_batch,
                                 logger=logger, network_session=False)
        self.log = self.engine.log
        self.flip_test = flip_test
        self.max_batch = max_batch
        self.opt_batch = opt_batch or min(4, max_batch)
        self.decode_method = decode_method
        self._graph = None
        if pipeline == "graph" or (pipeline == "auto" and self.engine.gpu_requested):
            self._graph = self._load_graph(required=pipeline == "graph")
        if self._graph is None:
            self.engine.load_network({"flip_test": flip_test})
        meta = self.engine.metadata
        self.metadata = meta
        self.pipeline = "graph" if self._graph is not None else "host"
        self.skeleton = get_skeleton(meta.dataset, meta.num_keypoints)
        self.batcher = CropBatcher((meta.input_height, meta.input_width), meta.mean, meta.std,
                                   padding=padding, max_batch=max_batch)
        self._flip_permutation = self.skeleton.flip_permutation()
        self.last_timings: dict[str, float] = {}
        # debug: the node (and infer's JSON) say which provider runs, once
        self.log.debug(f"ONNX Runtime provider: {self.active_provider} (requested "
                      f"{', '.join(self.engine.requested)}), {self.pipeline} pipeline")
        self._warm_up()

    def _load_graph(self, required: bool):
        """The graph pipeline's session from the graph file beside the network, or None (auto:
        host, one log line) / ModelError (graph) when there is none that fits."""
        engine = self.engine
        path = graph_model_path(engine.network_path, self.flip_test, self.decode_method)
        command = compose_command(engine.network_path, self.flip_test, self.decode_method)
        if not path.is_file():
            return self._no_graph(required, f"{path.name} does not exist; write it with: {command}")
        digest = model_digest(engine.network_path, engine.sessions.hashes)
        boxes = ("1x4", f"{min(self.opt_batch, self.max_batch)}x4", f"{self.max_batch}x4")
        profiles = {IMAGE_INPUT: IMAGE_PROFILE, BOXES_INPUT: boxes}
        settings = {"pipeline": "graph", "flip_test": self.flip_test, "decode_method": self.decode_method}

        def misfit(session) -> str | None:
            why = graph_mismatch(session.get_modelmeta().custom_metadata_map, digest, self.flip_test,
                                 self.decode_method)
            return why and f"{path.name} does not fit {engine.network_path.name}: {why}; write it again with: {command}"

        if engine.sessions.would_build_engine(path, profiles, settings):
            # minutes of TensorRT build are not spent on a stale file: its metadata is read first
            why = misfit(load_session(path, lambda: engine.sessions.cpu_session(path)))
            release_freed_memory()
            if why:
                return self._no_graph(required, why, stale=True)
        session = load_session(path, lambda: engine.sessions.create(path, profiles, settings))
        why = misfit(session)
        if why:
            del session
            return self._no_graph(required, why, stale=True)
        names = ([i.name for i in session.get_inputs()], [o.name for o in session.get_outputs()])
        if names != ([IMAGE_INPUT, BOXES_INPUT], [KEYPOINTS_OUTPUT]):
            raise ModelError(f"{path}: inputs {names[0]} and outputs {names[1]} are not the graph pipeline's")
        try:
            engine.metadata = ModelMetadata.from_props(session.get_modelmeta().custom_metadata_map)
        except (ValueError, TypeError) as exc:
            raise ModelError(f"{path}: bad vitpose metadata ({exc})") from None
        engine.active_provider = session.get_providers()[0]
        engine.describe_metadata()
        return session

    def _no_graph(self, required: bool, reason: str, stale: bool = False):
        if required:
            raise ModelError(f"{self.engine.model_path}: no graph pipeline: {reason}")
        (self.log.warning if stale else self.log.info)(f"{self.engine.model_path.name}: host pipeline ({reason})")
        return None

    def _warm_up(self) -> None:
        """One small run so the first frame does not pay for allocations (and TRT engine loads)."""
        image = np.zeros((64, 64, 3), np.uint8)
        self.estimate(image, np.array([[8.0, 8.0, 56.0, 56.0]]))

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
        estimate_chunk = self._estimate_chunk_graph if self._graph is not None else self._estimate_chunk
        for start in range(0, len(good), self.max_batch):
            rows = good[start:start + self.max_batch]
            result[rows] = estimate_chunk(image, boxes[rows], timings)
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

    def _estimate_chunk_graph(self, image: np.ndarray, boxes: np.ndarray, timings: dict) -> np.ndarray:
        """The device-side pipeline: everything after the crop boxes is one session run."""
        t0 = time.perf_counter()
        centers, sizes = boxes_to_center_size(boxes, self.batcher.aspect_ratio, self.batcher.padding)
        crop_boxes = np.concatenate([centers, sizes], axis=1).astype(np.float32)
        t1 = time.perf_counter()
        # Plain run(): the graph has no intermediate tensor to keep on the device, so this is one
        # upload of each input and one download of the keypoints.
        keypoints = self._graph.run([KEYPOINTS_OUTPUT], {IMAGE_INPUT: image, BOXES_INPUT: crop_boxes})[0]
        timings["preprocess"] += t1 - t0
        timings["inference"] += time.perf_counter() - t1  # crop, network and decode together
        return keypoints

    def _merge_flipped(self, heatmaps: np.ndarray, n: int) -> np.ndarray:
        """Average the heatmaps with those of the mirrored crops, mirrored back.

        Mirroring back = flip the columns and swap left/right channels. Under UDP the mirrored
        crop's pixel x maps to w-1-x exactly, so no half-pixel shift is needed.
        """
        mirrored = heatmaps[n:, self._flip_permutation, :, ::-1]
        return 0.5 * (heatmaps[:n] + mirrored)
