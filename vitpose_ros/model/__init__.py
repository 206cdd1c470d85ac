"""The ViTPose network and its checkpoint importers (torch; export and training time only)."""
from .checkpoints import CheckpointError, ImportedCheckpoint, load_checkpoint, save_own_checkpoint
from .vitpose import (
    DATASET_NUM_KEYPOINTS,
    VARIANTS,
    ViTPose,
    ViTPoseConfig,
    build_model,
    init_weights,
    variant_config,
)

__all__ = [
    "CheckpointError", "ImportedCheckpoint", "load_checkpoint", "save_own_checkpoint",
    "DATASET_NUM_KEYPOINTS", "VARIANTS", "ViTPose", "ViTPoseConfig", "build_model",
    "init_weights", "variant_config",
]
