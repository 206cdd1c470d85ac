"""ONNX Runtime sessions: provider choice and options, TensorRT engines cached by content, and
``OnnxEngine``, the exported ViTPose network's session with its model checks.

``SessionFactory`` makes the session of any ONNX file (the pose network, its graph pipeline, a
person detector) by path on the chosen providers. Providers are asked for by short name, best
first: ``tensorrt`` (Jetson / onnxruntime-gpu with TensorRT), ``cuda``, ``cpu``. What this
onnxruntime build lacks is skipped with one log line saying why; CPU is always the last resort.
``active_provider`` reports what really runs.

Provider selection stays quiet: TensorRT is asked for only when its library loads (probed with
ctypes first: onnxruntime-gpu without TensorRT otherwise prints a multi-line "EP Error" block
before falling back by itself), and the CUDA/cuDNN libraries of pip's nvidia-* wheels are
preloaded with ``onnxruntime.preload_dlls`` where the installed version has it.

``fp16`` means "run the network in half precision" on both GPU providers: TensorRT builds an
fp16 engine from the fp32 file; CUDA loads the converted ``<stem>_fp16.onnx`` beside it
(``python -m vitpose_ros.model.convert --input <model> --precision fp16``, which also writes its
graph pipeline's ``<stem>_fp16_graph.onnx``).

TensorRT engine cache: one sub-folder of the cache folder per key (``trt_engine_cache_path``;
ONNX Runtime names the engine inside by the model's file name and graph structure, not its
weights, so a shared folder could hand one model another's engine). The key is
``<model stem>-<16 hex digits>`` of a SHA-256 over the model files' content hashes (content_hash:
hashed once, remembered in ``file_hashes.json`` in the cache folder) and what else changes the
engine: fp16, the optimisation profiles (max and opt batch), the pipeline and flip test. The
timing cache is shared by all keys (it holds layer timings, not engines).

numpy + onnxruntime only.
"""
from __future__ import annotations

import contextlib
import hashlib
import ctypes
import io
import json
import logging
import os
import pathlib
import platform

import numpy as np

from .content_hash import HASH_MEMO_NAME, FileHashes, model_digest
from .metadata import HEATMAP_STRIDE, ModelMetadata, precision_model_path

log = logging.getLogger("vitpose_ros.core.engine")

PROVIDER_NAMES = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "cpu": "CPUExecutionProvider",
}
DEFAULT_ENGINE_CACHE = (pathlib.Path(os.environ.get("XDG_CACHE_HOME", pathlib.Path.home() / ".cache"))
                        / "vitpose_ros" / "trt")


# What ONNX Runtime's TensorRT provider loads (TensorRT 10); probed before the provider is asked for.
TENSORRT_LIBRARIES = {"Linux": ("libnvinfer.so.10", "libnvinfer_plugin.so.10"),
                      "Windows": ("nvinfer_10.dll", "nvinfer_plugin_10.dll")}
GPU_PROVIDERS = ("tensorrt", "cuda")


def missing_library(names) -> str | None:
    """The first of these shared libraries the dynamic loader cannot load, else None."""
    for name in names:
        try:
            ctypes.CDLL(name)
        except OSError:
            return name
    return None


def preload_gpu_libraries(ort, logger: logging.Logger) -> None:
    """Load CUDA/cuDNN from pip's nvidia-* wheels so the CUDA provider needs no LD_LIBRARY_PATH.

    onnxruntime >= 1.21 has ``preload_dlls``; it prints what it cannot find, which goes to our
    debug log instead (a missing library still surfaces as the provider's one-line failure).
    """
    preload = getattr(ort, "preload_dlls", None)
    if preload is None:
        return
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            preload()
    except Exception as exc:  # never fatal: the provider itself reports what is missing
        logger.debug(f"onnxruntime.preload_dlls failed: {_first_line(exc)}")
    if printed.getvalue().strip():
        logger.debug(f"onnxruntime.preload_dlls: {printed.getvalue().strip()}")


def release_freed_memory() -> None:
    """Hand the heap memory freed while a session loaded back to the system (glibc's malloc_trim).

    Building a session frees its copies of the file's bytes and protobuf (hundreds of MB for
    ViT-B), but glibc keeps freed heap pages resident; on a Jetson, whose CPU and GPU share one
    memory, that is memory the GPU cannot have. Measured on the CPU provider: a ViT-B session's
    resident size drops from 0.55-0.66 GB (run to run) to 0.40 GB. Without glibc nothing happens."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class ModelError(ValueError):
    """The model file cannot be used; the message names the file and what is wrong."""


def import_onnxruntime():
    try:
        import onnxruntime
    except ImportError as exc:
        raise ModelError(
            "onnxruntime is not installed: pip install onnxruntime (CPU) or onnxruntime-gpu (CUDA/TensorRT)"
        ) from exc
    return onnxruntime


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def load_session(path, make):
    """``make()`` (a session of the file at ``path``); ONNX Runtime's failure to load it becomes
    a one-line ModelError naming the file."""
    try:
        return make()
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(f"{path}: not a loadable ONNX model ({_first_line(exc)})") from None


def _parse_provider_names(providers) -> list[str]:
    if isinstance(providers, str):
        providers = [p for p in providers.replace(" ", "").split(",") if p]
    names = [p.lower() for p in providers]
    unknown = [p for p in names if p not in PROVIDER_NAMES]
    if unknown:
        raise ValueError(f"unknown execution provider(s) {unknown}; known: {', '.join(PROVIDER_NAMES)}")
    return names


def int8_provider_advice(precision: str, provider: str) -> str | None:
    """Why an INT8 model should not run on the CUDA provider (None where it is fine).

    The CUDA provider dequantizes QDQ models and runs float kernels, and runs dynamic INT8's
    MatMuls on the CPU, so both are slower than fp32 there (figures: docs/benchmarks.md). TensorRT
    fuses QDQ into INT8 kernels and the CPU provider has integer GEMMs: INT8 belongs there."""
    if precision == "int8" and provider == "cuda":
        return ("INT8 runs slower than fp32 on the CUDA provider (it dequantizes QDQ and runs dynamic INT8 "
                "MatMuls on the CPU); INT8 is for CPU-only robots and TensorRT: use the fp32 model "
                "(or its fp16 sibling) on this GPU")
    return None


def choose_providers(requested: list[str], available: list[str], logger: logging.Logger) -> list[str]:
    """The requested providers this onnxruntime build can run, best first, CPU always last; one
    warning per provider skipped, saying why."""
    chosen = []
    for name in requested:
        if PROVIDER_NAMES[name] in available:
            missing = missing_library(TENSORRT_LIBRARIES.get(platform.system(), ())) if name == "tensorrt" else None
            if missing:
                logger.warning(f"execution provider 'tensorrt' skipped: {missing} cannot be loaded "
                               f"(TensorRT 10 is not installed or not on the library path)")
                continue
            chosen.append(name)
        else:
            logger.warning(
                f"execution provider '{name}' requested but this onnxruntime build does not have "
                f"{PROVIDER_NAMES[name]} (available: {', '.join(available)}); skipping it")
    if "cpu" not in chosen:
        chosen.append("cpu")
    return chosen


def engine_cache_key(model_path, settings: dict, hashes: FileHashes | None = None) -> str:
    """``<stem>-<16 hex>``: the model files' content plus ``settings`` (what else shapes the engine)."""
    material = json.dumps({"model": model_digest(model_path, hashes), **settings}, sort_keys=True, default=str)
    return f"{pathlib.Path(model_path).stem}-{hashlib.sha256(material.encode()).hexdigest()[:16]}"


def tensorrt_options(engine_folder, timing_cache_dir, fp16: bool, device_id: int = 0, workspace_gb: float = 2.0,
                     profiles: dict[str, tuple[str, str, str]] | None = None) -> dict:
    """The TensorRT provider's options: engine cache in ``engine_folder`` (one per key), the
    shared timing cache, fp16, and one optimisation profile over each dynamic input's
    (min, opt, max) shapes such as "1x3x256x192", so no rebuild per batch size."""
    options = {
        "device_id": device_id,
        "trt_fp16_enable": bool(fp16),
        "trt_engine_cache_enable": True,
        "trt_engine_cache_path": str(engine_folder),
        "trt_timing_cache_enable": True,
        "trt_timing_cache_path": str(timing_cache_dir),
        "trt_max_workspace_size": int(workspace_gb * (1 << 30)),
    }
    if profiles:
        for which, shapes in zip(("min", "opt", "max"), zip(*profiles.values())):
            options[f"trt_profile_{which}_shapes"] = ",".join(f"{n}:{s}" for n, s in zip(profiles, shapes))
    return options


def cached_engine_exists(engine_folder) -> bool:
    """ONNX Runtime's TensorRT provider writes its engines as ``*.engine`` files."""
    folder = pathlib.Path(engine_folder)
    return folder.is_dir() and any(folder.glob("*.engine"))


class SessionFactory:
    """ONNX Runtime sessions for any ONNX file on the chosen providers (one choice for all the
    sessions a node makes), TensorRT engines cached per content key (module doc).

        sessions = SessionFactory(("tensorrt", "cuda", "cpu"), fp16=True, engine_cache_dir=DIR)
        session = sessions.create("detector.onnx", profiles={"images": ("1x3x640x640",) * 3},
                                  settings={"role": "detector"})
    """

    def __init__(self, providers=("tensorrt", "cuda", "cpu"), fp16: bool = True, engine_cache_dir=None,
                 device_id: int = 0, cpu_threads: int = 0, trt_workspace_gb: float = 2.0,
                 logger: logging.Logger | None = None):
        self.log = logger or log
        self._ort = import_onnxruntime()
        self.fp16, self.device_id, self.workspace_gb, self.cpu_threads = fp16, device_id, trt_workspace_gb, cpu_threads
        self.engine_cache_dir = pathlib.Path(engine_cache_dir) if engine_cache_dir else DEFAULT_ENGINE_CACHE
        self.requested = _parse_provider_names(providers)
        self.chosen = choose_providers(self.requested, self._ort.get_available_providers(), self.log)
        if self.chosen[0] in GPU_PROVIDERS:
            preload_gpu_libraries(self._ort, self.log)
        self._hashes = None

    @property
    def gpu_requested(self) -> bool:
        """A GPU provider is the first choice (its session may still fall back to CPU)."""
        return self.chosen[0] in GPU_PROVIDERS

    @property
    def hashes(self) -> FileHashes:
        """Content hashes of model files, remembered in the cache folder."""
        if self._hashes is None:
            self._hashes = FileHashes(self.engine_cache_dir / HASH_MEMO_NAME)
        return self._hashes

    def session_options(self):
        options = self._ort.SessionOptions()
        options.graph_optimization_level = self._ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if self.cpu_threads > 0:
            options.intra_op_num_threads = self.cpu_threads
        options.log_severity_level = 3  # ORT's own warnings are noise here; we log what matters
        return options

    def cpu_session(self, model_path):
        """A plain CPU session of the file, whatever providers were chosen."""
        return self._ort.InferenceSession(str(model_path), sess_options=self.session_options(),
                                          providers=["CPUExecutionProvider"])

    def engine_key(self, model_path, profiles=None, settings: dict | None = None) -> str:
        """The TensorRT cache key of this model with these profiles and settings."""
        material = {"fp16": bool(self.fp16), "profiles": profiles or {}, **(settings or {})}
        return engine_cache_key(model_path, material, self.hashes)

    def would_build_engine(self, model_path, profiles=None, settings: dict | None = None) -> bool:
        """TensorRT is chosen and has no engine cached under this model's key: ``create`` builds one."""
        return "tensorrt" in self.chosen and not cached_engine_exists(
            self.engine_cache_dir / self.engine_key(model_path, profiles, settings))

    def provider_options(self, model_path, profiles=None, settings: dict | None = None) -> list[tuple[str, dict]]:
        """(provider name, options) per chosen provider, best first: what ``create`` passes."""
        entries = []
        for name in self.chosen:
            if name == "tensorrt":
                folder = self.engine_cache_dir / self.engine_key(model_path, profiles, settings)
                entries.append((PROVIDER_NAMES[name], tensorrt_options(
                    folder, self.engine_cache_dir, self.fp16, self.device_id, self.workspace_gb, profiles)))
            elif name == "cuda":
                entries.append((PROVIDER_NAMES[name], {"device_id": self.device_id}))
            else:
                entries.append((PROVIDER_NAMES[name], {}))
        return entries

    def create(self, model_path, profiles: dict[str, tuple[str, str, str]] | None = None,
               settings: dict | None = None):
        """A session for the ONNX file at ``model_path`` (loaded by path: external data beside it
        is found, TensorRT caches under the file's key). ``profiles`` maps dynamic inputs to
        TensorRT (min, opt, max) shapes; ``settings`` is what else the caller's engine depends on.
        A GPU session that fails falls back to CPU with one warning."""
        model_path = pathlib.Path(model_path)
        entries = self.provider_options(model_path, profiles, settings)
        for name, options in entries:
            if name == PROVIDER_NAMES["tensorrt"]:
                self._announce_engine(model_path, pathlib.Path(options["trt_engine_cache_path"]))
        ort, options = self._ort, self.session_options()
        try:
            session = ort.InferenceSession(str(model_path), sess_options=options, providers=[e[0] for e in entries],
                                           provider_options=[e[1] for e in entries])
        except Exception as exc:  # e.g. CUDA build without a usable GPU/driver
            if self.chosen == ["cpu"]:
                raise
            self.log.warning(f"GPU session failed ({_first_line(exc)}); falling back to CPU")
            session = ort.InferenceSession(str(model_path), sess_options=options, providers=["CPUExecutionProvider"])
        release_freed_memory()
        return session

    def _announce_engine(self, model_path: pathlib.Path, folder: pathlib.Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        where = f"TensorRT engine cache {folder.parent}, key {folder.name}"
        if cached_engine_exists(folder):
            self.log.info(f"{where}: reusing the engine built for {model_path.name}")
        else:
            self.log.warning(f"{where}: no engine for {model_path.name} yet; building it now, which takes "
                             f"minutes (longer for the large sizes and on a Jetson; prebuild with "
                             f"vitpose-build-engine)")


class OnnxEngine:
    """The exported network's session with its metadata; ``run`` takes a normalised (N,3,H,W) batch.

    ``network_session=False`` chooses providers and the network file but loads nothing (the
    graph pipeline runs another file); ``load_network`` then loads it where needed."""

    def __init__(self, model_path, providers=("tensorrt", "cuda", "cpu"), fp16: bool = True,
                 engine_cache_dir=None, device_id: int = 0, cpu_threads: int = 0, max_batch: int = 16,
                 opt_batch: int | None = None, trt_workspace_gb: float = 2.0, warmup: bool = True,
                 logger: logging.Logger | None = None, network_session: bool = True,
                 sessions: SessionFactory | None = None):
        self.log = logger or (sessions.log if sessions else log)
        self.model_path = pathlib.Path(model_path)
        self.max_batch = max_batch
        self.opt_batch = opt_batch or min(4, max_batch)
        if not self.model_path.is_file():
            raise ModelError(f"{self.model_path}: model file not found")
        self.sessions = sessions or SessionFactory(providers, fp16, engine_cache_dir, device_id, cpu_threads,
                                                   trt_workspace_gb, self.log)
        self.requested, self.chosen = self.sessions.requested, self.sessions.chosen
        self.engine_cache_dir = self.sessions.engine_cache_dir
        self.network_path = self._network_file()
        self.metadata: ModelMetadata | None = None
        self.fixed_batch: int | None = None
        self.input_name = self.output_name = None
        self._session = None
        self.active_provider = "CPUExecutionProvider"
        if network_session:
            self.load_network()
            self.log.info(f"ONNX Runtime provider: {self.active_provider} (requested {', '.join(self.requested)})")
            if warmup:
                self.run(np.zeros((self.fixed_batch or 1, 3, self.metadata.input_height,
                                   self.metadata.input_width), np.float32))

    @property
    def gpu_requested(self) -> bool:
        return self.sessions.gpu_requested

    @property
    def session(self):
        """The network's session (loaded on first use)."""
        if self._session is None:
            self.load_network()
        return self._session

    def load_network(self, settings: dict | None = None) -> None:
        """Load the network file and check it (metadata, shapes). ``settings``: what else the
        caller's TensorRT engine depends on (the estimator's flip test), part of its cache key.

        TensorRT needs the input's name and size for its profile before the session exists, so
        there (only) a CPU session reads them first and is released before the TensorRT one is made."""
        settings = {"pipeline": "host", **(settings or {})}
        profiles = None
        if "tensorrt" in self.chosen:
            probe = load_session(self.network_path, lambda: self.sessions.cpu_session(self.network_path))
            self.metadata, self.fixed_batch = self._check_io(probe)
            del probe
            release_freed_memory()
            if self.fixed_batch is None:
                shape = f"3x{self.metadata.input_height}x{self.metadata.input_width}"
                profiles = {self.input_name: (f"1x{shape}", f"{self.opt_batch}x{shape}", f"{self.max_batch}x{shape}")}
        session = load_session(self.network_path, lambda: self.sessions.create(self.network_path, profiles, settings))
        self.metadata, self.fixed_batch = self._check_io(session)
        self._session = session
        self.active_provider = session.get_providers()[0]
        self.describe_metadata()

    def describe_metadata(self) -> None:
        """What the loaded model's metadata means for the chosen provider, said once."""
        advice = int8_provider_advice(self.metadata.precision, self.chosen[0])
        if advice:
            self.log.warning(f"{self.model_path.name}: {advice}")
        if (self.sessions.fp16 and self.chosen[0] == "cuda" and self.network_path == self.model_path
                and self.metadata.precision == "fp32"):
            self.log.warning(f"fp16 requested but {precision_model_path(self.model_path, 'fp16')} does not exist, "
                             f"so CUDA runs fp32; make it with: "
                             f"python -m vitpose_ros.model.convert --input {self.model_path} --precision fp16")

    # -- construction helpers ------------------------------------------------------------------

    def _network_file(self) -> pathlib.Path:
        """The file the network is loaded from: ``fp16`` on CUDA means the converted sibling."""
        if not (self.sessions.fp16 and self.chosen[0] == "cuda"):
            return self.model_path
        sibling = precision_model_path(self.model_path, "fp16")
        if sibling.is_file():
            self.log.info(f"fp16 on CUDA: running {sibling.name}")
            return sibling
        return self.model_path

    def _check_io(self, session) -> tuple[ModelMetadata, int | None]:
        """Model metadata (from metadata_props, else shapes), refusing graphs that do not fit."""
        where = str(self.network_path)
        inputs, outputs = session.get_inputs(), session.get_outputs()
        if len(inputs) != 1 or len(outputs) < 1:
            raise ModelError(f"{where}: expected 1 input and 1 output, found {len(inputs)} and {len(outputs)}")
        in_shape, out_shape = inputs[0].shape, outputs[0].shape
        if len(in_shape) != 4 or in_shape[1] != 3:
            raise ModelError(f"{where}: input {inputs[0].name!r} has shape {in_shape}, expected (N, 3, H, W)")
        if len(out_shape) != 4:
            raise ModelError(f"{where}: output {outputs[0].name!r} has shape {out_shape}, expected (N, K, H/4, W/4)")
        if inputs[0].type != "tensor(float)":
            raise ModelError(f"{where}: input type is {inputs[0].type}, expected float32")
        props = session.get_modelmeta().custom_metadata_map
        try:
            meta = ModelMetadata.from_props(props)
        except (ValueError, TypeError) as exc:
            raise ModelError(f"{where}: bad vitpose metadata ({exc})") from None
        fixed = {"input_height": in_shape[2], "input_width": in_shape[3], "num_keypoints": out_shape[1]}
        updates = {k: v for k, v in fixed.items() if isinstance(v, int) and k not in props}
        if updates:
            meta = ModelMetadata(**{**meta.__dict__, **updates})
        for key, dim in (("input_height", in_shape[2]), ("input_width", in_shape[3])):
            if isinstance(dim, int) and dim != getattr(meta, key):
                raise ModelError(f"{where}: input is {in_shape[2]}x{in_shape[3]} but metadata says "
                                 f"{meta.input_height}x{meta.input_width}")
        expected_out = (meta.num_keypoints, meta.input_height // HEATMAP_STRIDE, meta.input_width // HEATMAP_STRIDE)
        for got, want in zip(out_shape[1:], expected_out):
            if isinstance(got, int) and got != want:
                raise ModelError(f"{where}: output shape {out_shape} does not fit a ViTPose heatmap head "
                                 f"(expected (N, {expected_out[0]}, {expected_out[1]}, {expected_out[2]}))")
        if not props:
            self.log.warning(f"{where}: no vitpose metadata; assuming {meta.dataset} keypoints, ImageNet normalisation")
        self.input_name, self.output_name = inputs[0].name, outputs[0].name
        fixed_batch = in_shape[0] if isinstance(in_shape[0], int) else None
        return meta, fixed_batch

    # -- inference -----------------------------------------------------------------------------

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Normalised float32 (N,3,H,W) -> heatmaps (N,K,H/4,W/4). A fixed-batch model is padded."""
        n = len(batch)
        if self.fixed_batch is not None and n != self.fixed_batch:
            outputs = []
            for start in range(0, n, self.fixed_batch):
                chunk = batch[start:start + self.fixed_batch]
                padded = np.zeros((self.fixed_batch,) + batch.shape[1:], np.float32)
                padded[:len(chunk)] = chunk
                outputs.append(self.session.run([self.output_name], {self.input_name: padded})[0][:len(chunk)])
            return np.concatenate(outputs)
        return self.session.run([self.output_name], {self.input_name: batch})[0]
