"""Keypoints -> RViz MarkerArray, drawn on a plane in front of the camera.

Pixels are back-projected onto the plane z = ``depth`` of the camera's optical frame (x right,
y down, z forward) with the CameraInfo intrinsics, so in RViz the skeleton overlays the camera
view. Without CameraInfo: fx = fy = image width, principal point at the image centre.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from geometry_msgs.msg import Point
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import Marker, MarkerArray

from ..core.skeletons import Skeleton


@dataclass(frozen=True)
class Intrinsics:
    fx: float
    fy: float
    cx: float
    cy: float

    @classmethod
    def from_camera_info(cls, info) -> "Intrinsics | None":
        k = list(info.k)
        if len(k) != 9 or k[0] <= 0 or k[4] <= 0:
            return None  # uncalibrated camera: K is all zeros
        return cls(fx=k[0], fy=k[4], cx=k[2], cy=k[5])

    @classmethod
    def default_for(cls, width: int, height: int) -> "Intrinsics":
        return cls(fx=float(width), fy=float(width), cx=width / 2.0, cy=height / 2.0)

    def back_project(self, pixels: np.ndarray, depth: float) -> np.ndarray:
        """(M,2) pixels -> (M,3) points on the plane z = depth."""
        x = (pixels[:, 0] - self.cx) * depth / self.fx
        y = (pixels[:, 1] - self.cy) * depth / self.fy
        return np.stack([x, y, np.full(len(pixels), depth)], axis=1)


@functools.lru_cache(maxsize=16)
def _palette(skeleton: Skeleton):
    """ColorRGBA per keypoint and per limb (built once: message construction is slow in Python)."""
    def color(rgb):
        return ColorRGBA(r=rgb[0] / 255.0, g=rgb[1] / 255.0, b=rgb[2] / 255.0, a=1.0)
    return [color(c) for c in skeleton.keypoint_colors], [color(c) for c in skeleton.limb_colors]


def pose_markers(keypoints: np.ndarray, skeleton: Skeleton, header, intrinsics: Intrinsics, depth: float,
                 score_threshold: float, joint_scale: float = 0.02) -> MarkerArray:
    """DELETEALL, then per person a SPHERE_LIST of joints and a LINE_LIST of limbs."""
    joint_colors, limb_colors = _palette(skeleton)
    limbs_array = np.asarray(skeleton.limbs, dtype=np.int64).reshape(-1, 2)
    markers = [Marker(header=header, action=Marker.DELETEALL)]
    for person_id, person in enumerate(keypoints):
        visible = np.isfinite(person[:, :2]).all(1) & (person[:, 2] >= score_threshold)
        xyz = intrinsics.back_project(np.nan_to_num(person[:, :2]), depth).tolist()
        points = [Point(x=x, y=y, z=z) for x, y, z in xyz]  # one per keypoint, shared with the limbs
        joints = Marker(header=header, ns="joints", id=person_id, type=Marker.SPHERE_LIST, action=Marker.ADD)
        joints.pose.orientation.w = 1.0
        joints.scale.x = joints.scale.y = joints.scale.z = joint_scale * depth
        kept = np.flatnonzero(visible).tolist()
        joints.points = [points[k] for k in kept]
        joints.colors = [joint_colors[k] for k in kept]
        limbs = Marker(header=header, ns="limbs", id=person_id, type=Marker.LINE_LIST, action=Marker.ADD)
        limbs.pose.orientation.w = 1.0
        limbs.scale.x = 0.5 * joint_scale * depth  # line width
        shown = np.flatnonzero(visible[limbs_array].all(1)).tolist()
        limbs.points = [points[k] for i in shown for k in skeleton.limbs[i]]
        limbs.colors = [limb_colors[i] for i in shown for _ in (0, 1)]
        markers += [joints, limbs]
    return MarkerArray(markers=markers)
