"""ViTPose-S (ViT-S backbone): pose.launch.py with model:=s. ros2 launch vitpose_ros vitpose_s.launch.py

Takes every argument of pose.launch.py except model (see --show-args).
"""
import pathlib
import sys

try:
    from vitpose_ros.ros.launch_args import sized_launch_description
except ImportError:  # started from a source checkout that is neither built nor pip-installed
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
    from vitpose_ros.ros.launch_args import sized_launch_description


def generate_launch_description():
    return sized_launch_description("s", pathlib.Path(__file__).with_name("pose.launch.py"))
