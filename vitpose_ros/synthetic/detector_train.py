"""Train the tiny person detector (``detector_net``) on synthetic scenes (torch), then export it.

    python -m vitpose_ros.synthetic.detector_train --output-dir runs/detector --bf16 [--steps 4000] [--seed 0]

Recipe (the shipped detector's exact command is in vitpose_ros/synthetic/models/README.md):
- data: whole scenes from ``render_scene`` (1-4 people, clutter, occluders; training seeds
  ``seed * 10**6 + i``, evaluation uses seeds from 10**9 up, never seen here) with the figures'
  exact extents as boxes, resized to the network input by the runtime's own ``resize_for_detector``;
  horizontal mirroring at p = 0.5 (a box's class does not depend on sides);
- targets (CenterNet / TTFNet style, on the stride-4 grid): an elliptical Gaussian at each box's
  centre cell (sigma = 1/6 of the box size in cells, at least 0.8), the penalty-reduced focal loss
  on the heat map, an L1 loss on log(side distance / stride) at the centre cells, and a GIoU loss
  on the boxes of every cell where a box's Gaussian is >= 0.2, weighted by it (``--giou-weight``);
- AdamW, linear warm-up then cosine decay (``train.learning_rate``); seeded.

The defaults are the shipped detector's recipe. On 300 held-out scenes (AP@0.5, models README):
144x192 input, 10,000 scenes, 3,000 steps, no GIoU: 0.837; the same with GIoU and 5,000 steps:
0.866; 192x256 input, 16,000 scenes, GIoU, 4,000 steps (the shipped detector's first stage, then two
shorter stages on fresh scenes): see the models README.
"""
from __future__ import annotations

import argparse
import pathlib
import sys
import time

import numpy as np

from ..core.detector import DetectorMetadata, resize_for_detector
from .train import _progress_bar, learning_rate, parse_size, rendered

MAX_PEOPLE = 4  # render_scene draws 1..4
DETECTOR_FILE = "person_detector_synthetic.onnx"


def _render_job(job):
    seed, input_size, resize, crowded = job
    from .scenes import render_scene

    image, boxes, _ = render_scene(seed, box_jitter=False, crowded=crowded)
    resized, scale = resize_for_detector(image, input_size, resize)
    return resized, (boxes * np.tile(scale, 2)).astype(np.float32)


def build_dataset(num_images: int, seed: int, input_size, resize: str = "stretch", workers: int = 2,
                  progress: bool = True, crowded_fraction: float = 0.0):
    """(images uint8 (M,H,W,3), boxes float32 (M,MAX_PEOPLE,4) in network pixels, NaN rows = none).
    The first ``crowded_fraction`` of the scenes are crowded (``render_scene(crowded=True)``)."""
    crowded = round(crowded_fraction * num_images)
    jobs = [(seed * 10**6 + i, tuple(input_size), resize, i < crowded) for i in range(num_images)]
    images = np.zeros((num_images, *input_size, 3), np.uint8)
    boxes = np.full((num_images, MAX_PEOPLE, 4), np.nan, np.float32)
    for i, (image, image_boxes) in enumerate(rendered(_render_job, jobs, workers, progress)):
        images[i] = image
        boxes[i, :len(image_boxes)] = image_boxes[:MAX_PEOPLE]
    return images, boxes


def cached_dataset(args, input_size):
    """``build_dataset`` for these arguments, kept in ``--dataset-cache`` (.npz) when given: a rerun
    with other training settings skips the rendering."""
    key = np.array([args.images, args.seed, *input_size, args.crowded_fraction])
    cache = pathlib.Path(args.dataset_cache) if args.dataset_cache else None
    if cache is not None and cache.is_file():
        with np.load(cache) as data:
            if data["key"].tolist() == key.tolist() and str(data["resize"]) == args.resize:
                return data["images"], data["boxes"]
    images, boxes = build_dataset(args.images, args.seed, input_size, args.resize, args.workers,
                                  crowded_fraction=args.crowded_fraction)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, key=key, resize=args.resize, images=images, boxes=boxes)
    return images, boxes


def centre_targets(boxes, grid_size, stride: int):
    """Heat-map targets (B,1,h,w), centre cell index (B,P) into h*w, log side distances (B,P,4) and
    which rows are boxes (B,P), from network-pixel boxes (B,P,4) (NaN rows: no box). torch."""
    import torch

    grid_h, grid_w = grid_size
    valid = torch.isfinite(boxes).all(-1) & (boxes[..., 2] > boxes[..., 0]) & (boxes[..., 3] > boxes[..., 1])
    b = torch.where(valid[..., None], boxes, torch.zeros_like(boxes))
    cx, cy = (b[..., 0] + b[..., 2]) / 2, (b[..., 1] + b[..., 3]) / 2
    ix = (cx / stride).floor().clamp(0, grid_w - 1)
    iy = (cy / stride).floor().clamp(0, grid_h - 1)
    sx = ((b[..., 2] - b[..., 0]) / stride / 6).clamp(min=0.8)
    sy = ((b[..., 3] - b[..., 1]) / stride / 6).clamp(min=0.8)
    xs = torch.arange(grid_w, dtype=torch.float32)
    ys = torch.arange(grid_h, dtype=torch.float32)
    gx = torch.exp(-((xs - ix[..., None]) ** 2) / (2 * sx[..., None] ** 2))
    gy = torch.exp(-((ys - iy[..., None]) ** 2) / (2 * sy[..., None] ** 2))
    heat = (gy[..., :, None] * gx[..., None, :] * valid[..., None, None]).amax(1, keepdim=True)
    cell_x, cell_y = (ix + 0.5) * stride, (iy + 0.5) * stride
    sides = torch.stack([cell_x - b[..., 0], cell_y - b[..., 1], b[..., 2] - cell_x, b[..., 3] - cell_y], -1)
    log_sides = torch.log(sides.clamp(min=1.0) / stride)
    return heat, (iy * grid_w + ix).long(), log_sides, valid


def area_targets(boxes, grid_size, stride: int, min_weight: float = 0.2):
    """TTFNet-style box targets for every cell near a box centre: the box (B,h,w,4) whose Gaussian is
    highest at the cell, and a weight (B,h,w) = that Gaussian where it is >= ``min_weight``, else 0."""
    import torch

    grid_h, grid_w = grid_size
    valid = torch.isfinite(boxes).all(-1) & (boxes[..., 2] > boxes[..., 0]) & (boxes[..., 3] > boxes[..., 1])
    b = torch.where(valid[..., None], boxes, torch.zeros_like(boxes))
    ix = ((b[..., 0] + b[..., 2]) / 2 / stride).floor().clamp(0, grid_w - 1)
    iy = ((b[..., 1] + b[..., 3]) / 2 / stride).floor().clamp(0, grid_h - 1)
    sx = ((b[..., 2] - b[..., 0]) / stride / 6).clamp(min=0.8)
    sy = ((b[..., 3] - b[..., 1]) / stride / 6).clamp(min=0.8)
    gx = torch.exp(-((torch.arange(grid_w, dtype=torch.float32) - ix[..., None]) ** 2) / (2 * sx[..., None] ** 2))
    gy = torch.exp(-((torch.arange(grid_h, dtype=torch.float32) - iy[..., None]) ** 2) / (2 * sy[..., None] ** 2))
    per_box = gy[..., :, None] * gx[..., None, :] * valid[..., None, None]  # (B,P,h,w)
    weight, owner = per_box.max(1)
    target = b.gather(1, owner.flatten(1)[..., None].expand(-1, -1, 4)).view(*owner.shape, 4)
    return target, torch.where(weight >= min_weight, weight, torch.zeros_like(weight))


def giou_loss(pred_log_sides, target_boxes, weights, stride: int):
    """Weighted mean of 1 - GIoU between the boxes the cells predict (cell centre +- exp(log side)
    * stride) and their target boxes; ``weights`` (B,h,w) from ``area_targets``."""
    import torch

    grid_h, grid_w = pred_log_sides.shape[-2:]
    cx = (torch.arange(grid_w, dtype=torch.float32) + 0.5) * stride
    cy = (torch.arange(grid_h, dtype=torch.float32) + 0.5) * stride
    sides = pred_log_sides.float().clamp(max=8).exp() * stride  # (B,4,h,w)
    pred = torch.stack([cx - sides[:, 0], cy[:, None] - sides[:, 1], cx + sides[:, 2], cy[:, None] + sides[:, 3]], -1)
    t = target_boxes
    inter = ((torch.minimum(pred[..., 2], t[..., 2]) - torch.maximum(pred[..., 0], t[..., 0])).clamp(min=0)
             * (torch.minimum(pred[..., 3], t[..., 3]) - torch.maximum(pred[..., 1], t[..., 1])).clamp(min=0))
    area = lambda x: (x[..., 2] - x[..., 0]) * (x[..., 3] - x[..., 1])  # noqa: E731
    union = area(pred) + area(t) - inter
    hull = ((torch.maximum(pred[..., 2], t[..., 2]) - torch.minimum(pred[..., 0], t[..., 0]))
            * (torch.maximum(pred[..., 3], t[..., 3]) - torch.minimum(pred[..., 1], t[..., 1])))
    giou = inter / union.clamp(min=1e-6) - (hull - union) / hull.clamp(min=1e-6)
    return ((1 - giou) * weights).sum() / weights.sum().clamp(min=1e-6)


def detection_loss(logits, log_sides_pred, heat, index, log_sides, valid):
    """(total, focal, box L1): CenterNet's penalty-reduced focal loss + L1 on log side distances."""
    import torch

    p = torch.sigmoid(logits.float()).clamp(1e-4, 1 - 1e-4)
    positive = heat >= 1.0 - 1e-6  # centre cells (the Gaussian is exactly 1 there)
    pos_loss = (torch.log(p) * (1 - p) ** 2 * positive).sum()
    neg_loss = (torch.log(1 - p) * p ** 2 * (1 - heat) ** 4 * ~positive).sum()
    num_pos = valid.sum().clamp(min=1)
    focal = -(pos_loss + neg_loss) / num_pos
    pred = log_sides_pred.float().flatten(2).gather(2, index[:, None, :].expand(-1, 4, -1)).transpose(1, 2)
    box = ((pred - log_sides).abs().sum(-1) * valid).sum() / num_pos
    return focal + box, focal, box


def sample_batch(images, boxes, batch: int, mirror_prob: float, generator):
    """Random batch: images (B,3,H,W) float 0..255 and boxes (B,P,4), some mirrored left-right."""
    import torch

    index = torch.randint(len(images), (batch,), generator=generator)
    x = images[index].permute(0, 3, 1, 2).float()
    b = boxes[index].clone()
    mirror = torch.rand(batch, generator=generator) < mirror_prob
    width = x.shape[-1]
    x[mirror] = x[mirror].flip(-1)
    m = b[mirror]
    b[mirror] = torch.stack([width - m[..., 2], m[..., 1], width - m[..., 0], m[..., 3]], -1)
    return x, b


def detector_metadata(args, input_size) -> DetectorMetadata:
    return DetectorMetadata(input_height=input_size[0], input_width=input_size[1], mean=(0.5, 0.5, 0.5),
                            std=(0.25, 0.25, 0.25), resize=args.resize, class_names=("person",), person_class=0,
                            source="vitpose_ros synthetic people: python -m vitpose_ros.synthetic.detector_train "
                                   + " ".join(sys.argv[1:]), licence="Apache-2.0")


def initial_net(args):
    """(net, whether its batch norms must stay frozen): random weights, or ``--init-from``'s: a
    checkpoint of an earlier run (a multi-stage recipe stays reproducible) or an exported detector
    file (its batch norms are folded into the convolutions, so they come back fixed)."""
    import torch

    from .detector_net import TinyCenterNet, net_from_onnx

    if not args.init_from:
        return TinyCenterNet(head=args.head), False
    if str(args.init_from).endswith(".onnx"):
        try:
            net = net_from_onnx(args.init_from)
        except (OSError, ValueError) as exc:
            raise SystemExit(f"--init-from {args.init_from}: {exc}") from None
        head, frozen = net.lateral[0].out_channels, True
    else:
        previous = torch.load(args.init_from, map_location="cpu", weights_only=True)
        head, frozen = previous["head"], bool(previous.get("frozen_batchnorm", False))
        net = TinyCenterNet(head=head)
        net.load_state_dict(previous["state_dict"])
    if head != args.head:
        raise SystemExit(f"--init-from {args.init_from}: head {head} differs from --head {args.head}")
    return net, frozen


def train(args) -> dict:
    """Returns {"onnx": path, "checkpoint": path, "losses": per-step losses}."""
    import torch

    from .detector_net import STRIDE, DecodedDetector, export_detector, train_mode

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)  # subnormal floats (near-zero heat-map gradients) are slow on x86
    input_size = parse_size(args.input_size)
    grid = (input_size[0] // STRIDE, input_size[1] // STRIDE)
    out_dir = pathlib.Path(args.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    meta = detector_metadata(args, input_size)
    onnx_path = pathlib.Path(args.export) if args.export else out_dir / DETECTOR_FILE
    with (out_dir / "train_log.txt").open("w") as log:
        def say(text):
            print(text, flush=True)
            log.write(text + "\n")
            log.flush()

        say(f"command: python -m vitpose_ros.synthetic.detector_train {' '.join(sys.argv[1:])}")
        start = time.time()
        if args.steps:
            images, boxes = cached_dataset(args, input_size)
            say(f"dataset: {int(np.isfinite(boxes[..., 0]).sum())} persons in {args.images} scenes, "
                f"rendered in {time.time() - start:.0f} s")
        elif not args.init_from:
            raise SystemExit("--steps 0 (export only) needs --init-from")
        net, frozen_batchnorm = initial_net(args)
        if args.init_from:
            say(f"weights from {args.init_from}" + (" (batch norms frozen: folded in the file)" if frozen_batchnorm
                                                     else ""))
        train_mode(net, frozen_batchnorm)
        say(f"model: {sum(p.numel() for p in net.parameters()) / 1e6:.3f} M parameters, input {input_size}")
        mean = torch.tensor(meta.mean).view(1, 3, 1, 1) * 255
        std = torch.tensor(meta.std).view(1, 3, 1, 1) * 255
        optimizer = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=args.weight_decay)
        all_images, all_boxes = (torch.from_numpy(images), torch.from_numpy(boxes)) if args.steps else (None, None)
        gen = torch.Generator().manual_seed(args.seed)
        losses, running = [], None
        bar = _progress_bar(args.steps, "training")
        for step in range(args.steps):
            x, b = sample_batch(all_images, all_boxes, args.batch, args.mirror_prob, gen)
            heat, index, log_sides, valid = centre_targets(b, grid, STRIDE)
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(step, args.steps, args.lr, args.warmup)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
                logits, sides = net((x - mean) / std)
            loss, focal, box = detection_loss(logits, sides, heat, index, log_sides, valid)
            if args.giou_weight > 0:
                loss = loss + args.giou_weight * giou_loss(sides, *area_targets(b, grid, STRIDE), STRIDE)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
            optimizer.step()
            losses.append(loss.item())
            running = losses[-1] if running is None else 0.98 * running + 0.02 * losses[-1]
            bar.update(1, f"loss {running:.3f}")
            if (step + 1) % 100 == 0 or step == 0:
                say(f"step {step + 1}/{args.steps} loss {running:.4f} (focal {focal.item():.3f} box {box.item():.3f}) "
                    f"lr {optimizer.param_groups[0]['lr']:.2e} ({time.time() - start:.0f} s)")
            if (step + 1) % 1000 == 0 and step + 1 < args.steps:  # inspectable while it runs
                export_detector(DecodedDetector(net.eval(), args.queries), out_dir / "last.onnx", meta)
                train_mode(net, frozen_batchnorm)
        bar.close()
        net.eval()
        checkpoint = out_dir / "person_detector_synthetic.pth"
        torch.save({"state_dict": net.state_dict(), "head": args.head, "metadata": meta.to_props(),
                    "frozen_batchnorm": frozen_batchnorm}, checkpoint)
        export_detector(DecodedDetector(net, args.queries, flip_test=args.flip_test), onnx_path, meta)
        say(f"final loss {float('nan') if running is None else running:.4f}; checkpoint {checkpoint}; ONNX {onnx_path} "
            f"({onnx_path.stat().st_size / 1e6:.2f} MB); total {time.time() - start:.0f} s")
    return {"onnx": onnx_path, "checkpoint": checkpoint, "losses": losses}


def parse_args(argv=None):
    from ..core.detector import RESIZE_MODES

    parser = argparse.ArgumentParser(prog="vitpose-detector-train", description=__doc__.split("\n\n")[0])
    parser.add_argument("--output-dir", required=True, help="where the log, checkpoint and ONNX go")
    parser.add_argument("--export", help=f"ONNX path (default: <output-dir>/{DETECTOR_FILE})")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--images", type=int, default=16000, help="rendered training scenes")
    parser.add_argument("--steps", type=int, default=4000,
                        help="0: no training, only export --init-from's weights (e.g. with --queries/--flip-test)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3, help="peak learning rate")
    parser.add_argument("--weight-decay", type=float, default=1e-4)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--input-size", default="192x256", help="network input HxW")
    parser.add_argument("--resize", choices=RESIZE_MODES, default="stretch")
    parser.add_argument("--head", type=int, default=32, help="channels of the top-down path and heads")
    parser.add_argument("--queries", type=int, default=32, help="boxes the graph returns (TopK)")
    parser.add_argument("--flip-test", action="store_true",
                        help="the exported graph averages the network's outputs on the image and its mirror image")
    parser.add_argument("--mirror-prob", type=float, default=0.5)
    parser.add_argument("--giou-weight", type=float, default=2.0,
                        help="weight of a GIoU loss on the boxes of every cell near a centre (TTFNet); 0: off")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (1: on a shared 2-core CPU two threads ran 6x slower per step)")
    parser.add_argument("--workers", type=int, default=2, help="rendering processes")
    parser.add_argument("--init-from",
                        help="start from this run's checkpoint (.pth) or an exported detector file (.onnx; its "
                             "batch norms stay frozen) of the same --head, instead of random weights")
    parser.add_argument("--crowded-fraction", type=float, default=0.0,
                        help="share of the scenes where people stand in front of each other (0..1)")
    parser.add_argument("--dataset-cache", help="an .npz where the rendered scenes are kept for reruns")
    parser.add_argument("--bf16", action="store_true", help="bfloat16 autocast (faster on AVX512-BF16 CPUs)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    train(parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
