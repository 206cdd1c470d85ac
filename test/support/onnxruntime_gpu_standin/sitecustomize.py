"""onnxruntime-gpu on a machine whose CUDA libraries cannot be loaded, made from the real CPU onnxruntime.

Put this folder first on a subprocess's PYTHONPATH: Python imports ``sitecustomize`` at start-up,
and from then on ``import onnxruntime`` gives the real (CPU) package behaving as onnxruntime-gpu
does there (its documented behaviour):
- ``get_available_providers()`` lists the TensorRT and CUDA providers: the build has them;
- ``preload_dlls()`` prints one "Failed to load ..." line per CUDA / cuDNN library it cannot find
  (it searches the nvidia-* wheels and the default library path);
- an ``InferenceSession`` asked for a GPU provider logs that the provider cannot be created and
  runs on the providers that remain (CPU), so ``get_providers()`` says CPUExecutionProvider.
"""
import sys

import onnxruntime

GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")
CUDA_LIBRARIES = ("libcudart.so.12", "libcublasLt.so.12", "libcublas.so.12", "libcufft.so.11", "libcurand.so.10",
                  "libcudnn.so.9")
_RealSession = onnxruntime.InferenceSession
_real_providers = onnxruntime.get_available_providers()


def get_available_providers():
    return list(GPU_PROVIDERS) + [p for p in _real_providers if p not in GPU_PROVIDERS]


def preload_dlls(cuda=True, cudnn=True, msvc=True, directory=None):
    for name in CUDA_LIBRARIES:
        if (cuda and "cudnn" not in name) or (cudnn and "cudnn" in name):
            print(f"Failed to load {name}: {name}: cannot open shared object file: No such file or directory")


def _name(provider):
    return provider if isinstance(provider, str) else provider[0]


class InferenceSession(_RealSession):
    def __init__(self, path_or_bytes, sess_options=None, providers=None, provider_options=None, **kwargs):
        providers = list(providers or [])
        options = list(provider_options) if provider_options else [{} for _ in providers]
        for name in [_name(p) for p in providers if _name(p) in GPU_PROVIDERS]:
            print(f"[W:onnxruntime:Default, onnxruntime_pybind_state.cc:1013 CreateExecutionProviderInstance] "
                  f"Failed to create {name}. Require cuDNN 9.* and CUDA 12.*. Please install all dependencies as "
                  "mentioned in the GPU requirements page, make sure they're in the PATH, and that your GPU is "
                  "supported.", file=sys.stderr)
        kept = [i for i, p in enumerate(providers) if _name(p) not in GPU_PROVIDERS]
        super().__init__(path_or_bytes, sess_options, providers=[providers[i] for i in kept] or None,
                         provider_options=[options[i] for i in kept] or None, **kwargs)


onnxruntime.get_available_providers = get_available_providers
onnxruntime.preload_dlls = preload_dlls
onnxruntime.InferenceSession = InferenceSession
onnxruntime.get_device = lambda: "GPU"
