"""Export figures: time and file size for ViTPose-S/B, ONNX-vs-torch max diff for each checkpoint format.

    python benchmarks/export_report.py [--variants s b]

Random weights written in each foreign layout (official mmpose, easy_ViTPose, ViTPose++ MoE,
transformers safetensors), then the real export CLI on each; prints one table. Not a test.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import pathlib
import re
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "test"))


def export(checkpoint: pathlib.Path, out: pathlib.Path, *extra) -> tuple[float, float, float]:
    from vitpose_ros.model import export as export_cli

    buffer = io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(buffer):
        code = export_cli.main(["--checkpoint", str(checkpoint), "--output", str(out), *extra])
    seconds = time.perf_counter() - start
    if code != 0:
        raise SystemExit(f"export of {checkpoint} failed")
    diff = float(re.search(r"max abs diff: (\S+)", buffer.getvalue()).group(1))
    size = out.stat().st_size + (out.with_name(out.name + ".data").stat().st_size
                                 if out.with_name(out.name + ".data").exists() else 0)
    return seconds, size / 1e6, diff


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", nargs="+", default=["s", "b"])
    args = parser.parse_args()
    import torch
    from hf_reference import hf_backbone_to_official, hf_head_to_official, make_hf_model

    from vitpose_ros.model import variant_config

    print(f"{'variant':<8}{'format':<14}{'export s':>9}{'size MB':>9}{'ONNX vs torch':>15}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        for variant in args.variants:
            cfg = variant_config(variant)
            hf = make_hf_model(hidden=cfg.embed_dim, layers=cfg.depth, heads=cfg.num_heads)
            state = hf.state_dict()
            official = hf_backbone_to_official(state)
            official.update(hf_head_to_official(state, "keypoint_head."))
            torch.save({"meta": {}, "state_dict": official}, tmp / "official.pth")
            torch.save(official, tmp / "easy.pth")
            hf.save_pretrained(tmp / "hf")
            moe = make_hf_model(hidden=cfg.embed_dim, layers=cfg.depth, heads=cfg.num_heads, experts=6,
                                part_features=cfg.embed_dim // 4)
            plus = hf_backbone_to_official(moe.state_dict())
            plus.update(hf_head_to_official(moe.state_dict(), "keypoint_head."))
            torch.save({"state_dict": plus}, tmp / "plus.pth")
            for fmt, path in [("official", tmp / "official.pth"), ("easy_vitpose", tmp / "easy.pth"),
                              ("vitpose++", tmp / "plus.pth"), ("hf", tmp / "hf")]:
                seconds, size, diff = export(path, tmp / f"{variant}_{fmt}.onnx")
                print(f"ViT-{variant.upper():<4}{fmt:<14}{seconds:>9.1f}{size:>9.1f}{diff:>15.2e}", flush=True)


if __name__ == "__main__":
    main()
