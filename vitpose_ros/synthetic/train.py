"""Train a small ViTPose on synthetic people (torch), then export it to ONNX.

    python -m vitpose_ros.synthetic.train --output-dir runs/synthetic --bf16 --compile [--steps 8500] [--seed 0]

Recipe (the shipped demo model's exact command is in vitpose_ros/synthetic/models/README.md):
- data: scenes and single-person crops from ``vitpose_ros.synthetic`` (training seeds are
  ``seed * 10**6 + i``; evaluation uses seeds from 10**9 up, never seen here), cut into model
  inputs with the runtime's own pre-processing (box padded 1.25, UDP crop), plus scale/shift jitter;
- targets: UDP Gaussian heatmaps (sigma 1.1 heatmap pixels, centres mapped with the UDP (size-1)
  ratio), MSE weighted by visibility (v > 0);
- horizontal flip augmentation with the COCO flip pairs (``--flip-prob``), OFF by default for the
  synthetic people: their sides are told apart by shade (left lighter, right darker), and a mirrored
  sample shows a lighter arm labelled "right", contradicting every unmirrored one. With it on, the
  model has to learn to ignore shade and guess sides from the face and collar: at 1,500 steps
  PCK@0.05 was 0.32 / 0.34 (crops / scenes) with mirroring at p=0.5 and 0.54 / 0.57 without. Use
  p=0.5 (ViTPose's value) for data whose sides look alike, as real people's do;
- AdamW, linear warm-up then cosine decay; seeded; on a GPU when there is one.

The defaults are the shipped model's recipe. They were picked by short timed runs on a 2-core CPU
(1,500 steps or the same time; PCK@0.05 crops / scenes on held-out frames):
- the model is compute-bound, not data-bound: PCK on training seeds is no higher than on held-out
  ones (0.83 / 0.84 against 0.83 / 0.85 for an earlier model);
- batch 32 at a peak rate of 2e-3 beat batch 64 at rates 3e-4..2.5e-3, a rate of 3e-3 and the
  "simple" decoder; batch 16 learnt a little more per sample but ran 25 % slower per sample here;
- sharper targets helped: sigma 1.5 beat 2 (0.32 / 0.34 against 0.26 / 0.30), and in full runs
  1.25 beat 1.5 and 1.1 beat 1.25; sigma 1.0 tied with 1.1 (0.838 / 0.857 against 0.834 / 0.857);
- the rest was precision: with 128x96 input (32x24 heatmaps) 77 % of crop keypoints landed within
  0.04 of the box and 87 % within 0.06, so PCK@0.05 sat on the edge of a heatmap pixel. A 160x128
  input with a 64-channel head (the time the wider head took goes to the larger input) beat
  128x96 with 128 channels: 0.517 / 0.541 in 1,275 steps (414 s) against 0.466 / 0.498 in 1,500
  (336 s), and in full runs 0.887 / 0.895 in 8,500 steps (39 min) against 0.834 / 0.857 in 12,000
  (40 min). 192x144 with a narrower backbone (embed 128) was no better;
- an exponential moving average of the weights (decay 0.999) tied with the last step's weights
  (0.887 / 0.894 against 0.887 / 0.895): the cosine schedule already ends at a rate near zero.
The export carries the DARK blur kernel that suits the sigma (``decode.dark_kernel_for_sigma``: 5
here, 11 for ViTPose's sigma 2).
"""
from __future__ import annotations

import argparse
import math
import multiprocessing
import pathlib
import sys
import time

import numpy as np

from ..core.preprocess import CropBatcher, boxes_to_center_size, udp_warp_matrix
from ..core.skeletons import get_skeleton

EVAL_SEED_BASE = 10**9  # evaluation seeds start here; training never reaches them


def parse_size(text: str) -> tuple[int, int]:
    height, width = (int(v) for v in text.lower().split("x"))
    return height, width


# ---------------------------------------------------------------------------------------------
# Data


def _samples_from_image(image, boxes, keypoints, input_size, rng, jitter=True):
    """Crops (uint8 HxWx3) and crop-space keypoints (x, y, v) of every labelled person."""
    height, width = input_size
    batcher = CropBatcher(input_size, max_batch=max(1, len(boxes)))
    centers, sizes = boxes_to_center_size(boxes, width / height)
    if jitter:
        sizes = sizes * rng.uniform(0.85, 1.2, (len(boxes), 1))
        centers = centers + sizes * rng.uniform(-0.05, 0.05, (len(boxes), 2))
    crops = batcher.crop(image, centers, sizes).copy()
    out = []
    for crop, center, size, kps in zip(crops, centers, sizes, keypoints):
        m = udp_warp_matrix(center, size, (width, height))
        xy = kps[:, :2] @ m[:, :2].T + m[:, 2]
        if (kps[:, 2] > 0).sum() < 3:
            continue
        out.append((crop, np.concatenate([xy, kps[:, 2:3]], 1).astype(np.float32)))
    return out


def _render_job(job):
    seed, kind, input_size = job
    from .. import synthetic

    rng = np.random.default_rng(seed + 7)
    if kind == "scene":
        image, boxes, keypoints = synthetic.render_scene(seed)
    else:
        image, boxes, keypoints = synthetic.render_person_crop(seed)
    return _samples_from_image(image, boxes, keypoints, input_size, rng)


def rendered(render_job, jobs: list, workers: int = 2, progress: bool = True):
    """``render_job(job)`` for each job, in order, from ``workers`` rendering processes."""
    bar = _progress_bar(len(jobs), "rendering", progress)
    # forkserver, not fork: a fork inherits whatever lock another thread held at that moment
    # (a test process runs ROS and ONNX Runtime threads), and a worker stuck on one hangs the pool
    with multiprocessing.get_context("forkserver").Pool(workers) as pool:
        for result in pool.imap(render_job, jobs, chunksize=16):
            yield result
            bar.update(1)
    bar.close()


def build_dataset(num_images: int, seed: int, input_size, workers: int = 2, progress=True):
    """(crops uint8 (M,H,W,3), keypoints float32 (M,17,3)) from half scenes, half person crops."""
    jobs = [(seed * 10**6 + i, "scene" if i % 2 == 0 else "crop", tuple(input_size)) for i in range(num_images)]
    crops, keypoints = [], []
    for samples in rendered(_render_job, jobs, workers, progress):
        for crop, kps in samples:
            crops.append(crop)
            keypoints.append(kps)
    return np.stack(crops), np.stack(keypoints)


def heatmap_targets(keypoints, input_size, sigma: float = 2.0):
    """UDP Gaussian targets (N,K,h,w) and weights (N,K) from crop-space keypoints (N,K,3) (torch)."""
    import torch

    height, width = input_size
    hm_h, hm_w = height // 4, width // 4
    mu_x = keypoints[..., 0] * (hm_w - 1) / (width - 1)
    mu_y = keypoints[..., 1] * (hm_h - 1) / (height - 1)
    xs = torch.arange(hm_w, dtype=torch.float32, device=keypoints.device)
    ys = torch.arange(hm_h, dtype=torch.float32, device=keypoints.device)
    gx = torch.exp(-((xs - mu_x[..., None]) ** 2) / (2 * sigma**2))
    gy = torch.exp(-((ys - mu_y[..., None]) ** 2) / (2 * sigma**2))
    targets = gy[..., :, None] * gx[..., None, :]
    inside = (mu_x >= -0.5) & (mu_x <= hm_w - 0.5) & (mu_y >= -0.5) & (mu_y <= hm_h - 0.5)
    weights = ((keypoints[..., 2] > 0) & inside).float()
    return targets, weights


def flip_batch(images, keypoints, flip_permutation, mask):
    """Mirror the samples selected by ``mask`` (images NCHW, keypoints (N,K,3) in crop pixels)."""
    width = images.shape[-1]
    images[mask] = images[mask].flip(-1)
    flipped = keypoints[mask][:, flip_permutation]
    flipped[..., 0] = width - 1 - flipped[..., 0]
    keypoints[mask] = flipped
    return images, keypoints


def sample_batch(crops, keypoints, batch: int, flip_prob: float, flip_permutation, generator):
    """A random batch: images (N,3,H,W) float 0..255, keypoints (N,K,3), the source indices, and
    which samples were mirrored (each with probability ``flip_prob``)."""
    import torch

    index = torch.randint(len(crops), (batch,), generator=generator)
    images = crops[index].permute(0, 3, 1, 2).float()
    kps = keypoints[index].clone()
    mirrored = torch.rand(batch, generator=generator) < flip_prob
    images, kps = flip_batch(images, kps, flip_permutation, mirrored)
    return images, kps, index, mirrored


def learning_rate(step: int, total: int, base: float, warmup: int) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return base * 0.5 * (1 + math.cos(math.pi * progress))


# ---------------------------------------------------------------------------------------------
# Training


def train(args) -> dict:
    """Returns {"onnx": path, "checkpoint": path, "losses": per-step losses}."""
    import torch

    from ..core.decode import dark_kernel_for_sigma
    from ..model import save_own_checkpoint

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() and not args.cpu else "cpu")
    input_size = parse_size(args.input_size)
    out_dir = pathlib.Path(args.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with (out_dir / "train_log.txt").open("w") as log:
        def say(text):
            print(text, flush=True)
            log.write(text + "\n")
            log.flush()

        say(f"command: python -m vitpose_ros.synthetic.train {' '.join(sys.argv[1:])}")
        start = time.time()
        crops, keypoints = build_dataset(args.images, args.seed, input_size, workers=args.workers)
        say(f"dataset: {len(crops)} person crops from {args.images} rendered images in {time.time() - start:.0f} s")
        cfg, model = _new_model(args, input_size, device, say)
        dark_kernel = dark_kernel_for_sigma(args.sigma)  # decoding that suits these targets, kept with the model

        def save_last():  # lets a long run be inspected (and evaluated) while it goes
            save_own_checkpoint(out_dir / "vitpose_synthetic_last.pth", cfg,
                                {k: v.detach().cpu() for k, v in model.state_dict().items()}, dataset="coco",
                                dark_kernel=dark_kernel)

        losses, running = _optimise(model, crops, keypoints, args, input_size, device, say, start, save_last)
        checkpoint, onnx_path = _save_and_export(model.cpu().eval(), cfg, dark_kernel, args, out_dir)
        say(f"final loss {running:.4e}; checkpoint {checkpoint}; ONNX {onnx_path} "
            f"({onnx_path.stat().st_size / 1e6:.1f} MB); total {time.time() - start:.0f} s")
    return {"onnx": onnx_path, "checkpoint": checkpoint, "losses": losses}


def _new_model(args, input_size, device, say):
    """(config, model in training mode on ``device``): seeded initial weights, or ``--init-from``'s."""
    from ..model import ViTPoseConfig, build_model, init_weights

    cfg = ViTPoseConfig(embed_dim=args.embed_dim, depth=args.depth, num_heads=args.heads, image_size=input_size,
                        decoder=args.decoder, deconv_channels=args.deconv_channels, variant="synthetic")
    model = init_weights(build_model(cfg), seed=args.seed)
    if args.init_from:  # continue from an earlier run (a multi-stage recipe stays reproducible)
        from ..model import load_checkpoint

        previous = load_checkpoint(args.init_from)
        if previous.config.to_dict() != cfg.to_dict():
            raise SystemExit(f"--init-from {args.init_from}: its config {previous.config.to_dict()} "
                             "differs from this run's")
        model.load_state_dict(previous.state_dict)
    model = model.train().to(device)
    params = sum(p.numel() for p in model.parameters())
    say(f"model: {cfg.to_dict()} ({params / 1e6:.2f} M parameters) on {device}")
    return cfg, model


def _adamw(model, args):
    """AdamW with weight decay on the weight matrices only (not on biases, norms or pos_embed)."""
    import torch

    decay = [p for n, p in model.named_parameters() if p.dim() > 1 and "pos_embed" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.dim() > 1 and "pos_embed" not in n)]
    return torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}], lr=args.lr)


def _optimise(model, crops, keypoints, args, input_size, device, say, start, save_last):
    """``args.steps`` steps on random batches of the dataset, logging every 250 and calling
    ``save_last`` every 1,000. Returns (per-step losses, the smoothed loss at the end)."""
    import torch

    optimizer = _adamw(model, args)
    mean = torch.tensor([0.485, 0.456, 0.406], device=device).view(1, 3, 1, 1) * 255
    std = torch.tensor([0.229, 0.224, 0.225], device=device).view(1, 3, 1, 1) * 255
    flip_permutation = torch.from_numpy(get_skeleton("coco").flip_permutation())
    all_crops = torch.from_numpy(crops)  # uint8 NHWC, stays on the CPU
    all_keypoints = torch.from_numpy(keypoints)
    gen = torch.Generator().manual_seed(args.seed)

    forward = _compiled(model, args.batch, args.bf16, say) if args.compile else model

    bar = _progress_bar(args.steps, "training")
    running = None
    losses = []
    for step in range(args.steps):
        images, kps, _, _ = sample_batch(all_crops, all_keypoints, args.batch, args.flip_prob, flip_permutation, gen)
        images = ((images.to(device) - mean) / std)
        targets, weights = heatmap_targets(kps.to(device), input_size, args.sigma)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, args.steps, args.lr, args.warmup)
        losses.append(_step(model, forward, optimizer, images, targets, weights, device, args.bf16))
        running = losses[-1] if running is None else 0.98 * running + 0.02 * losses[-1]
        bar.update(1, f"loss {running:.2e}")
        if (step + 1) % 250 == 0 or step == 0:
            say(f"step {step + 1}/{args.steps} loss {running:.4e} lr {optimizer.param_groups[0]['lr']:.2e} "
                f"({time.time() - start:.0f} s)")
        if (step + 1) % 1000 == 0:
            save_last()
    bar.close()
    return losses, running


def _step(model, forward, optimizer, images, targets, weights, device, bf16: bool) -> float:
    """One optimiser step on the visibility-weighted heatmap MSE, gradients clipped to norm 1."""
    import torch

    # bf16 autocast: faster on CPUs with AVX512-BF16 and on GPUs; the loss stays fp32
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        output = forward(images)
    per_joint = ((output.float() - targets) ** 2).mean(dim=(2, 3))
    loss = (per_joint * weights).sum() / weights.sum().clamp(min=1)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    return loss.item()


def _save_and_export(model, cfg, dark_kernel, args, out_dir):
    """The final checkpoint (with how it was trained) and its ONNX export; returns both paths."""
    from ..model import save_own_checkpoint
    from ..model.checkpoints import ImportedCheckpoint
    from ..model.export import export_model, metadata_for

    checkpoint = out_dir / "vitpose_synthetic.pth"
    save_own_checkpoint(checkpoint, cfg, model.state_dict(), dataset="coco", dark_kernel=dark_kernel,
                        training={"command": "python -m vitpose_ros.synthetic.train " + " ".join(sys.argv[1:]),
                                  "seed": args.seed, "steps": args.steps, "sigma": args.sigma})
    onnx_path = pathlib.Path(args.export) if args.export else out_dir / "vitpose_synthetic_coco.onnx"
    imported = ImportedCheckpoint(cfg, model.state_dict(), "vitpose_ros", "coco", dark_kernel)
    export_model(model, onnx_path, metadata_for(imported))
    return checkpoint, onnx_path


def _compiled(model, batch, bf16, say):
    """``torch.compile`` of the model: fuses the many small element-wise ops around the matmuls, so
    steps run faster after a one-off compile of about a minute. One probe step at the training batch
    size compiles forward and backward up front; the model's weights and BatchNorm statistics are
    restored after it, so the run itself is unchanged. Falls back to eager, with one line, where
    the backend cannot compile (no C++ compiler, ...)."""
    import torch

    saved = {k: v.clone() for k, v in model.state_dict().items()}
    compiled = torch.compile(model)
    device = next(model.parameters()).device
    probe = torch.zeros(batch, 3, *model.config.image_size, device=device)
    try:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):  # as in training
            output = compiled(probe)
        output.float().sum().backward()
    except Exception as exc:  # inductor raises many kinds; any of them means "run eager"
        say(f"torch.compile unavailable ({type(exc).__name__}: {str(exc).splitlines()[0][:120]}); training eager")
        compiled = model
    model.load_state_dict(saved)
    model.zero_grad(set_to_none=True)
    return compiled


class _progress_bar:
    """tqdm when installed, a plain periodic line otherwise."""

    def __init__(self, total, label, enabled=True):
        self.total, self.label, self.done, self.enabled = total, label, 0, enabled
        try:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=label, disable=not enabled, mininterval=2.0)
        except ImportError:
            self.bar = None

    def update(self, n=1, postfix=None):
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
            if postfix:
                self.bar.set_postfix_str(postfix, refresh=False)
        elif self.enabled and self.done % max(1, self.total // 20) == 0:
            print(f"{self.label}: {self.done}/{self.total} {postfix or ''}", file=sys.stderr)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def parse_args(argv=None):
    from ..model.vitpose import DECODERS

    parser = argparse.ArgumentParser(prog="vitpose-train", description=__doc__.split("\n\n")[0])
    parser.add_argument("--output-dir", required=True, help="where the log, checkpoint and ONNX go")
    parser.add_argument("--export", help="ONNX path (default: <output-dir>/vitpose_synthetic_coco.onnx)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--images", type=int, default=24000, help="rendered images (half scenes, half crops)")
    parser.add_argument("--steps", type=int, default=8500)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3, help="peak learning rate")
    parser.add_argument("--weight-decay", type=float, default=0.05)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--input-size", default="160x128", help="model input HxW")
    parser.add_argument("--embed-dim", type=int, default=192)
    parser.add_argument("--depth", type=int, default=6)
    parser.add_argument("--heads", type=int, default=6)
    parser.add_argument("--decoder", choices=tuple(DECODERS), default="classic")
    parser.add_argument("--deconv-channels", type=int, default=64, help="classic decoder width")
    parser.add_argument("--sigma", type=float, default=1.1, help="target Gaussian sigma in heatmap pixels")
    parser.add_argument("--flip-prob", type=float, default=0.0,
                        help="probability of mirroring a sample, flip pairs swapped "
                             "(0: synthetic sides differ by shade)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--workers", type=int, default=2, help="rendering processes")
    parser.add_argument("--cpu", action="store_true", help="train on the CPU even when a GPU is present")
    parser.add_argument("--bf16", action="store_true", help="bfloat16 autocast (faster on AVX512-BF16 CPUs and GPUs)")
    parser.add_argument("--compile", action="store_true",
                        help="torch.compile the model (faster steps after a one-off compile of about a minute)")
    parser.add_argument("--init-from", help="start from this checkpoint (same architecture) instead of random weights")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    train(parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
