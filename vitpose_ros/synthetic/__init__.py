"""The synthetic-people demo: a renderer of procedurally drawn people with COCO-17 keypoints,
training and evaluation of a small ViTPose on them, the demo runner and the shipped demo model.

The renderer (numpy + OpenCV) is re-exported here; training needs torch, the demo runner rclpy:
they are imported only by their own modules (``vitpose_ros.synthetic.train``, ``.evaluate``,
``.demo``). The renderer's modules, in the order a frame is made:

    pose      Pose (placement, joint angles, looks), COCO-17 tables, joint limits, interpolate_pose
    sampling  random poses (sample_pose) and placing a figure in an image or a crop
    figure    a Pose as a projected 3-D stick figure: keypoints, parts to draw, extent
    raster    painting a figure and its part labels sub-pixel exactly; keypoint visibility
    backdrop  backgrounds, clutter, occluder shapes, photometric augmentation
    scenes    render_poses / render_scene / render_person_crop, box jitter, draw_annotations;
              its docstring is the data contract (image, keypoints, visibility, boxes)
    depth_scenes  the same people in metres: known distances, a depth image, two people crossing

Beside the renderer: camera_node (a ROS node that films these people), train, evaluate,
smoothing_eval (jitter vs accuracy of keypoint smoothing), demo (camera + pose node through ROS 2)
models/ (the shipped demo model and person detector), and detector_net, detector_train and
detector_evaluate for that small person detector.
"""
import pathlib

from .figure import pose_extent, pose_keypoints
from .pose import (FLIP_PAIRS, KEYPOINT_NAMES, LIMITS, MIN_HEIGHT_PX, NUM_KEYPOINTS, POSE_KINDS, SKELETON, Pose,
                   interpolate_pose)
from .sampling import sample_pose
from .scenes import BOX_JITTER, draw_annotations, render_person_crop, render_poses, render_scene

MODELS_DIR = pathlib.Path(__file__).parent / "models"
# hold_missed of the demo's pose node with the built-in detector: a person the synthetic detector
# misses (mostly someone half hidden behind another) keeps the box from their keypoints this long
BUILTIN_HOLD_MISSED = 2


def demo_model_path(must_exist: bool = True, precision: str = "fp32") -> pathlib.Path:
    """Where the small ViTPose trained on these synthetic people lives (package data); with
    ``precision`` "int8" its shipped INT8 copy (vitpose_synthetic_coco_int8.onnx).

    Raises FileNotFoundError (unless ``must_exist`` is False) when it has not been produced yet."""
    from ..core.metadata import precision_model_path

    path = precision_model_path(MODELS_DIR / "vitpose_synthetic_coco.onnx", precision)
    if must_exist and precision != "fp32" and not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist. Convert the fp32 demo model: python -m vitpose_ros.model.convert "
            f"--input {MODELS_DIR / 'vitpose_synthetic_coco.onnx'} --precision {precision} "
            "(the shipped INT8 model's exact command: vitpose_ros/synthetic/models/README.md)")
    if must_exist and not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist yet. Produce it by training on synthetic people, e.g. "
            f"`python -m vitpose_ros.synthetic.train --output-dir runs/synthetic --export {path}` "
            "(the shipped model's exact command: vitpose_ros/synthetic/models/README.md).")
    return path


def demo_detector_path(must_exist: bool = True) -> pathlib.Path:
    """Where the small person detector trained on these synthetic scenes lives (package data; a
    ``vitpose_ros.core.detector`` contract file, for ``detector:=builtin`` in the demo).

    Raises FileNotFoundError (unless ``must_exist`` is False) when it has not been produced yet."""
    path = MODELS_DIR / "person_detector_synthetic.onnx"
    if must_exist and not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist yet. Produce it by training on synthetic scenes, e.g. "
            f"`python -m vitpose_ros.synthetic.detector_train --output-dir runs/detector --bf16 --export {path}` "
            "(the shipped detector's exact command: vitpose_ros/synthetic/models/README.md).")
    return path
