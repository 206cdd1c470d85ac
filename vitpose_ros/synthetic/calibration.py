"""Calibration frames for static INT8: synthetic images from *training* seeds, plus their boxes.

    python -m vitpose_ros.synthetic.calibration --output runs/calibration [--frames 200] [--seed 0]

Writes ``frame_NNNNN.png`` (half scenes, half single-person crops, as training renders them) and
``boxes.json`` (the renderer's person boxes: what a detector would give) for
``python -m vitpose_ros.model.convert --precision int8 --calibration DIR --boxes DIR/boxes.json``.
Seeds are ``seed * 10**6 + i`` like training's, never the held-out evaluation seeds (>= 10**9).
"""
from __future__ import annotations

import argparse
import json
import pathlib
import sys

from ..core.cli import cli_error
from .train import EVAL_SEED_BASE

BOXES_FILE = "boxes.json"


def write_calibration_frames(folder, frames: int = 200, seed: int = 0) -> pathlib.Path:
    """Render ``frames`` training-seed images into ``folder``; returns the boxes file's path."""
    import cv2

    from .scenes import render_person_crop, render_scene

    if seed * 10**6 + frames >= EVAL_SEED_BASE:
        raise ValueError("calibration seeds would reach the held-out evaluation seeds")
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    boxes = {}
    for i in range(frames):
        frame_seed = seed * 10**6 + i
        image, frame_boxes, _ = render_scene(frame_seed) if i % 2 == 0 else render_person_crop(frame_seed)
        name = f"frame_{i:05d}.png"
        cv2.imwrite(str(folder / name), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        boxes[name] = [[round(float(v), 2) for v in box] for box in frame_boxes]
    path = folder / BOXES_FILE
    path.write_text(json.dumps(boxes))
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="vitpose-calibration-frames", description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", required=True, help="folder to write the frames and boxes.json into")
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0, help="training seed whose images to render")
    args = parser.parse_args(argv)
    if args.frames < 1:
        print("vitpose-calibration-frames: error: --frames must be positive", file=sys.stderr)
        return 1
    try:
        path = write_calibration_frames(args.output, args.frames, args.seed)
    except (ValueError, OSError) as exc:
        return cli_error("vitpose-calibration-frames", exc)
    print(f"wrote {args.frames} frames and {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
