"""Keypoints -> RViz MarkerArray: in 3D from depth, else drawn on a plane in front of the camera.

Without depth, pixels are back-projected onto the plane z = ``depth`` of the camera's optical
frame (x right, y down, z forward) with the CameraInfo intrinsics, so in RViz the skeleton overlays
the camera view. Without CameraInfo: fx = fy = image width, principal point at the image centre.
With ``points_3d`` (the joints measured from a depth image) those are drawn instead; joints
without depth (NaN) are left out. Marker ids are the persons' track ids when given. A lifetime
makes RViz drop a skeleton the node stopped refreshing (a stalled or deactivated node).
"""
from __future__ import annotations

import functools

import numpy as np
from builtin_interfaces.msg import Duration
from geometry_msgs.msg import Point
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import Marker, MarkerArray

from ..core.depth import Intrinsics  # noqa: F401  (re-exported: markers.Intrinsics)
from ..core.skeletons import Skeleton


_UNTRACKED_MARKER_ID = 1 << 30


@functools.lru_cache(maxsize=16)
def _palette(skeleton: Skeleton):
    """ColorRGBA per keypoint and per limb (built once: message construction is slow in Python)."""
    def color(rgb):
        return ColorRGBA(r=rgb[0] / 255.0, g=rgb[1] / 255.0, b=rgb[2] / 255.0, a=1.0)
    return [color(c) for c in skeleton.keypoint_colors], [color(c) for c in skeleton.limb_colors]


def pose_markers(keypoints: np.ndarray, skeleton: Skeleton, header, intrinsics: Intrinsics, depth: float,
                 score_threshold: float, joint_scale: float = 0.02, points_3d: np.ndarray | None = None,
                 ids=None, lifetime_s: float = 0.0) -> MarkerArray:
    """DELETEALL, then per person a SPHERE_LIST of joints and a LINE_LIST of limbs.

    ``points_3d`` (N, K, 3) metres replaces the plane at ``depth``; ``ids`` (N,) become the marker
    ids (row numbers without ids; persons with id 0 get ids above any track's); ``lifetime_s``: how
    long RViz shows them without a newer message (0: until replaced)."""
    nanoseconds = int(round(lifetime_s * 1e9))
    lifetime = Duration(sec=nanoseconds // 1_000_000_000, nanosec=nanoseconds % 1_000_000_000)
    joint_colors, limb_colors = _palette(skeleton)
    limbs_array = np.asarray(skeleton.limbs, dtype=np.int64).reshape(-1, 2)
    markers = [Marker(header=header, action=Marker.DELETEALL)]
    for row, person in enumerate(keypoints):
        person_id = row if ids is None else int(ids[row]) or _UNTRACKED_MARKER_ID + row
        size_depth = depth
        visible = np.isfinite(person[:, :2]).all(1) & (person[:, 2] >= score_threshold)
        if points_3d is None:
            xyz = intrinsics.back_project(np.nan_to_num(person[:, :2]), depth).tolist()
        else:
            visible &= np.isfinite(points_3d[row]).all(1)
            xyz = np.nan_to_num(points_3d[row]).tolist()
            finite_z = points_3d[row][visible, 2]
            size_depth = float(np.median(finite_z)) if len(finite_z) else depth  # size scales with distance
        points = [Point(x=x, y=y, z=z) for x, y, z in xyz]  # one per keypoint, shared with the limbs
        joints = Marker(header=header, ns="joints", id=person_id, type=Marker.SPHERE_LIST, action=Marker.ADD,
                        lifetime=lifetime)
        joints.pose.orientation.w = 1.0
        joints.scale.x = joints.scale.y = joints.scale.z = joint_scale * size_depth
        kept = np.flatnonzero(visible).tolist()
        joints.points = [points[k] for k in kept]
        joints.colors = [joint_colors[k] for k in kept]
        limbs = Marker(header=header, ns="limbs", id=person_id, type=Marker.LINE_LIST, action=Marker.ADD,
                       lifetime=lifetime)
        limbs.pose.orientation.w = 1.0
        limbs.scale.x = 0.5 * joint_scale * size_depth  # line width
        shown = np.flatnonzero(visible[limbs_array].all(1)).tolist()
        limbs.points = [points[k] for i in shown for k in skeleton.limbs[i]]
        limbs.colors = [limb_colors[i] for i in shown for _ in (0, 1)]
        markers += [joints, limbs]
    return MarkerArray(markers=markers)
