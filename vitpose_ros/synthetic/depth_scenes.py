"""Synthetic scenes in metres: people at known distances, their depth image, and two people crossing.

The synthetic camera is a pinhole with focal length ``f`` px; a figure of standing height
``pose.height`` px is a person of ``PERSON_HEIGHT_M`` at distance ``f * PERSON_HEIGHT_M / height``.
``render_people`` renders poses with the renderer's part-label map and paints each figure's
pixels with its distance (a figure is a flat cut-out at that distance), the background farther.
``CrossingPeople`` is a scripted scene for tracking: two people walk across the image in opposite
directions at different distances and pass each other in the middle.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from .pose import Pose
from .raster import OCCLUDER_LABEL
from .sampling import sample_pose
from .scenes import render_poses

PERSON_HEIGHT_M = 1.75
CAMERA_HEIGHT_M = 1.0  # above the floor the crossing people walk on
PELVIS_HEIGHT_M = 0.93


def focal_length(width: int, horizontal_fov_deg: float = 60.0) -> float:
    return width / (2 * math.tan(math.radians(horizontal_fov_deg) / 2))


def distance_of(pose: Pose, focal_px: float) -> float:
    """Distance (m, along the optical axis) at which ``pose`` is a person of PERSON_HEIGHT_M."""
    return focal_px * PERSON_HEIGHT_M / pose.height


def paint_depth(labels: np.ndarray, distances_m, background_m: float | None = None) -> np.ndarray:
    """Part-label map (figure i part p -> i*16+p, occluder 65535, background 0) -> float32 metres.

    Figure i at ``distances_m[i]``; occluders (drawn in front of figures) at 0.8 x the nearest
    figure; background at ``background_m`` (default 2 m behind the farthest figure, at least 8 m).
    """
    distances = np.asarray(distances_m, np.float32).reshape(-1)
    if background_m is None:
        background_m = max(8.0, float(distances.max(initial=0.0)) + 2.0)
    occluder_m = 0.8 * float(distances.min(initial=background_m))
    table = np.full(65536, background_m, np.float32)  # label -> metres
    for i, d in enumerate(distances):
        table[i * 16 + 1:i * 16 + 16] = d
    table[OCCLUDER_LABEL] = occluder_m
    return table[labels]


@dataclass
class SceneFrame:
    image: np.ndarray  # uint8 HxWx3 RGB
    boxes: np.ndarray  # (N, 4) detector boxes, in detection order
    keypoints: np.ndarray  # (N, 17, 3) ground truth x, y, visibility, rows as boxes
    identities: np.ndarray  # (N,) which person each row is (stable over a sequence), from 1
    distances: np.ndarray  # (N,) metres
    depth: np.ndarray | None  # float32 HxW metres, registered to the image


def render_people(people, width: int, height: int, focal_px: float, background_seed: int = 0,
                  with_depth: bool = True, order_by_x: bool = False) -> SceneFrame:
    """``people``: [(identity, Pose)] far to near. ``order_by_x``: detection rows left to right (as
    many detectors list them), so rows swap when people pass each other."""
    poses = [pose for _, pose in people]
    image, boxes, keypoints, labels = render_poses(poses, width, height, background_seed=background_seed,
                                                   augment=False, return_labels=True)
    distances = np.array([distance_of(p, focal_px) for p in poses], np.float32)
    depth = paint_depth(labels, distances) if with_depth else None
    identities = np.array([identity for identity, _ in people], np.uint32)
    order = np.argsort((boxes[:, 0] + boxes[:, 2]) / 2, kind="stable") if order_by_x else np.arange(len(poses))
    return SceneFrame(image, boxes[order], keypoints[order], identities[order], distances[order], depth)


class CrossingPeople:
    """Two people walking across the image in opposite directions (near one left to right), passing
    in the middle at ``seconds / 2``; then they walk back, and so on."""

    def __init__(self, width: int, height: int, distances_m=(3.0, 4.5), seconds: float = 4.0, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.width, self.height, self.seconds = width, height, seconds
        self.focal = focal_length(width)
        self.walkers = []
        for identity, (distance, direction) in enumerate(zip(distances_m, (1, -1)), start=1):
            pose = sample_pose(rng, width, height, kind="standing")
            pose = dataclasses.replace(
                pose, height=self.focal * PERSON_HEIGHT_M / distance, tilt=0.0, yaw=90.0 * direction,
                y=height / 2 + self.focal * (CAMERA_HEIGHT_M - PELVIS_HEIGHT_M) / distance)
            self.walkers.append((identity, pose, direction))

    def people_at(self, t: float):
        """[(identity, Pose)] at ``t`` seconds, far to near."""
        phase, leg = (t / self.seconds) % 2.0, math.sin(2 * math.pi * t / 0.8)  # ping-pong; a stride per 0.8 s
        frac = phase if phase <= 1.0 else 2.0 - phase
        people = []
        for identity, pose, direction in self.walkers:
            along = frac if direction > 0 else 1.0 - frac
            x = self.width * (0.15 + 0.7 * along)
            yaw = pose.yaw if phase <= 1.0 else -pose.yaw
            people.append((identity, dataclasses.replace(
                pose, x=x, yaw=yaw, hip_flex=(25 * leg, -25 * leg),
                knee_flex=(10 + 15 * max(-leg, 0), 10 + 15 * max(leg, 0)),
                shoulder_flex=(-20 * leg, 20 * leg))))
        return sorted(people, key=lambda item: item[1].height)
