"""Demo without a camera: synthetic people + the pose node with the shipped demo model.

    ros2 launch vitpose_ros demo.launch.py rviz:=true [precision:=int8]

The synthetic camera publishes /camera/image_raw, /camera/camera_info, /detections (and
/synthetic/ground_truth); the pose node runs the small ViTPose trained on synthetic people that
ships inside the package (vitpose_ros.synthetic.demo_model_path()), or its INT8 copy with
precision:=int8.
"""
import pathlib
import sys

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription, OpaqueFunction
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

try:
    from vitpose_ros.synthetic import demo_model_path
except ImportError:  # started from a source checkout that is neither built nor pip-installed
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
    from vitpose_ros.synthetic import demo_model_path

ARGUMENTS = [
    ("rviz", "false", "Start rviz2 with config/pose.rviz."),
    ("rate", "10.0", "Synthetic camera frames per second."),
    ("people", "2", "Number of synthetic people in the scene."),
    ("providers", "tensorrt,cuda,cpu", "ONNX Runtime execution providers, best first."),
    ("log_level", "info", "Log level of the pose node."),
    ("precision", "fp32", "Demo model precision: fp32 or int8 (the shipped INT8 copy)."),
]
PRECISIONS = ("fp32", "int8")  # the demo models that ship


def _pose(context, *args, **kwargs):
    precision = LaunchConfiguration("precision").perform(context).strip().lower()
    if precision not in PRECISIONS:
        raise ValueError(f"launch argument precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return [IncludeLaunchDescription(
        PythonLaunchDescriptionSource(str(pathlib.Path(__file__).with_name("pose.launch.py"))),
        launch_arguments=[("model", "s"), ("model_path", str(demo_model_path(must_exist=False, precision=precision))),
                          ("precision", precision),
                          ("rviz", LaunchConfiguration("rviz")), ("providers", LaunchConfiguration("providers")),
                          ("log_level", LaunchConfiguration("log_level"))])]


def generate_launch_description():
    camera = Node(
        package="vitpose_ros", executable="synthetic_camera", name="synthetic_camera", output="screen",
        parameters=[{"rate": ParameterValue(LaunchConfiguration("rate"), value_type=float),
                     "num_people": ParameterValue(LaunchConfiguration("people"), value_type=int)}])
    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value=default, description=description)
         for name, default, description in ARGUMENTS] + [camera, OpaqueFunction(function=_pose)])
