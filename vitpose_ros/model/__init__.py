"""The ViTPose network and its checkpoint importers (torch; export and training time only).

The names below are imported on first use, so the torch-free modules of this package
(``convert``, ``compose_graph``, ``precision``, ``fetch --format onnx``,
``onnx_adopt``) run where onnx is installed but torch is not.
"""
import importlib

_EXPORTS = {
    "checkpoints": ("CheckpointError", "ImportedCheckpoint", "load_checkpoint", "save_own_checkpoint"),
    "vitpose": ("DATASET_NUM_KEYPOINTS", "VARIANTS", "ViTPose", "ViTPoseConfig", "build_model",
                "init_weights", "variant_config"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = list(_MODULE_OF)


def __getattr__(name):
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_MODULE_OF[name]}", __name__), name)
    globals()[name] = value
    return value
