"""Import published ViTPose checkpoints into ``ViTPose`` (our key names), auto-detecting the format.

Formats understood:
- ``official``: ViTPose / mmpose 0.x ``.pth`` — ``{"state_dict": {"backbone.*", "keypoint_head.*"}}``;
- ``easy_vitpose``: the same key names, with or without the ``state_dict`` wrapper;
- ``vitpose++``: the official MoE checkpoints — ``backbone.blocks.<i>.mlp.experts.<e>`` plus one
  ``associate_keypoint_heads.<e-1>`` per extra dataset; one dataset's expert and head are kept;
- ``hf``: Hugging Face transformers ``VitPoseForPoseEstimation`` (``model.safetensors`` or a state
  dict with ``backbone.embeddings.*`` / ``backbone.encoder.layer.<i>.*`` / ``head.*``);
- ``vitpose_ros``: what ``vitpose_ros.synthetic.train`` writes (our key names plus the config).

Variant, decoder type and keypoint count come from tensor shapes, not from names or configs; the
attention head count is the one thing shapes cannot tell, so it comes from the published variant
table, a ``config.json`` beside an HF checkpoint, the checkpoint's own config, or the caller.

Files are unpickled with ``torch.load(weights_only=True)`` only: no code in a checkpoint runs.
"""
from __future__ import annotations

import json
import pathlib
import re
from dataclasses import dataclass

import torch

from ..core.metadata import DARK_KERNEL
from .vitpose import DATASET_NUM_KEYPOINTS, ViTPoseConfig, find_variant, variant_config

# ViTPose++ expert index of each dataset (the order the MoE checkpoints were trained with).
MOE_EXPERT_INDEX = {"coco": 0, "aic": 1, "mpii": 2, "ap10k": 3, "apt36k": 4, "wholebody": 5}

FORMATS = ("official", "easy_vitpose", "vitpose++", "hf", "vitpose_ros")


class CheckpointError(ValueError):
    """A file that cannot be imported; the message is one sentence saying what was found."""


@dataclass
class ImportedCheckpoint:
    config: ViTPoseConfig
    state_dict: dict[str, torch.Tensor]  # our key names, loads strictly into ViTPose(config)
    source_format: str
    dataset: str
    dark_kernel: int = DARK_KERNEL  # decoding blur that suits the training targets (ours record it)


# ---------------------------------------------------------------------------------------------
# Reading files


def read_tensors(path: str | pathlib.Path) -> dict:
    """The raw dict stored in a ``.pth``/``.pt``/``.bin``/``.safetensors`` file."""
    path = pathlib.Path(path)
    if path.is_dir():  # an HF model folder
        for name in ("model.safetensors", "pytorch_model.bin"):
            if (path / name).is_file():
                return read_tensors(path / name)
        raise CheckpointError(f"{path}: folder holds no model.safetensors or pytorch_model.bin")
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    if _looks_like_safetensors(path):
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as exc:  # safetensors raises several types for corrupt files
            raise CheckpointError(f"{path}: damaged safetensors file ({exc})") from None
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"{path}: {_why_unreadable(path, exc)}") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: holds a {type(data).__name__}, not a state dict")
    return data


def _why_unreadable(path: pathlib.Path, exc: Exception) -> str:
    """A short reason for a failed torch.load (its own messages run to paragraphs)."""
    text = str(exc)
    with path.open("rb") as f:
        magic = f.read(4)
    if not magic:
        return "file is empty"
    if "Unsupported global" in text:
        return "holds pickled Python objects other than tensors, refused (weights-only loading)"
    if magic == b"PK\x03\x04":  # torch.save's zip container
        return "PyTorch archive is damaged or truncated"
    return "not a PyTorch (.pth/.pt/.bin) or safetensors checkpoint"


def _looks_like_safetensors(path: pathlib.Path) -> bool:
    # safetensors: 8-byte little-endian header length, then a JSON header starting with '{'.
    with path.open("rb") as f:
        head = f.read(9)
    if len(head) < 9 or head[8:9] != b"{":
        return False
    header_len = int.from_bytes(head[:8], "little")
    return 0 < header_len <= path.stat().st_size - 8


def _unwrap(data: dict) -> tuple[dict, bool, dict | None]:
    """(state dict, whether it was wrapped, our own config if present)."""
    own_config = data.get("vitpose_ros_config") if isinstance(data.get("vitpose_ros_config"), dict) else None
    for key in ("state_dict", "model", "module"):
        if isinstance(data.get(key), dict):
            inner = data[key]
            break
    else:
        inner, key = data, None
    tensors = {k.removeprefix("module."): v for k, v in inner.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise CheckpointError("checkpoint holds no tensors")
    return tensors, key is not None, own_config


def detect_format(state: dict, wrapped: bool, own_config: dict | None) -> str:
    keys = state.keys()
    if own_config is not None:
        return "vitpose_ros"
    if any(k.startswith("backbone.encoder.layer.") for k in keys):
        return "hf"
    if any(k.startswith("backbone.blocks.") for k in keys):
        if any(".mlp.experts." in k for k in keys):
            return "vitpose++"
        return "official" if wrapped else "easy_vitpose"
    sample = ", ".join(sorted(keys)[:3])
    raise CheckpointError(
        f"not a ViTPose checkpoint: found {len(state)} tensors such as {sample}, but no "
        "'backbone.blocks.*' (official/easy_ViTPose) or 'backbone.encoder.layer.*' (transformers) keys"
    )


# ---------------------------------------------------------------------------------------------
# Shared pieces


def fold_position_embedding(pos: torch.Tensor, num_patches: int) -> torch.Tensor:
    """Official checkpoints carry a class-token slot the model adds to every patch: fold it in."""
    if pos.shape[1] == num_patches + 1:
        return pos[:, 1:] + pos[:, :1]
    if pos.shape[1] == num_patches:
        return pos
    raise CheckpointError(
        f"position embedding has {pos.shape[1]} tokens, expected {num_patches} or {num_patches + 1} "
        "for this input size"
    )


def _count_blocks(keys, pattern: str) -> int:
    indices = {int(m.group(1)) for k in keys if (m := re.match(pattern, k))}
    if not indices or indices != set(range(len(indices))):
        raise CheckpointError(f"transformer blocks missing or not numbered 0..N-1 ({sorted(indices)[:5]}...)")
    return len(indices)


def _resolve_heads(embed_dim: int, depth: int, num_heads: int | None) -> tuple[int, str]:
    variant = find_variant(embed_dim, depth)
    if num_heads is None:
        if variant is None:
            raise CheckpointError(
                f"shapes fit no ViTPose variant (embed_dim={embed_dim}, depth={depth}; known: "
                "S 384/12, B 768/12, L 1024/24, H 1280/32) and no head count was given (--num-heads)"
            )
        num_heads = variant_config(variant).num_heads
    return num_heads, variant or "custom"


def _dataset_for(num_keypoints: int, requested: str | None) -> str:
    if requested is not None:
        expected = DATASET_NUM_KEYPOINTS.get(requested)
        if expected is None:
            raise CheckpointError(f"unknown dataset {requested!r}; known: {', '.join(DATASET_NUM_KEYPOINTS)}")
        if expected != num_keypoints:
            raise CheckpointError(
                f"the checkpoint's head predicts {num_keypoints} keypoints but dataset {requested!r} has {expected}"
            )
        return requested
    for name, count in DATASET_NUM_KEYPOINTS.items():  # coco first: 17 is ambiguous, coco is usual
        if count == num_keypoints:
            return name
    return "custom"


def _head_from_official(state: dict, prefix: str) -> tuple[dict, str, int]:
    """Our ``head.*`` keys from an mmpose-style head at ``prefix``; (tensors, decoder, K)."""
    head = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    if "final_layer.weight" not in head:
        raise CheckpointError(f"no keypoint head found ('{prefix}final_layer.weight' missing)")
    decoder = "classic" if "deconv_layers.0.weight" in head else "simple"
    return {"head." + k: v for k, v in head.items()}, decoder, head["final_layer.weight"].shape[0]


# ---------------------------------------------------------------------------------------------
# Per-format converters: each returns (our state dict without pos folding, config kwargs)


def _convert_official(state: dict, dataset: str | None, moe: bool) -> tuple[dict, dict, str]:
    out = {k: v for k, v in state.items() if k.startswith("backbone.") and k != "backbone.cls_token"}
    if moe:
        expert = _expert_index(dataset)
        out = _merge_expert(out, expert, r"backbone\.blocks\.(\d+)\.mlp\.")
        head_prefix = "keypoint_head." if expert == 0 else f"associate_keypoint_heads.{expert - 1}."
    else:
        head_prefix = "keypoint_head."
    head, decoder, num_keypoints = _head_from_official(state, head_prefix)
    out.update(head)
    return out, {"decoder": decoder, "num_keypoints": num_keypoints}, dataset or ("coco" if moe else None)


def _expert_index(dataset: str | None) -> int:
    expert = MOE_EXPERT_INDEX.get(dataset or "coco")
    if expert is None:
        raise CheckpointError(f"ViTPose++ has no expert for dataset {dataset!r}; known: {', '.join(MOE_EXPERT_INDEX)}")
    return expert


def _merge_expert(state: dict, expert: int, mlp_pattern: str) -> dict:
    """MoE MLP -> plain MLP: output = [shared fc2 ; expert e] along the output dim."""
    out = {}
    experts_found = set()
    for key, value in state.items():
        m = re.match(mlp_pattern + r"experts\.(\d+)\.(weight|bias)$", key)
        if m:
            experts_found.add(int(m.group(2)))
            continue
        out[key] = value
    if expert not in experts_found:
        raise CheckpointError(f"ViTPose++ checkpoint has experts {sorted(experts_found)}, not {expert}")
    for key in list(out):
        m = re.match(mlp_pattern + r"fc2\.(weight|bias)$", key)
        if m:
            expert_key = key[: -len("fc2." + m.group(2))] + f"experts.{expert}.{m.group(2)}"
            out[key] = torch.cat([out[key], state[expert_key]], dim=0)
    return out


def _convert_hf(state: dict, dataset: str | None, hf_config: dict | None) -> tuple[dict, dict, str]:
    out: dict[str, torch.Tensor] = {}
    moe = any(".mlp.experts." in k for k in state)
    if moe:
        state = _merge_expert(state, _expert_index(dataset), r"backbone\.encoder\.layer\.(\d+)\.mlp\.")
    renames = {
        "backbone.embeddings.patch_embeddings.projection.": "backbone.patch_embed.proj.",
        "backbone.embeddings.position_embeddings": "backbone.pos_embed",
        "backbone.layernorm.": "backbone.last_norm.",
        "head.deconv1.": "head.deconv_layers.0.",
        "head.batchnorm1.": "head.deconv_layers.1.",
        "head.deconv2.": "head.deconv_layers.3.",
        "head.batchnorm2.": "head.deconv_layers.4.",
        "head.conv.": "head.final_layer.",
    }
    block_renames = {
        "attention.output.dense.": "attn.proj.",
        "layernorm_before.": "norm1.",
        "layernorm_after.": "norm2.",
        "mlp.fc1.": "mlp.fc1.",
        "mlp.fc2.": "mlp.fc2.",
    }
    qkv_parts: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        m = re.match(r"backbone\.encoder\.layer\.(\d+)\.(.*)$", key)
        if m:
            block, rest = m.groups()
            qm = re.match(r"attention\.attention\.(query|key|value)\.(weight|bias)$", rest)
            if qm:
                qkv_parts.setdefault(f"backbone.blocks.{block}.attn.qkv.{qm.group(2)}", {})[qm.group(1)] = value
                continue
            for old, new in block_renames.items():
                if rest.startswith(old):
                    out[f"backbone.blocks.{block}.{new}{rest[len(old):]}"] = value
                    break
            else:
                raise CheckpointError(f"unexpected transformers key {key!r}")
            continue
        for old, new in renames.items():
            if key.startswith(old):
                out[new + key[len(old):]] = value
                break
        else:
            raise CheckpointError(f"unexpected transformers key {key!r}")
    for key, parts in qkv_parts.items():
        if set(parts) != {"query", "key", "value"}:
            raise CheckpointError(f"{key}: attention is missing one of query/key/value")
        out[key] = torch.cat([parts["query"], parts["key"], parts["value"]], dim=0)
    if "head.final_layer.weight" not in out:
        raise CheckpointError("no keypoint head found ('head.conv.weight' missing)")
    kwargs = {
        "decoder": "classic" if "head.deconv_layers.0.weight" in out else "simple",
        "num_keypoints": out["head.final_layer.weight"].shape[0],
    }
    backbone_cfg = (hf_config or {}).get("backbone_config", {})
    if "layer_norm_eps" in backbone_cfg:
        kwargs["layer_norm_eps"] = float(backbone_cfg["layer_norm_eps"])
    if "num_attention_heads" in backbone_cfg:
        kwargs["num_heads"] = int(backbone_cfg["num_attention_heads"])
    if "image_size" in backbone_cfg:
        kwargs["image_size"] = tuple(int(s) for s in backbone_cfg["image_size"])
    return out, kwargs, dataset or ("coco" if moe else None)


def _read_hf_config(path: pathlib.Path) -> dict | None:
    folder = path if path.is_dir() else path.parent
    config_path = folder / "config.json"
    if not config_path.is_file():
        return None
    try:
        config = json.loads(config_path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return config if config.get("model_type") == "vitpose" else None


# ---------------------------------------------------------------------------------------------
# Entry point


def load_checkpoint(
    path: str | pathlib.Path,
    dataset: str | None = None,
    num_heads: int | None = None,
    image_size: tuple[int, int] | None = None,
) -> ImportedCheckpoint:
    """Read any supported checkpoint; returns a config and a state dict for ``ViTPose``.

    ``dataset`` picks the ViTPose++ expert/head and labels the keypoints (default: inferred from
    the keypoint count, coco for 17). ``num_heads`` is needed only for non-standard widths.
    """
    path = pathlib.Path(path)
    data = read_tensors(path)
    state, wrapped, own_config = _unwrap(data)
    fmt = detect_format(state, wrapped, own_config)

    if fmt == "vitpose_ros":
        config = ViTPoseConfig.from_dict({k: v for k, v in own_config.items() if k not in ("dataset", "dark_kernel")})
        _check_loads(config, state)
        return ImportedCheckpoint(config, state, fmt, dataset or own_config.get("dataset", "coco"),
                                  int(own_config.get("dark_kernel", DARK_KERNEL)))

    if fmt == "hf":
        out, kwargs, dataset = _convert_hf(state, dataset, _read_hf_config(path))
    else:
        out, kwargs, dataset = _convert_official(state, dataset, moe=fmt == "vitpose++")

    if "backbone.patch_embed.proj.weight" not in out or "backbone.pos_embed" not in out:
        raise CheckpointError("no patch embedding / position embedding found: not a ViTPose backbone")
    embed_dim = out["backbone.patch_embed.proj.weight"].shape[0]
    depth = _count_blocks(out, r"backbone\.blocks\.(\d+)\.")
    heads, variant = _resolve_heads(embed_dim, depth, num_heads or kwargs.pop("num_heads", None))
    kwargs.pop("num_heads", None)
    fc1 = out["backbone.blocks.0.mlp.fc1.weight"]
    if image_size is not None:
        kwargs["image_size"] = tuple(image_size)
    config = ViTPoseConfig(
        embed_dim=embed_dim, depth=depth, num_heads=heads, mlp_ratio=fc1.shape[0] / embed_dim,
        variant=variant, **kwargs,
    )
    grid = config.grid_size
    out["backbone.pos_embed"] = fold_position_embedding(out["backbone.pos_embed"], grid[0] * grid[1])
    dataset = _dataset_for(config.num_keypoints, dataset)
    _check_loads(config, out)
    return ImportedCheckpoint(config, out, fmt, dataset)


def _check_loads(config: ViTPoseConfig, state: dict) -> None:
    """Fail with one sentence if the tensors do not fit the config exactly."""
    from .vitpose import ViTPose

    with torch.device("meta"):
        expected = ViTPose(config).state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) if tuple(expected[k].shape) != tuple(state[k].shape))
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing {missing[:3]}")
        if unexpected:
            parts.append(f"unexpected {unexpected[:3]}")
        if wrong:
            k = wrong[0]
            parts.append(f"{k} is {tuple(state[k].shape)}, expected {tuple(expected[k].shape)}")
        raise CheckpointError(f"checkpoint does not fit a ViTPose-{config.variant}: " + "; ".join(parts))


def save_own_checkpoint(path: str | pathlib.Path, config: ViTPoseConfig, state_dict: dict,
                        dataset: str = "coco", dark_kernel: int = DARK_KERNEL, **extra) -> None:
    """Write a checkpoint in our own format (loadable with weights_only=True)."""
    own = config.to_dict()
    own["dataset"] = dataset
    own["dark_kernel"] = dark_kernel
    torch.save({"state_dict": state_dict, "vitpose_ros_config": own, **extra}, path)
