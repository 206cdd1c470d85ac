"""ROS message <-> numpy conversions for vitpose_ros.

- images: ``sensor_msgs/Image`` (rgb8, bgr8, rgba8, bgra8, mono8) and ``CompressedImage`` -> RGB;
  cv_bridge is used when importable, an equivalent numpy path otherwise;
- keypoints: (N,K,3) <-> ``sensor_msgs/PointCloud2`` organised as persons x keypoints, fields
  x, y (image pixels), score (float32 LE), id (uint32 track id); in 3D x, y, z (metres), score, id;
- depth: ``sensor_msgs/Image`` 16UC1 (mm) / 32FC1 (m) <-> float32 metres;
- detections: ``vision_msgs/Detection2DArray`` or yolo_ros's ``yolo_msgs/DetectionArray`` -> person
  boxes, scores and detector ids (read by attribute: this module imports neither message package,
  so it loads where they are absent).

A consumer needs only ``keypoints_from_cloud``:

    from vitpose_ros.ros.conversions import keypoints_from_cloud
    def on_keypoints(msg):                      # sensor_msgs/PointCloud2 from /pose/keypoints
        people = keypoints_from_cloud(msg)      # (persons, keypoints, 3): x, y, score
        for person in people:
            print(person[0])                    # nose (COCO) as x, y, score
"""
from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np
from sensor_msgs.msg import Image, PointCloud2, PointField

SUPPORTED_ENCODINGS = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1}
_TO_RGB = {
    "rgb8": None,
    "bgr8": cv2.COLOR_BGR2RGB,
    "rgba8": cv2.COLOR_RGBA2RGB,
    "bgra8": cv2.COLOR_BGRA2RGB,
    "mono8": cv2.COLOR_GRAY2RGB,
}
KEYPOINT_FIELDS = ("x", "y", "score")


class UnsupportedEncoding(ValueError):
    """An image encoding the node does not convert (logged once per encoding, then skipped)."""

    def __init__(self, encoding: str):
        super().__init__(f"unsupported image encoding {encoding!r}; "
                         f"supported: {', '.join(SUPPORTED_ENCODINGS)}")
        self.encoding = encoding


def _load_cv_bridge():
    try:
        from cv_bridge import CvBridge
    except ImportError:
        return None
    return CvBridge()


_BRIDGE = _load_cv_bridge()


def image_to_rgb(msg: Image, use_cv_bridge: bool = True) -> np.ndarray:
    """sensor_msgs/Image -> C-contiguous uint8 HxWx3 RGB. ValueError on malformed messages."""
    encoding = msg.encoding.lower()
    if encoding not in SUPPORTED_ENCODINGS:
        raise UnsupportedEncoding(msg.encoding)
    channels = SUPPORTED_ENCODINGS[encoding]
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height <= 0 or width <= 0:
        raise ValueError(f"image is empty ({width}x{height})")
    if step < width * channels:
        raise ValueError(f"step {step} is smaller than width x channels = {width * channels}")
    if len(msg.data) < step * height:
        raise ValueError(f"image data has {len(msg.data)} bytes, expected step x height = {step * height}")
    if use_cv_bridge and _BRIDGE is not None:
        array = _BRIDGE.imgmsg_to_cv2(msg, desired_encoding="passthrough")
    else:
        # Rows may be padded (step > width x channels); 8-bit data has no byte order to fix
        # (is_bigendian only matters for multi-byte encodings, which are not accepted).
        rows = np.frombuffer(msg.data, np.uint8, count=step * height).reshape(height, step)
        array = rows[:, :width * channels].reshape(height, width, channels)
    code = _TO_RGB[encoding]
    if code is None:
        return np.ascontiguousarray(array)
    return cv2.cvtColor(np.ascontiguousarray(array), code)


def compressed_to_rgb(msg) -> np.ndarray:
    """sensor_msgs/CompressedImage (jpeg/png) -> uint8 HxWx3 RGB."""
    buffer = np.frombuffer(bytes(msg.data), np.uint8)
    bgr = cv2.imdecode(buffer, cv2.IMREAD_COLOR) if buffer.size else None
    if bgr is None:
        raise ValueError(f"compressed image ({msg.format or 'unknown format'}, {buffer.size} bytes) does not decode")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def rgb_to_image(rgb: np.ndarray, header) -> Image:
    msg = Image()
    msg.header = header
    msg.height, msg.width = int(rgb.shape[0]), int(rgb.shape[1])
    msg.encoding = "rgb8"
    msg.is_bigendian = 0
    msg.step = msg.width * 3
    msg.data = np.ascontiguousarray(rgb, np.uint8).tobytes()
    return msg


# PointCloud2 field layouts: (name, numpy little-endian type). ``id`` is the person's track id.
KEYPOINT_LAYOUT = (("x", "<f4"), ("y", "<f4"), ("score", "<f4"), ("id", "<u4"))
KEYPOINT_3D_LAYOUT = (("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("score", "<f4"), ("id", "<u4"))
_POINTFIELD_TYPES = {"<f4": PointField.FLOAT32, "<u4": PointField.UINT32, "<f8": PointField.FLOAT64,
                     "<i4": PointField.INT32, "<u2": PointField.UINT16, "<i2": PointField.INT16,
                     "<u1": PointField.UINT8, "<i1": PointField.INT8}
_NUMPY_TYPES = {datatype: code[1:] for code, datatype in _POINTFIELD_TYPES.items()}


def _person_ids(ids, persons: int) -> np.ndarray:
    return np.zeros(persons, np.uint32) if ids is None else np.asarray(ids, np.uint32).reshape(persons)


def _organised_cloud(layout, columns: dict, header) -> PointCloud2:
    """Persons x keypoints PointCloud2 with the fields of ``layout`` filled from ``columns`` (N, K)."""
    dtype = np.dtype(list(layout))
    persons, count = next(iter(columns.values())).shape[:2]
    points = np.empty((persons, count), dtype)
    for name, _ in layout:
        points[name] = columns[name]
    msg = PointCloud2()
    msg.header = header
    msg.height, msg.width = persons, count
    msg.fields = [PointField(name=name, offset=dtype.fields[name][1], datatype=_POINTFIELD_TYPES[code], count=1)
                  for name, code in layout]
    msg.is_bigendian = False
    msg.point_step = dtype.itemsize
    msg.row_step = dtype.itemsize * count
    msg.is_dense = bool(all(np.isfinite(points[name]).all() for name, code in layout if code[1] == "f"))
    msg.data = points.tobytes()
    return msg


def _cloud_fields(msg: PointCloud2, names, what: str) -> dict:
    """Read the named fields of an organised cloud by name (any offsets, either byte order)."""
    fields = {f.name: f for f in msg.fields}
    missing = [name for name in names if name not in fields]
    if missing:
        raise ValueError(f"PointCloud2 lacks field(s) {missing}; is this a {what} message?")
    order = ">" if msg.is_bigendian else "<"
    dtype = np.dtype({"names": list(names), "formats": [order + _NUMPY_TYPES[fields[n].datatype] for n in names],
                      "offsets": [fields[n].offset for n in names], "itemsize": msg.point_step})
    rows = np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.row_step)
    points = rows[:, :msg.width * msg.point_step].copy().view(dtype).reshape(msg.height, msg.width)
    return {name: points[name] for name in names}


def keypoints_to_cloud(keypoints: np.ndarray, header, ids=None) -> PointCloud2:
    """(N,K,3) -> PointCloud2 with height N (persons), width K (keypoints), fields x, y, score (float32)
    and id (uint32, the person's track id, the same for all K points; 0 = none, the default)."""
    keypoints = np.asarray(keypoints, np.float32)
    persons, count = keypoints.shape[0], keypoints.shape[1]
    columns = {"x": keypoints[..., 0], "y": keypoints[..., 1], "score": keypoints[..., 2],
               "id": np.repeat(_person_ids(ids, persons)[:, None], count, axis=1)}
    return _organised_cloud(KEYPOINT_LAYOUT, columns, header)


def keypoints_3d_to_cloud(points: np.ndarray, scores: np.ndarray, header, ids=None) -> PointCloud2:
    """(N,K,3) metres + (N,K) scores -> PointCloud2 persons x keypoints, fields x, y, z, score, id."""
    points = np.asarray(points, np.float32)
    persons, count = points.shape[0], points.shape[1]
    columns = {"x": points[..., 0], "y": points[..., 1], "z": points[..., 2], "score": np.asarray(scores, np.float32),
               "id": np.repeat(_person_ids(ids, persons)[:, None], count, axis=1)}
    return _organised_cloud(KEYPOINT_3D_LAYOUT, columns, header)


def keypoints_from_cloud(msg: PointCloud2) -> np.ndarray:
    """/pose/keypoints PointCloud2 -> float32 (persons, keypoints, 3) as x, y, score."""
    fields = _cloud_fields(msg, KEYPOINT_FIELDS, "/pose/keypoints")
    return np.stack([fields[name].astype(np.float32) for name in KEYPOINT_FIELDS], axis=-1)


def keypoints_3d_from_cloud(msg: PointCloud2) -> np.ndarray:
    """/pose/keypoints_3d PointCloud2 -> float32 (persons, keypoints, 4) as x, y, z (metres), score."""
    fields = _cloud_fields(msg, ("x", "y", "z", "score"), "/pose/keypoints_3d")
    return np.stack([fields[name].astype(np.float32) for name in ("x", "y", "z", "score")], axis=-1)


def ids_from_cloud(msg: PointCloud2) -> np.ndarray:
    """Track id per person (uint32 (persons,), 0 = none) of /pose/keypoints or /pose/keypoints_3d;
    zeros for clouds without an ``id`` field (older publishers)."""
    if "id" not in {f.name for f in msg.fields} or msg.width == 0:
        return np.zeros(msg.height, np.uint32)
    return _cloud_fields(msg, ("id",), "keypoints")["id"][:, 0].astype(np.uint32)


DEPTH_ENCODINGS = {"16UC1": "millimetres, uint16", "32FC1": "metres, float32"}


def depth_to_metres(msg: Image) -> np.ndarray:
    """sensor_msgs/Image 16UC1 (mm) or 32FC1 (m) -> float32 HxW metres; 0 and NaN stay invalid (NaN).

    ValueError with the reason for other encodings and malformed messages."""
    raw, scale = depth_image_array(msg)
    values = raw.astype(np.float32) * np.float32(scale)
    values[~(values > 0)] = np.nan  # 0: the sensor has no reading there
    return values


def depth_image_array(msg: Image) -> tuple[np.ndarray, float]:
    """sensor_msgs/Image 16UC1 / 32FC1 -> (HxW uint16 or float32 array, metres per unit), without
    converting every pixel (the node reads only windows around keypoints). ValueError as above."""
    encoding = msg.encoding.upper()
    if encoding not in DEPTH_ENCODINGS:
        raise ValueError(f"depth encoding {msg.encoding!r} is not one of "
                         + ", ".join(f"{k} ({v})" for k, v in DEPTH_ENCODINGS.items()))
    itemsize = 2 if encoding == "16UC1" else 4
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height <= 0 or width <= 0:
        raise ValueError(f"depth image is empty ({width}x{height})")
    if step < width * itemsize or len(msg.data) < step * height:
        raise ValueError(f"depth image {width}x{height} {msg.encoding} has step {step} and {len(msg.data)} bytes, "
                         f"expected step >= {width * itemsize} and step x height bytes")
    dtype = np.dtype(("<" if not msg.is_bigendian else ">") + ("u2" if itemsize == 2 else "f4"))
    data = np.frombuffer(msg.data, np.uint8, count=step * height)
    if step == width * itemsize:
        raw = data.view(dtype).reshape(height, width)  # no copy
    else:
        raw = data.reshape(height, step)[:, :width * itemsize].copy().view(dtype).reshape(height, width)
    if msg.is_bigendian:
        raw = raw.astype(raw.dtype.newbyteorder("="))
    return raw, (0.001 if itemsize == 2 else 1.0)


def depth_to_image(depth_m: np.ndarray, header, encoding: str = "16UC1") -> Image:
    """float metres HxW (NaN = no reading) -> sensor_msgs/Image 16UC1 (mm) or 32FC1 (m)."""
    depth_m = np.asarray(depth_m, np.float32)
    if encoding == "16UC1":
        data = np.round(np.nan_to_num(depth_m, nan=0.0) * 1000.0).clip(0, 65535).astype("<u2")
    elif encoding == "32FC1":
        data = depth_m.astype("<f4")
    else:
        raise ValueError(f"depth encoding must be 16UC1 or 32FC1, got {encoding!r}")
    msg = Image(header=header, height=int(depth_m.shape[0]), width=int(depth_m.shape[1]), encoding=encoding,
                is_bigendian=0, step=int(depth_m.shape[1]) * data.itemsize)
    msg.data = data.tobytes()
    return msg


class PersonBoxes(NamedTuple):
    """Person detections of one frame, in detection order: row i of each belongs to detection i."""

    boxes: np.ndarray  # (M, 4) float64 x1, y1, x2, y2 in pixels
    scores: np.ndarray  # (M,) float64
    ids: list[str]  # the detector's id of each ('' when it gives none; yolo_ros: the track id when tracking)


def _select_persons(candidates, min_score: float, max_persons: int) -> PersonBoxes:
    """(box, score, id) of the person detections -> those scoring >= min_score, at most max_persons.

    Above ``max_persons`` the highest-scoring are kept; the kept ones stay in detection order, so row
    i of /pose/keypoints is the i-th kept detection.
    """
    kept = [c for c in candidates if c[1] >= min_score]
    if not kept:
        return PersonBoxes(np.zeros((0, 4)), np.zeros(0), [])
    scores = np.asarray([score for _, score, _ in kept], np.float64)
    order = np.sort(np.argsort(-scores, kind="stable")[:max_persons])
    return PersonBoxes(np.asarray([kept[i][0] for i in order], np.float64).reshape(-1, 4), scores[order],
                       [kept[i][2] for i in order])


def _corners(center_x, center_y, width, height) -> tuple[float, float, float, float]:
    return center_x - width / 2, center_y - height / 2, center_x + width / 2, center_y + height / 2


def vision_person_boxes(msg, class_ids, min_score: float, max_persons: int) -> PersonBoxes:
    """vision_msgs/Detection2DArray -> PersonBoxes.

    A detection counts as a person when one of its hypotheses has a class id in ``class_ids``
    (strings compared exactly); its best such score is its score. Its ``id`` is its id.
    """
    wanted = set(class_ids)
    candidates = []
    for detection in msg.detections:
        score = max((h.hypothesis.score for h in detection.results if h.hypothesis.class_id in wanted), default=None)
        if score is not None:
            center = detection.bbox.center.position
            candidates.append((_corners(center.x, center.y, detection.bbox.size_x, detection.bbox.size_y),
                               score, detection.id))
    return _select_persons(candidates, min_score, max_persons)


def yolo_person_boxes(msg, class_ids, min_score: float, max_persons: int) -> PersonBoxes:
    """yolo_msgs/DetectionArray (yolo_ros) -> PersonBoxes.

    A detection counts as a person when its ``class_name`` or its ``class_id`` (as text) is in
    ``class_ids``: the default ["person", "0"] matches COCO-trained YOLO models either way. Its
    ``id`` is yolo_ros's track id (empty unless tracking is on). The box's rotation is ignored.
    """
    wanted = set(class_ids)
    candidates = [(_corners(d.bbox.center.position.x, d.bbox.center.position.y, d.bbox.size.x, d.bbox.size.y),
                   d.score, d.id)
                  for d in msg.detections if d.class_name in wanted or str(d.class_id) in wanted]
    return _select_persons(candidates, min_score, max_persons)


# detections_type parameter -> (message package, message type, reader)
DETECTION_READERS = {
    "vision_msgs": ("vision_msgs", "Detection2DArray", vision_person_boxes),
    "yolo_msgs": ("yolo_msgs", "DetectionArray", yolo_person_boxes),
}


def detections_to_boxes(msg, class_ids, min_score: float, max_persons: int) -> tuple[np.ndarray, np.ndarray]:
    """Detection2DArray -> person boxes (M,4) x1,y1,x2,y2 and their scores (see vision_person_boxes)."""
    persons = vision_person_boxes(msg, class_ids, min_score, max_persons)
    return persons.boxes, persons.scores


def boxes_to_detections(boxes_xyxy, header, class_id: str = "person", scores=None, ids=None):
    """(N,4) x1,y1,x2,y2 -> vision_msgs/Detection2DArray, one hypothesis each (score 1.0 by default);
    ``ids``: the detections' id strings ("" = no id; default the row numbers "0", "1", ...).

    The inverse of ``detections_to_boxes``; imports vision_msgs only when called.
    """
    from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose

    msg = Detection2DArray(header=header)
    for i, (x1, y1, x2, y2) in enumerate(np.asarray(boxes_xyxy, float).reshape(-1, 4)):
        detection = Detection2D(header=header, id=str(i) if ids is None else str(ids[i]))
        detection.bbox.center.position.x, detection.bbox.center.position.y = (x1 + x2) / 2, (y1 + y2) / 2
        detection.bbox.size_x, detection.bbox.size_y = x2 - x1, y2 - y1
        hypothesis = ObjectHypothesisWithPose()
        hypothesis.hypothesis.class_id = class_id
        hypothesis.hypothesis.score = 1.0 if scores is None else float(scores[i])
        detection.results.append(hypothesis)
        msg.detections.append(detection)
    return msg
