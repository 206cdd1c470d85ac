"""The ViTPose network and its checkpoint importers (torch; export and training time only).

The names below load on first use, so that the torch-free parts of this layer (``fetch
--format onnx``, ``onnx_adopt``) run where torch is not installed.
"""
import importlib

_EXPORTS = {
    "CheckpointError": "checkpoints", "ImportedCheckpoint": "checkpoints", "load_checkpoint": "checkpoints",
    "save_own_checkpoint": "checkpoints",
    "DATASET_NUM_KEYPOINTS": "vitpose", "VARIANTS": "vitpose", "ViTPose": "vitpose", "ViTPoseConfig": "vitpose",
    "build_model": "vitpose", "init_weights": "vitpose", "variant_config": "vitpose",
}

__all__ = list(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__():
    return sorted(list(globals()) + __all__)
