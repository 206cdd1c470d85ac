"""Demo without a camera: synthetic people + the pose node with the shipped demo model.

    ros2 launch vitpose_ros demo.launch.py rviz:=true
    ros2 launch vitpose_ros demo.launch.py depth:=true scene:=crossing smoothing:=true rviz:=true
    ros2 launch vitpose_ros demo.launch.py precision:=int8
    ros2 launch vitpose_ros demo.launch.py detector:=builtin

The synthetic camera publishes /camera/image_raw, /camera/camera_info, /detections (and
/synthetic/ground_truth); the pose node runs the small ViTPose trained on synthetic people that
ships inside the package (vitpose_ros.synthetic.demo_model_path()), or its INT8 copy with
precision:=int8. With detector:=builtin the pose node ignores the camera's /detections and runs
the synthetic person detector that ships beside the model (demo_detector_path()), with
hold_missed 2 (a person it misses keeps the box from their keypoints for two detection frames).
With depth:=true the camera also publishes /camera/aligned_depth_to_color/image_raw and the pose
node /pose/keypoints_3d, shown in 3D by RViz (config/pose_3d.rviz).
"""
import pathlib
import sys

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription, OpaqueFunction
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

try:
    from vitpose_ros.ros.launch_args import parse_bool
    from vitpose_ros.synthetic import BUILTIN_HOLD_MISSED, demo_detector_path, demo_model_path
except ImportError:  # started from a source checkout that is neither built nor pip-installed
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
    from vitpose_ros.ros.launch_args import parse_bool
    from vitpose_ros.synthetic import BUILTIN_HOLD_MISSED, demo_detector_path, demo_model_path

DEPTH_TOPIC = "/camera/aligned_depth_to_color/image_raw"  # where the synthetic camera publishes depth
ARGUMENTS = [
    ("rviz", "false", "Start rviz2 with config/pose.rviz (config/pose_3d.rviz with depth)."),
    ("rate", "10.0", "Synthetic camera frames per second."),
    ("people", "2", "Number of synthetic people in the scene (scene random)."),
    ("scene", "random", "random: people move between random poses; crossing: two people walk past each other."),
    ("depth", "false", "The camera also publishes depth and the pose node 3D keypoints (pose/keypoints_3d)."),
    ("tracker", "", "Person ids: iou (built-in tracker) or none. Not set: iou."),
    ("smoothing", "", "One Euro smoothing of the keypoints. Not set: false."),
    ("providers", "", "ONNX Runtime execution providers, best first. Not set: tensorrt,cuda,cpu."),
    ("log_level", "info", "Log level of the pose node."),
    ("precision", "fp32", "Demo model precision: fp32 or int8 (the shipped INT8 copy)."),
    ("params_file", "", "A YAML file of pose node parameters applied over config/vitpose_s.yaml (see pose.launch.py)."),
    ("detector", "topic", "topic: the pose node reads the camera's ground-truth boxes; builtin: it runs the shipped "
                          "synthetic person detector on each image instead."),
]
# Passed on to pose.launch.py only when set, so a params_file can set them too.
PASSED_WHEN_SET = ("tracker", "smoothing", "providers", "params_file")
PRECISIONS = ("fp32", "int8")  # the demo models that ship
DETECTORS = ("topic", "builtin")


def _launch_setup(context, *args, **kwargs):
    values = {name: LaunchConfiguration(name).perform(context) for name, _, _ in ARGUMENTS}
    depth = parse_bool("depth", values["depth"])
    precision = values["precision"].strip().lower()
    if precision not in PRECISIONS:
        raise ValueError(f"launch argument precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    detector = values["detector"].strip().lower()
    if detector not in DETECTORS:
        raise ValueError(f"launch argument detector must be one of {', '.join(DETECTORS)}, got {detector!r}")
    detector_arguments = ([("detector", "builtin"), ("detector_path", str(demo_detector_path(must_exist=False))),
                           ("hold_missed", str(BUILTIN_HOLD_MISSED))] if detector == "builtin" else [])
    camera = Node(
        package="vitpose_ros", executable="synthetic_camera", name="synthetic_camera", output="screen",
        parameters=[{"rate": float(values["rate"]), "num_people": int(values["people"]), "scene": values["scene"],
                     "depth": depth}])
    pose = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(str(pathlib.Path(__file__).with_name("pose.launch.py"))),
        launch_arguments=[("model", "s"), ("model_path", str(demo_model_path(must_exist=False, precision=precision))),
                          ("precision", precision), ("depth", DEPTH_TOPIC if depth else "")] + detector_arguments
                         + [(name, values[name]) for name in ("rviz", "log_level")]
                         + [(name, values[name]) for name in PASSED_WHEN_SET if values[name].strip()])
    return [camera, pose]


def generate_launch_description():
    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value=default, description=description)
         for name, default, description in ARGUMENTS] + [OpaqueFunction(function=_launch_setup)])
