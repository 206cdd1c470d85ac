"""The ONNX metadata contract between export and runtime (no torch, no onnxruntime import).

Export writes these keys into the model's ``metadata_props``; the runtime reads them to configure
itself (input size, keypoint count, skeleton, normalisation), so a model file is self-describing.
"""
from __future__ import annotations

import json
import pathlib
from dataclasses import dataclass

from ..constants import PRECISIONS  # re-exported; a converted model sits beside its source as <stem>_<precision>.onnx

INPUT_NAME = "input"
OUTPUT_NAME = "heatmaps"
HEATMAP_STRIDE = 4  # heatmaps are 1/4 of the input size

DARK_KERNEL = 11  # ViTPose configs' modulate_kernel, paired with their sigma-2 targets
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def precision_model_path(fp32_path, precision: str) -> pathlib.Path:
    """``models/vitpose_b_coco.onnx`` -> ``models/vitpose_b_coco_int8.onnx`` (fp32: unchanged)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    path = pathlib.Path(fp32_path)
    return path if precision == "fp32" else path.with_name(f"{path.stem}_{precision}{path.suffix}")


@dataclass(frozen=True)
class ModelMetadata:
    variant: str = "unknown"
    dataset: str = "coco"
    num_keypoints: int = 17
    input_height: int = 256
    input_width: int = 192
    mean: tuple[float, float, float] = IMAGENET_MEAN  # on 0..1 RGB
    std: tuple[float, float, float] = IMAGENET_STD
    decoder: str = "classic"
    source_format: str = "unknown"
    # DARK blur kernel for decoding; models trained with sharper targets than ViTPose's carry a
    # smaller one (decode.dark_kernel_for_sigma)
    dark_kernel: int = DARK_KERNEL
    precision: str = "fp32"  # one of PRECISIONS

    def to_props(self) -> dict[str, str]:
        """As ONNX ``metadata_props`` (string to string)."""
        return {
            "variant": self.variant,
            "dataset": self.dataset,
            "num_keypoints": str(self.num_keypoints),
            "input_height": str(self.input_height),
            "input_width": str(self.input_width),
            "mean": json.dumps(list(self.mean)),
            "std": json.dumps(list(self.std)),
            "decoder": self.decoder,
            "source_format": self.source_format,
            "dark_kernel": str(self.dark_kernel),
            "precision": self.precision,
        }

    @classmethod
    def from_props(cls, props: dict[str, str]) -> "ModelMetadata":
        """Parse ``metadata_props``; keys that are absent keep their defaults."""
        values: dict = {}
        for key in ("variant", "dataset", "decoder", "source_format", "precision"):
            if key in props:
                values[key] = props[key]
        for key in ("num_keypoints", "input_height", "input_width", "dark_kernel"):
            if key in props:
                values[key] = int(props[key])
        for key in ("mean", "std"):
            if key in props:
                triple = tuple(float(v) for v in json.loads(props[key]))
                if len(triple) != 3:
                    raise ValueError(f"metadata {key!r} must have 3 values, got {props[key]!r}")
                values[key] = triple
        kernel = values.get("dark_kernel", cls.dark_kernel)
        if kernel < 1 or kernel % 2 == 0:
            raise ValueError(f"metadata 'dark_kernel' must be a positive odd number, got {kernel}")
        if values.get("precision", cls.precision) not in PRECISIONS:
            raise ValueError(f"metadata 'precision' must be one of {', '.join(PRECISIONS)}, "
                             f"got {values['precision']!r}")
        return cls(**values)
