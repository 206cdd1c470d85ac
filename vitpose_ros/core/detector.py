"""Person detector from one ONNX file with post-processing inside: image -> pixel boxes, scores, classes.

    detector = PersonDetector("person_detector.onnx", providers=("tensorrt", "cuda", "cpu"))
    boxes, scores, classes = detector.detect(image_rgb)         # all classes, camera-image pixels
    boxes, scores = detector.detect_persons(image_rgb, min_score=0.3, max_persons=10)

The file contract (DETECTOR_METADATA below; the README's "Built-in person detector" section):
input ``images`` float32 (N, 3, H, W) RGB normalised as ``(rgb / 255 - mean) / std``; outputs
``boxes`` (N, Q, 4) x1, y1, x2, y2 in the network input's pixels (0..W, 0..H), ``scores`` (N, Q)
0..1 and ``classes`` int64 (N, Q) into ``class_names``. Top-Q selection and NMS (where the
architecture needs it) are in the graph, so the runtime only resizes, thresholds and maps back.

Pixel coordinates are continuous with pixel i covering [i, i + 1] in both the network input and
the camera image, so a box maps back by the resize's scale alone (as transformers' detection
post-processing does). It runs through the same providers and options as the pose network
(``engine``: TensorRT -> CUDA -> CPU, engine cache, fp16, device_id).

numpy + OpenCV + onnxruntime only.
"""
from __future__ import annotations

import json
import logging
import pathlib
from dataclasses import dataclass

import cv2
import numpy as np

from .engine import DEFAULT_ENGINE_CACHE, ModelError, SessionFactory, load_session

DETECTOR_INPUT = "images"
DETECTOR_OUTPUTS = ("boxes", "scores", "classes")
DETECTOR_CONTRACT_VERSION = "1"
RESIZE_MODES = ("stretch", "letterbox")
DEFAULT_PAD_VALUE = 114


@dataclass(frozen=True)
class DetectorMetadata:
    """A detector file's ``metadata_props`` (all strings in the file)."""

    input_height: int
    input_width: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    resize: str
    class_names: tuple[str, ...]
    person_class: int
    pad_value: int = DEFAULT_PAD_VALUE
    source: str = ""
    licence: str = ""

    def to_props(self) -> dict[str, str]:
        props = {"vitpose_detector": DETECTOR_CONTRACT_VERSION, "input_height": str(self.input_height),
                 "input_width": str(self.input_width), "mean": ",".join(repr(float(v)) for v in self.mean),
                 "std": ",".join(repr(float(v)) for v in self.std), "resize": self.resize,
                 "class_names": json.dumps(list(self.class_names)), "person_class": str(self.person_class),
                 "source": self.source, "licence": self.licence}
        if self.resize == "letterbox":
            props["pad_value"] = str(self.pad_value)
        return props

    @classmethod
    def from_props(cls, props: dict[str, str]) -> "DetectorMetadata":
        """Parse and check; raises ValueError with what is wrong."""
        version = props.get("vitpose_detector")
        if version is None:
            raise ValueError("no 'vitpose_detector' metadata: not a person-detector file (a pose model?)")
        if version != DETECTOR_CONTRACT_VERSION:
            raise ValueError(f"detector contract version {version!r}, this runtime reads {DETECTOR_CONTRACT_VERSION!r}")
        missing = [k for k in ("input_height", "input_width", "mean", "std", "resize", "class_names", "person_class")
                   if k not in props]
        if missing:
            raise ValueError(f"metadata lacks {', '.join(missing)}")
        mean, std = (_triple(props, key) for key in ("mean", "std"))
        if any(v <= 0 for v in std):
            raise ValueError(f"metadata 'std' must be positive, got {props['std']!r}")
        if props["resize"] not in RESIZE_MODES:
            raise ValueError(f"metadata 'resize' must be one of {', '.join(RESIZE_MODES)}, got {props['resize']!r}")
        names = json.loads(props["class_names"])
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise ValueError(f"metadata 'class_names' must be a JSON list of strings, "
                             f"got {props['class_names'][:80]!r}")
        person = int(props["person_class"])
        if not 0 <= person < len(names):
            raise ValueError(f"metadata 'person_class' {person} is not an index into its {len(names)} class names")
        height, width = int(props["input_height"]), int(props["input_width"])
        if height < 1 or width < 1:
            raise ValueError(f"metadata input size {height}x{width} is not positive")
        pad = int(props.get("pad_value", DEFAULT_PAD_VALUE))
        if not 0 <= pad <= 255:
            raise ValueError(f"metadata 'pad_value' must be 0..255, got {pad}")
        return cls(height, width, mean, std, props["resize"], tuple(names), person, pad,
                   props.get("source", ""), props.get("licence", ""))


def _triple(props, key) -> tuple[float, float, float]:
    values = tuple(float(v) for v in props[key].split(","))
    if len(values) != 3:
        raise ValueError(f"metadata {key!r} must be 3 comma-separated floats, got {props[key]!r}")
    return values


def resize_for_detector(rgb: np.ndarray, input_size: tuple[int, int], resize: str,
                        pad_value: int = DEFAULT_PAD_VALUE) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (h, w, 3) camera image -> (uint8 (H, W, 3) network image, (sx, sy) network px per image px).

    ``stretch``: cv2.resize to W x H (INTER_LINEAR). ``letterbox``: one scale that fits the whole
    image, image at the top-left, the rest ``pad_value``. Training uses this same function."""
    height, width = input_size
    h, w = rgb.shape[:2]
    if resize == "stretch":
        return cv2.resize(rgb, (width, height), interpolation=cv2.INTER_LINEAR), np.array([width / w, height / h])
    if resize != "letterbox":
        raise ValueError(f"resize must be one of {', '.join(RESIZE_MODES)}, got {resize!r}")
    scale = min(width / w, height / h)
    new_w, new_h = min(width, max(1, round(w * scale))), min(height, max(1, round(h * scale)))
    out = np.full((height, width, 3), pad_value, np.uint8)
    out[:new_h, :new_w] = cv2.resize(rgb, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    return out, np.array([new_w / w, new_h / h])


def _check_detector_io(session, where: str) -> tuple[DetectorMetadata, int | None]:
    """The detector contract's metadata and I/O, or ModelError with a one-line reason."""
    inputs, outputs = session.get_inputs(), session.get_outputs()
    try:
        meta = DetectorMetadata.from_props(session.get_modelmeta().custom_metadata_map)
    except (ValueError, TypeError) as exc:
        raise ModelError(f"{where}: bad detector metadata ({exc})") from None
    if [i.name for i in inputs] != [DETECTOR_INPUT]:
        raise ModelError(f"{where}: detector inputs are {[i.name for i in inputs]}, expected ['{DETECTOR_INPUT}']")
    shape = inputs[0].shape
    if inputs[0].type != "tensor(float)" or len(shape) != 4 or shape[1] != 3:
        raise ModelError(f"{where}: input '{DETECTOR_INPUT}' is {inputs[0].type} {shape}, "
                         "expected float32 (N, 3, H, W)")
    if shape[2:] != [meta.input_height, meta.input_width]:
        raise ModelError(f"{where}: input is {shape[2]}x{shape[3]} but metadata says "
                         f"{meta.input_height}x{meta.input_width}")
    found = {o.name: o for o in outputs}
    missing = [name for name in DETECTOR_OUTPUTS if name not in found]
    if missing:
        raise ModelError(f"{where}: detector outputs lack {', '.join(missing)} (has {', '.join(found)})")
    for name, dtype, rank in (("boxes", "tensor(float)", 3), ("scores", "tensor(float)", 2),
                              ("classes", "tensor(int64)", 2)):
        out = found[name]
        if out.type != dtype or len(out.shape) != rank or (name == "boxes" and out.shape[2] != 4):
            raise ModelError(f"{where}: output '{name}' is {out.type} {out.shape}, expected "
                             f"{dtype.removeprefix('tensor(').rstrip(')')} of rank {rank}"
                             + (" ending in 4" if name == "boxes" else ""))
    return meta, shape[0] if isinstance(shape[0], int) else None


def _detector_session(path, sessions: SessionFactory):
    """(session, metadata) of a detector file on the pose network's providers and engine cache.

    The metadata and I/O are checked on a CPU session first (a wrong file is refused before a
    TensorRT build); on the CPU that session is the one that runs."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: detector file not found")
    probe = load_session(path, lambda: sessions.cpu_session(path))
    meta, fixed_batch = _check_detector_io(probe, str(path))
    if sessions.chosen == ["cpu"]:
        return probe, meta
    del probe
    shape = f"1x3x{meta.input_height}x{meta.input_width}"  # one image a call
    profiles = None if fixed_batch is not None else {DETECTOR_INPUT: (shape, shape, shape)}
    return load_session(path, lambda: sessions.create(path, profiles, settings={"role": "person detector"})), meta


class PersonDetector:
    """A contract detector file on ONNX Runtime; ``detect`` takes one uint8 RGB image."""

    def __init__(self, path, providers=("tensorrt", "cuda", "cpu"), fp16: bool = True,
                 engine_cache_dir=DEFAULT_ENGINE_CACHE, device_id: int = 0, cpu_threads: int = 0,
                 logger: logging.Logger | None = None, sessions: SessionFactory | None = None):
        """``sessions``: an existing factory to share (the pose network's), so one provider choice and
        one engine cache serve both; the provider, engine and thread arguments are then its own."""
        self.path = pathlib.Path(path)
        self.sessions = sessions or SessionFactory(providers, fp16, engine_cache_dir, device_id, cpu_threads,
                                                   logger=logger)
        self.log = self.sessions.log
        self.session, self.metadata = _detector_session(self.path, self.sessions)
        self.active_provider = self.session.get_providers()[0]
        meta = self.metadata
        self._mean = np.array(meta.mean, np.float32) * 255
        self._inv_std = 1.0 / (np.array(meta.std, np.float32) * 255)
        # debug: the node says which detector runs where, once
        self.log.debug(f"person detector {self.path.name}: {meta.input_height}x{meta.input_width} "
                      f"{meta.resize}, {len(meta.class_names)} classes, provider {self.active_provider}")
        self.detect(np.zeros((meta.input_height, meta.input_width, 3), np.uint8))  # warm-up (TensorRT builds here)

    @property
    def person_class(self) -> int:
        return self.metadata.person_class

    def preprocess(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(float32 (1, 3, H, W) network input, (sx, sy) network px per image px)."""
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8 or rgb.shape[0] < 1 or rgb.shape[1] < 1:
            raise ValueError(f"image must be uint8 (H, W, 3) RGB, got {rgb.dtype} {rgb.shape}")
        meta = self.metadata
        resized, scale = resize_for_detector(rgb, (meta.input_height, meta.input_width), meta.resize, meta.pad_value)
        batch = ((resized.astype(np.float32) - self._mean) * self._inv_std).transpose(2, 0, 1)[None]
        return np.ascontiguousarray(batch), scale

    def detect(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """uint8 (h, w, 3) RGB -> boxes float32 (M, 4) x1, y1, x2, y2 in image pixels (clipped to
        the image), scores float32 (M,), classes int64 (M,), best score first. Every query the
        graph returns comes back (no threshold here)."""
        batch, scale = self.preprocess(rgb)
        boxes, scores, classes = self.session.run(list(DETECTOR_OUTPUTS), {DETECTOR_INPUT: batch})
        h, w = rgb.shape[:2]
        boxes = np.asarray(boxes[0], np.float32) / np.tile(scale, 2).astype(np.float32)
        boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, w)
        boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, h)
        scores, classes = np.asarray(scores[0], np.float32), np.asarray(classes[0], np.int64)
        order = np.argsort(-scores, kind="stable")
        return boxes[order], scores[order], classes[order]

    def detect_persons(self, rgb: np.ndarray, min_score: float = 0.3,
                       max_persons: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Person boxes (M, 4) and scores (M,) with score >= ``min_score``, at most ``max_persons``
        of them (best first); boxes collapsed by clipping are dropped."""
        boxes, scores, classes = self.detect(rgb)
        return select_persons(boxes, scores, classes, self.person_class, min_score, max_persons)


def select_persons(boxes, scores, classes, person_class: int, min_score: float,
                   max_persons: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The person rows of ``detect``'s output above ``min_score``, best first, at most ``max_persons``."""
    keep = (classes == person_class) & (scores >= min_score) & (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    boxes, scores = boxes[keep], scores[keep]
    order = np.argsort(-scores, kind="stable")[:max_persons]
    return boxes[order], scores[order]
