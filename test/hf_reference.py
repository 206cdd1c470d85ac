"""Small random transformers ViTPose models and writers of foreign checkpoint layouts (tests only).

transformers' ``VitPoseForPoseEstimation`` is an implementation independent of ours, so heatmaps
it computes are the reference our importer/exporter must reproduce.
"""
import re

import torch
from transformers import VitPoseBackboneConfig, VitPoseConfig, VitPoseForPoseEstimation


def make_hf_model(hidden=64, layers=2, heads=4, num_keypoints=17, simple=False, experts=1,
                  part_features=16, layer_norm_eps=1e-6, seed=0):
    backbone = VitPoseBackboneConfig(
        hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
        layer_norm_eps=layer_norm_eps, num_experts=experts,
        part_features=part_features,
    )
    config = VitPoseConfig(backbone_config=backbone, use_simple_decoder=simple, num_labels=num_keypoints)
    model = VitPoseForPoseEstimation(config).eval()
    randomize(model, seed)
    return model


def randomize(model, seed):
    """Every parameter and BN statistic random: untouched defaults (ones, zeros) hide mapping bugs."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if tensor.dtype != torch.float32:
                continue
            if name.endswith("running_var"):
                tensor.copy_(torch.rand(tensor.shape, generator=gen) + 0.5)
            else:
                tensor.copy_(torch.randn(tensor.shape, generator=gen) * 0.05)
    return model


def hf_heatmaps(model, x, dataset_index=None):
    with torch.no_grad():
        kwargs = {}
        if dataset_index is not None:
            kwargs["dataset_index"] = torch.full((x.shape[0],), dataset_index, dtype=torch.long)
        return model(pixel_values=x, **kwargs).heatmaps.numpy()


def hf_head_to_official(state, prefix):
    names = {"head.deconv1.": "deconv_layers.0.", "head.batchnorm1.": "deconv_layers.1.",
             "head.deconv2.": "deconv_layers.3.", "head.batchnorm2.": "deconv_layers.4.",
             "head.conv.": "final_layer."}
    out = {}
    for key, value in state.items():
        for old, new in names.items():
            if key.startswith(old):
                out[prefix + new + key[len(old):]] = value.clone()
    return out


def hf_backbone_to_official(state, with_cls_token=True):
    """The HF backbone in the official mmpose key layout (MoE experts kept as they are)."""
    out = {}
    qkv = {}
    for key, value in state.items():
        if not key.startswith("backbone."):
            continue
        m = re.match(r"backbone\.encoder\.layer\.(\d+)\.(.*)", key)
        if m:
            i, rest = m.groups()
            q = re.match(r"attention\.attention\.(query|key|value)\.(weight|bias)", rest)
            if q:
                qkv.setdefault((i, q.group(2)), {})[q.group(1)] = value
                continue
            rest = (rest.replace("attention.output.dense.", "attn.proj.")
                    .replace("layernorm_before.", "norm1.").replace("layernorm_after.", "norm2."))
            out[f"backbone.blocks.{i}.{rest}"] = value.clone()
            continue
        key = (key.replace("backbone.embeddings.patch_embeddings.projection.", "backbone.patch_embed.proj.")
               .replace("backbone.embeddings.position_embeddings", "backbone.pos_embed")
               .replace("backbone.layernorm.", "backbone.last_norm."))
        out[key] = value.clone()
    for (i, kind), parts in qkv.items():
        out[f"backbone.blocks.{i}.attn.qkv.{kind}"] = torch.cat([parts["query"], parts["key"], parts["value"]])
    if with_cls_token:
        out["backbone.cls_token"] = torch.zeros(1, 1, out["backbone.pos_embed"].shape[-1])
    return out
