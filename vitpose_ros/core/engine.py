"""ONNX Runtime session for an exported ViTPose: provider choice, options, model checks.

Providers are asked for by short name, best first: ``tensorrt`` (Jetson / onnxruntime-gpu with
TensorRT), ``cuda``, ``cpu``. What this onnxruntime build lacks is skipped with one log line saying
why; CPU is always the last resort. ``active_provider`` reports what really runs.

Provider selection stays quiet: TensorRT is asked for only when its library loads (probed with
ctypes first: onnxruntime-gpu without TensorRT otherwise prints a multi-line "EP Error" block
before falling back by itself), and the CUDA/cuDNN libraries of pip's nvidia-* wheels are
preloaded with ``onnxruntime.preload_dlls`` where the installed version has it.

``fp16`` means "run the network in half precision" on both GPU providers: TensorRT builds an
fp16 engine from the fp32 file; CUDA loads the converted ``<stem>_fp16.onnx`` beside it
(``python -m vitpose_ros.model.convert --input <model> --precision fp16``).

numpy + onnxruntime only.
"""
from __future__ import annotations

import contextlib
import ctypes
import io
import logging
import os
import pathlib
import platform

import numpy as np

from .metadata import HEATMAP_STRIDE, ModelMetadata, precision_model_path

log = logging.getLogger("vitpose_ros.core.engine")

PROVIDER_NAMES = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "cpu": "CPUExecutionProvider",
}
DEFAULT_ENGINE_CACHE = pathlib.Path(os.environ.get("XDG_CACHE_HOME", pathlib.Path.home() / ".cache")) / "vitpose_ros" / "trt"


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


class OnnxEngine:
    """One ORT session with its model's metadata; ``run`` takes a normalised (N,3,H,W) batch."""

    def __init__(self, model_path, providers=("tensorrt", "cuda", "cpu"), fp16: bool = True,
                 engine_cache_dir=None, device_id: int = 0, cpu_threads: int = 0, max_batch: int = 16,
                 opt_batch: int | None = None, trt_workspace_gb: float = 2.0, warmup: bool = True,
                 logger: logging.Logger | None = None, network_session: bool = True):
        self.log = logger or log
        self.model_path = pathlib.Path(model_path)
        self.max_batch = max_batch
        self.opt_batch = opt_batch or min(4, max_batch)
        ort = import_onnxruntime()
        self._ort = ort
        if not self.model_path.is_file():
            raise ModelError(f"{self.model_path}: model file not found")
        self.engine_cache_dir = pathlib.Path(engine_cache_dir) if engine_cache_dir else DEFAULT_ENGINE_CACHE
        self._fp16, self._device_id, self._workspace_gb = fp16, device_id, trt_workspace_gb

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if cpu_threads > 0:
            options.intra_op_num_threads = cpu_threads
        options.log_severity_level = 3  # ORT's own warnings are noise here; we log what matters
        self._options = options

        # Peek at shapes and metadata with a CPU session (cheap), to set TRT profiles right.
        try:
            probe = ort.InferenceSession(str(self.model_path), sess_options=options,
                                         providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise ModelError(f"{self.model_path}: not a loadable ONNX model ({_first_line(exc)})") from None
        self.metadata, self.fixed_batch = self._check_io(probe)
        self.requested = _parse_provider_names(providers)
        self.chosen = self._available(self.requested, ort.get_available_providers())
        if self.chosen[0] in GPU_PROVIDERS:
            preload_gpu_libraries(ort, self.log)
        advice = int8_provider_advice(self.metadata.precision, self.chosen[0])
        if advice:
            self.log.warning(f"{self.model_path.name}: {advice}")
        self.network_path = self._network_file()
        self._session = probe if self.chosen == ["cpu"] and self.network_path == self.model_path else None
        self.active_provider = "CPUExecutionProvider"
        if network_session:
            self.active_provider = self.session.get_providers()[0]
            self.log.info(f"ONNX Runtime provider: {self.active_provider} (requested {', '.join(self.requested)})")
            if warmup:
                self.run(np.zeros((self.fixed_batch or 1, 3, self.metadata.input_height,
                                   self.metadata.input_width), np.float32))

    @property
    def session(self):
        """The network's own session (made on first use when the pipeline does not need it)."""
        if self._session is None:
            profiles = None
            if self.fixed_batch is None:
                shape = f"3x{self.metadata.input_height}x{self.metadata.input_width}"
                profiles = {self.input_name: (f"1x{shape}", f"{self.opt_batch}x{shape}", f"{self.max_batch}x{shape}")}
            self._session = self.create_session(str(self.network_path), profiles)
        return self._session

    @property
    def gpu_requested(self) -> bool:
        """A GPU provider is the first choice (its session may still fall back to CPU)."""
        return self.chosen[0] in GPU_PROVIDERS

    def network_bytes(self) -> bytes:
        """The serialized network that runs (the fp16 sibling where ``fp16`` on CUDA picked it)."""
        return self.network_path.read_bytes()

    # -- construction helpers ------------------------------------------------------------------

    def _available(self, requested: list[str], available: list[str]) -> list[str]:
        chosen = []
        for name in requested:
            if PROVIDER_NAMES[name] in available:
                missing = missing_library(TENSORRT_LIBRARIES.get(platform.system(), ())) if name == "tensorrt" else None
                if missing:
                    self.log.warning(f"execution provider 'tensorrt' skipped: {missing} cannot be loaded "
                                     f"(TensorRT 10 is not installed or not on the library path)")
                    continue
                chosen.append(name)
            else:
                self.log.warning(
                    f"execution provider '{name}' requested but this onnxruntime build does not have "
                    f"{PROVIDER_NAMES[name]} (available: {', '.join(available)}); skipping it")
        if "cpu" not in chosen:
            chosen.append("cpu")
        return chosen

    def _network_file(self) -> pathlib.Path:
        """The file the network is loaded from: ``fp16`` on CUDA means the converted sibling."""
        if not (self._fp16 and self.chosen[0] == "cuda") or self.metadata.precision != "fp32":
            return self.model_path
        sibling = precision_model_path(self.model_path, "fp16")
        if sibling.is_file():
            self.log.info(f"fp16 on CUDA: running {sibling.name}")
            return sibling
        self.log.warning(f"fp16 requested but {sibling} does not exist, so CUDA runs fp32; make it with: "
                         f"python -m vitpose_ros.model.convert --input {self.model_path} --precision fp16")
        return self.model_path

    def create_session(self, model, profiles: dict[str, tuple[str, str, str]] | None = None):
        """An ORT session for ``model`` (a path, or serialized bytes) on the chosen providers.

        ``profiles`` maps dynamic input names to TensorRT (min, opt, max) shapes such as
        "1x3x256x192": one optimisation profile over the whole range, so no rebuild per batch size.
        """
        ort, options = self._ort, self._options
        if isinstance(model, (bytes, bytearray)):
            # a network with external data (ViTPose-H) keeps finding it beside the model file
            options = ort.SessionOptions()
            options.graph_optimization_level = self._options.graph_optimization_level
            options.intra_op_num_threads = self._options.intra_op_num_threads
            options.log_severity_level = self._options.log_severity_level
            options.add_session_config_entry("session.model_external_initializers_file_folder_path",
                                             str(self.network_path.resolve().parent))
        entries = []
        for name in self.chosen:
            if name == "tensorrt":
                self.engine_cache_dir.mkdir(parents=True, exist_ok=True)
                trt = {
                    "device_id": self._device_id,
                    "trt_fp16_enable": bool(self._fp16),
                    "trt_engine_cache_enable": True,
                    "trt_engine_cache_path": str(self.engine_cache_dir),
                    "trt_timing_cache_enable": True,
                    "trt_timing_cache_path": str(self.engine_cache_dir),
                    "trt_max_workspace_size": int(self._workspace_gb * (1 << 30)),
                }
                if profiles:
                    for key, shapes in zip(("min", "opt", "max"), zip(*profiles.values())):
                        trt[f"trt_profile_{key}_shapes"] = ",".join(f"{n}:{s}" for n, s in zip(profiles, shapes))
                entries.append((PROVIDER_NAMES[name], trt))
                self.log.warning(
                    f"TensorRT: the first run builds an engine for {self.model_path.name}, which can take "
                    f"minutes; it is cached in {self.engine_cache_dir} (prebuild with vitpose-build-engine)")
            elif name == "cuda":
                entries.append((PROVIDER_NAMES[name], {"device_id": self._device_id}))
            else:
                entries.append((PROVIDER_NAMES[name], {}))
        try:
            return ort.InferenceSession(model, sess_options=options, providers=[e[0] for e in entries],
                                        provider_options=[e[1] for e in entries])
        except Exception as exc:  # e.g. CUDA build without a usable GPU/driver
            if self.chosen == ["cpu"]:
                raise
            self.log.warning(f"GPU session failed ({_first_line(exc)}); falling back to CPU")
            return ort.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])

    def _check_io(self, session) -> tuple[ModelMetadata, int | None]:
        """Model metadata (from metadata_props, else shapes), refusing graphs that do not fit."""
        where = str(self.model_path)
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
