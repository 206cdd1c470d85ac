"""ROS message <-> numpy conversions for vitpose_ros.

- images: ``sensor_msgs/Image`` (rgb8, bgr8, rgba8, bgra8, mono8) and ``CompressedImage`` -> RGB;
  cv_bridge is used when importable, an equivalent numpy path otherwise;
- keypoints: (N,K,3) <-> ``sensor_msgs/PointCloud2`` organised as persons x keypoints, fields
  x, y (image pixels), score, float32 little-endian;
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
_KEYPOINT_DTYPE = np.dtype([("x", "<f4"), ("y", "<f4"), ("score", "<f4")])


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


def keypoints_to_cloud(keypoints: np.ndarray, header) -> PointCloud2:
    """(N,K,3) -> PointCloud2 with height N (persons), width K (keypoints), fields x, y, score."""
    keypoints = np.asarray(keypoints, np.float32)
    persons, count = keypoints.shape[0], keypoints.shape[1]
    msg = PointCloud2()
    msg.header = header
    msg.height, msg.width = persons, count
    msg.fields = [PointField(name=name, offset=4 * i, datatype=PointField.FLOAT32, count=1)
                  for i, name in enumerate(KEYPOINT_FIELDS)]
    msg.is_bigendian = False
    msg.point_step = 12
    msg.row_step = 12 * count
    msg.is_dense = bool(np.isfinite(keypoints).all())
    msg.data = keypoints.astype("<f4", copy=False).tobytes()
    return msg


def keypoints_from_cloud(msg: PointCloud2) -> np.ndarray:
    """/pose/keypoints PointCloud2 -> float32 (persons, keypoints, 3) as x, y, score."""
    offsets = {f.name: f.offset for f in msg.fields}
    missing = [name for name in KEYPOINT_FIELDS if name not in offsets]
    if missing:
        raise ValueError(f"PointCloud2 lacks field(s) {missing}; is this a /pose/keypoints message?")
    dtype = np.dtype({"names": list(KEYPOINT_FIELDS), "formats": [">f4" if msg.is_bigendian else "<f4"] * 3,
                      "offsets": [offsets[n] for n in KEYPOINT_FIELDS], "itemsize": msg.point_step})
    rows = np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.row_step)
    points = rows[:, :msg.width * msg.point_step].copy().view(dtype).reshape(msg.height, msg.width)
    return np.stack([points[name].astype(np.float32) for name in KEYPOINT_FIELDS], axis=-1)


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


def boxes_to_detections(boxes_xyxy, header, class_id: str = "person", scores=None):
    """(N,4) x1,y1,x2,y2 -> vision_msgs/Detection2DArray, one hypothesis each (score 1.0 by default).

    The inverse of ``detections_to_boxes``; imports vision_msgs only when called.
    """
    from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose

    msg = Detection2DArray(header=header)
    for i, (x1, y1, x2, y2) in enumerate(np.asarray(boxes_xyxy, float).reshape(-1, 4)):
        detection = Detection2D(header=header, id=str(i))
        detection.bbox.center.position.x, detection.bbox.center.position.y = (x1 + x2) / 2, (y1 + y2) / 2
        detection.bbox.size_x, detection.bbox.size_y = x2 - x1, y2 - y1
        hypothesis = ObjectHypothesisWithPose()
        hypothesis.hypothesis.class_id = class_id
        hypothesis.hypothesis.score = 1.0 if scores is None else float(scores[i])
        detection.results.append(hypothesis)
        msg.detections.append(detection)
    return msg
