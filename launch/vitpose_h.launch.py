"""ViTPose-H (ViT-H backbone): pose.launch.py with model:=h. ros2 launch vitpose_ros vitpose_h.launch.py

Takes every argument of pose.launch.py except model (see --show-args).
"""
import pathlib
import sys

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration

try:
    from vitpose_ros.launch_args import LAUNCH_ARGUMENTS
except ImportError:  # started from a source checkout that is neither built nor pip-installed
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
    from vitpose_ros.launch_args import LAUNCH_ARGUMENTS

MODEL = "h"


def generate_launch_description():
    passed = [(name, default, description) for name, default, description in LAUNCH_ARGUMENTS if name != "model"]
    pose_launch = pathlib.Path(__file__).with_name("pose.launch.py")
    launch_arguments = [("model", MODEL)] + [(name, LaunchConfiguration(name)) for name, _, _ in passed]
    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value=default, description=description)
         for name, default, description in passed]
        + [IncludeLaunchDescription(PythonLaunchDescriptionSource(str(pose_launch)),
                                    launch_arguments=launch_arguments)]
    )
