"""Run a ViTPose ONNX model on an image or a video, without ROS.

    python -m vitpose_ros.core.infer --model M.onnx --image IMG [--boxes "x1,y1,x2,y2;..."] \\
                                --output annotated.png [--json out.json]
    python -m vitpose_ros.core.infer --model M.onnx --video IN.mp4 --output annotated.mp4

No --boxes: one box covering the whole frame. Exit 0 on success, 1 with a one-line reason.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import sys

import cv2
import numpy as np

from .cli import cli_error


class CliError(Exception):
    pass


def parse_boxes(text: str | None) -> np.ndarray | None:
    if text is None:
        return None
    boxes = []
    for i, chunk in enumerate(filter(None, (c.strip() for c in text.split(";")))):
        try:
            values = [float(v) for v in chunk.split(",")]
        except ValueError:
            raise CliError(f"--boxes entry {i + 1} ({chunk!r}) is not four numbers x1,y1,x2,y2") from None
        if len(values) != 4 or not np.isfinite(values).all():
            raise CliError(f"--boxes entry {i + 1} ({chunk!r}) is not four finite numbers x1,y1,x2,y2")
        if values[2] <= values[0] or values[3] <= values[1]:
            raise CliError(f"--boxes entry {i + 1} ({chunk!r}) is inverted or empty: need x2 > x1 and y2 > y1")
        boxes.append(values)
    if not boxes:
        raise CliError("--boxes is empty")
    return np.array(boxes, np.float64)


def boxes_for_frame(boxes: np.ndarray | None, width: int, height: int) -> np.ndarray:
    if boxes is None:
        return np.array([[0.0, 0.0, width, height]])
    outside = (boxes[:, 0] >= width) | (boxes[:, 1] >= height) | (boxes[:, 2] <= 0) | (boxes[:, 3] <= 0)
    if outside.any():
        i = int(np.flatnonzero(outside)[0])
        raise CliError(f"box {i + 1} {boxes[i].tolist()} lies outside the {width}x{height} image")
    return boxes


def read_image_rgb(path: pathlib.Path) -> np.ndarray:
    if not path.is_file():
        raise CliError(f"image not found: {path}")
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise CliError(f"cannot read {path} as an image")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def results_json(keypoints: np.ndarray, boxes: np.ndarray, skeleton, provider: str) -> dict:
    return {
        "dataset": skeleton.name,
        "keypoint_names": list(skeleton.keypoint_names),
        "provider": provider,
        "persons": [
            {"box_xyxy": box.tolist(),
             "keypoints": [[float(x), float(y), float(s)] for x, y, s in person]}
            for box, person in zip(boxes, keypoints)
        ],
    }


def run_image(estimator, args) -> None:
    from .draw import draw_poses

    image = read_image_rgb(pathlib.Path(args.image))
    boxes = boxes_for_frame(parse_boxes(args.boxes), image.shape[1], image.shape[0])
    keypoints = estimator.estimate(image, boxes)
    annotated = draw_poses(image, keypoints, estimator.skeleton, args.score_threshold, boxes)
    write_image(pathlib.Path(args.output), annotated)
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(
            results_json(keypoints, boxes, estimator.skeleton, estimator.active_provider), indent=1))
    print(f"{len(boxes)} person(s), {estimator.num_keypoints} keypoints each -> {args.output}")


def write_image(path: pathlib.Path, image_rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR)):
        raise CliError(f"cannot write {path} (unknown extension or unwritable folder)")


def run_video(estimator, args) -> None:
    from .draw import draw_poses

    path = pathlib.Path(args.video)
    if not path.is_file():
        raise CliError(f"video not found: {path}")
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise CliError(f"cannot open {path} as a video")
    fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) or None
    fixed_boxes = parse_boxes(args.boxes)
    writer = None
    records = []
    progress = _progress(total)
    frames = 0
    try:
        while True:
            ok, bgr = capture.read()
            if not ok:
                break
            image = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            boxes = boxes_for_frame(fixed_boxes, image.shape[1], image.shape[0])
            keypoints = estimator.estimate(image, boxes)
            annotated = draw_poses(image, keypoints, estimator.skeleton, args.score_threshold, boxes)
            if writer is None:
                out = pathlib.Path(args.output)
                out.parent.mkdir(parents=True, exist_ok=True)
                writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps,
                                         (image.shape[1], image.shape[0]))
                if not writer.isOpened():
                    raise CliError(f"cannot write video {out}")
            writer.write(cv2.cvtColor(annotated, cv2.COLOR_RGB2BGR))
            if args.json:
                records.append(results_json(keypoints, boxes, estimator.skeleton, estimator.active_provider))
            frames += 1
            progress(frames)
    finally:
        capture.release()
        if writer is not None:
            writer.release()
    if frames == 0:
        raise CliError(f"{path} has no readable frames")
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps({"frames": records}))
    print(f"\n{frames} frame(s) -> {args.output}", file=sys.stderr)


def _progress(total: int | None):
    """A one-line progress bar on stderr (no tqdm dependency at runtime)."""
    def update(done: int) -> None:
        if total:
            filled = int(30 * done / total)
            sys.stderr.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {done}/{total} frames")
        else:
            sys.stderr.write(f"\r{done} frames")
        sys.stderr.flush()
    return update


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="vitpose-infer", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="exported ViTPose ONNX model")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--image", help="input image")
    source.add_argument("--video", help="input video")
    parser.add_argument("--boxes", help='person boxes "x1,y1,x2,y2;x1,y1,x2,y2" (default: whole frame)')
    parser.add_argument("--output", required=True, help="annotated image (.png/.jpg) or video (.mp4)")
    parser.add_argument("--json", help="also write keypoints as JSON")
    parser.add_argument("--providers", default="tensorrt,cuda,cpu", help="execution providers, best first")
    parser.add_argument("--flip-test", action="store_true", help="average with the mirrored crop")
    parser.add_argument("--score-threshold", type=float, default=0.3, help="hide keypoints below this score")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from .engine import ModelError
    from .estimator import PoseEstimator

    try:
        parse_boxes(args.boxes)  # fail on bad boxes before the (slow) model load
        estimator = PoseEstimator(args.model, providers=args.providers, flip_test=args.flip_test)
        if args.image:
            run_image(estimator, args)
        else:
            run_video(estimator, args)
    except (CliError, ModelError, ValueError) as exc:
        return cli_error("vitpose-infer", exc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
