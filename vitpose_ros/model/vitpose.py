"""ViTPose (Xu et al., 2022): a plain ViT backbone plus a light heatmap decoder.

The whole family (S/B/L/H and a small custom size) lives in this one file. Module names follow
the official implementation (``backbone.blocks.<i>.attn.qkv`` ...) so that importing an official
checkpoint is mostly a renaming of the head prefix; see ``checkpoints.py`` for the converters.

Facts this module is built to (official ViTPose / mmpose definitions):
- patch embedding: Conv2d k=16, s=16, padding=2, so 256x192 gives a 16x12 token grid;
- absolute position embedding, no class token at inference (official checkpoints carry one extra
  position, which the loader folds into the others);
- pre-norm transformer blocks, LayerNorm eps 1e-6, fused qkv with bias, exact GELU, mlp ratio 4;
- a final LayerNorm (``last_norm``);
- heads: "classic" = 2 x (ConvTranspose2d k4 s2 p1, no bias -> BN -> ReLU) at 256 channels then a
  1x1 conv; "simple" = ReLU -> bilinear x4 -> 3x3 conv. Heatmaps come out at 1/4 input size.

torch is imported here; the runtime never imports this module.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

# Keypoint count of each dataset the official checkpoints were trained on.
DATASET_NUM_KEYPOINTS = {
    "coco": 17,
    "wholebody": 133,
    "mpii": 16,
    "aic": 14,
    "ap10k": 17,
    "apt36k": 17,
}

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ViTPoseConfig:
    """Everything needed to rebuild a ViTPose network (and nothing about its weights)."""

    embed_dim: int
    depth: int
    num_heads: int
    mlp_ratio: float = 4.0
    image_size: tuple[int, int] = (256, 192)  # (height, width)
    patch_size: int = 16
    patch_padding: int = 2
    layer_norm_eps: float = 1e-6
    num_keypoints: int = 17
    decoder: str = "classic"  # "classic" | "simple"
    deconv_channels: int = 256
    variant: str = "custom"
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def grid_size(self) -> tuple[int, int]:
        """Token grid (rows, cols) the patch embedding produces for ``image_size``."""
        return tuple(
            (side + 2 * self.patch_padding - self.patch_size) // self.patch_size + 1
            for side in self.image_size
        )

    @property
    def heatmap_size(self) -> tuple[int, int]:
        return (self.image_size[0] // 4, self.image_size[1] // 4)

    def replace(self, **changes) -> "ViTPoseConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data.pop("extra")
        data["image_size"] = list(self.image_size)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "ViTPoseConfig":
        data = dict(data)
        data["image_size"] = tuple(data["image_size"])
        return cls(**data)


# The published sizes (embed_dim, depth, heads). "tiny" is ours: tests and the shipped demo.
VARIANTS = {
    "s": ViTPoseConfig(embed_dim=384, depth=12, num_heads=12, variant="s"),
    "b": ViTPoseConfig(embed_dim=768, depth=12, num_heads=12, variant="b"),
    "l": ViTPoseConfig(embed_dim=1024, depth=24, num_heads=16, variant="l"),
    "h": ViTPoseConfig(embed_dim=1280, depth=32, num_heads=16, variant="h"),
    "tiny": ViTPoseConfig(embed_dim=96, depth=4, num_heads=3, variant="tiny"),
}


def variant_config(name: str, **overrides) -> ViTPoseConfig:
    try:
        base = VARIANTS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown ViTPose variant {name!r}; known: {', '.join(VARIANTS)}") from None
    return base.replace(**overrides)


def find_variant(embed_dim: int, depth: int) -> str | None:
    """Name of the published variant with this width and depth, or None."""
    for name, cfg in VARIANTS.items():
        if cfg.embed_dim == embed_dim and cfg.depth == depth:
            return name
    return None


class PatchEmbed(nn.Module):
    def __init__(self, cfg: ViTPoseConfig):
        super().__init__()
        self.proj = nn.Conv2d(
            3, cfg.embed_dim, kernel_size=cfg.patch_size, stride=cfg.patch_size,
            padding=cfg.patch_padding,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


class Attention(nn.Module):
    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"embed_dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, dim = x.shape
        qkv = self.qkv(x).reshape(batch, tokens, 3, self.num_heads, dim // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        # Plain matmul/softmax: exports to the pattern TensorRT fuses into its attention kernel.
        attn = (q * self.scale) @ k.transpose(-2, -1)
        attn = attn.softmax(dim=-1)
        out = (attn @ v).transpose(1, 2).reshape(batch, tokens, dim)
        return self.proj(out)


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()  # exact (erf) GELU, as the official model
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, cfg: ViTPoseConfig):
        super().__init__()
        dim = cfg.embed_dim
        self.norm1 = nn.LayerNorm(dim, eps=cfg.layer_norm_eps)
        self.attn = Attention(dim, cfg.num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=cfg.layer_norm_eps)
        self.mlp = Mlp(dim, int(dim * cfg.mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class ViTBackbone(nn.Module):
    """Plain ViT returning a (N, C, H/16, W/16) feature map."""

    def __init__(self, cfg: ViTPoseConfig):
        super().__init__()
        self.grid_size = cfg.grid_size
        self.patch_embed = PatchEmbed(cfg)
        num_patches = self.grid_size[0] * self.grid_size[1]
        # Stored already folded (no class-token slot); see checkpoints.fold_position_embedding.
        self.pos_embed = nn.Parameter(torch.zeros(1, num_patches, cfg.embed_dim))
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.depth))
        self.last_norm = nn.LayerNorm(cfg.embed_dim, eps=cfg.layer_norm_eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x)
        batch, channels, rows, cols = x.shape
        x = x.flatten(2).transpose(1, 2) + self.pos_embed
        for block in self.blocks:
            x = block(x)
        x = self.last_norm(x)
        return x.transpose(1, 2).reshape(batch, channels, rows, cols)


class ClassicDecoder(nn.Module):
    """Two stride-2 deconvolutions (x4) then a 1x1 conv to one heatmap per keypoint."""

    def __init__(self, cfg: ViTPoseConfig):
        super().__init__()
        ch = cfg.deconv_channels
        self.deconv_layers = nn.Sequential(
            nn.ConvTranspose2d(cfg.embed_dim, ch, 4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(ch),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(ch, ch, 4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(ch),
            nn.ReLU(inplace=True),
        )
        self.final_layer = nn.Conv2d(ch, cfg.num_keypoints, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.final_layer(self.deconv_layers(x))


class SimpleDecoder(nn.Module):
    """ReLU, bilinear x4 upsampling, one 3x3 conv: the paper's 'simple decoder'."""

    def __init__(self, cfg: ViTPoseConfig):
        super().__init__()
        self.final_layer = nn.Conv2d(cfg.embed_dim, cfg.num_keypoints, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(F.relu(x), scale_factor=4, mode="bilinear", align_corners=False)
        return self.final_layer(x)


DECODERS = {"classic": ClassicDecoder, "simple": SimpleDecoder}


class ViTPose(nn.Module):
    """(N, 3, H, W) normalised RGB -> (N, K, H/4, W/4) heatmaps."""

    def __init__(self, cfg: ViTPoseConfig):
        super().__init__()
        if cfg.decoder not in DECODERS:
            raise ValueError(f"unknown decoder {cfg.decoder!r}; known: {', '.join(DECODERS)}")
        self.config = cfg
        self.backbone = ViTBackbone(cfg)
        self.head = DECODERS[cfg.decoder](cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


def build_model(cfg: ViTPoseConfig, state_dict: dict | None = None) -> ViTPose:
    """A ViTPose in eval mode, with ``state_dict`` (our key names) loaded strictly if given."""
    model = ViTPose(cfg)
    if state_dict is not None:
        model.load_state_dict(state_dict, strict=True)
    return model.eval()


def init_weights(model: ViTPose, seed: int = 0) -> ViTPose:
    """Deterministic random init in the usual ViT style (for tests, benchmarks and training)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("bias"):
                param.zero_()
            elif "norm" in name or (param.dim() == 1):
                param.fill_(1.0)
            else:
                param.copy_(torch.randn(param.shape, generator=gen) * 0.02)
    return model
