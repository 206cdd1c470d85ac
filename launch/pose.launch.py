"""ViTPose pose node (plus rviz2 on request): ros2 launch vitpose_ros pose.launch.py model:=b

Arguments: ros2 launch vitpose_ros pose.launch.py --show-args. Their mapping to node parameters
and remappings lives in vitpose_ros/ros/launch_args.py. The node's parameters come from
config/vitpose_<model>.yaml, then params_file:=your.yaml, then the arguments given on the command
line (only those: the others are left to the files).
"""
import pathlib
import sys

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

try:
    from vitpose_ros.ros.launch_args import (EXECUTABLE, LAUNCH_ARGUMENTS, PACKAGE_NAME, node_configuration,
                                             package_share_dir)
except ImportError:  # started from a source checkout that is neither built nor pip-installed
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
    from vitpose_ros.ros.launch_args import (EXECUTABLE, LAUNCH_ARGUMENTS, PACKAGE_NAME, node_configuration,
                                             package_share_dir)


def _launch_setup(context, *args, **kwargs):
    values = {name: LaunchConfiguration(name).perform(context) for name, _, _ in LAUNCH_ARGUMENTS}
    config = node_configuration(values, package_share_dir())
    # launch_ros reads plain str values as YAML (a path like "123" or "a #b" would change): keep them str.
    overrides = {name: ParameterValue(value, value_type=str) if isinstance(value, str) else value
                 for name, value in config["parameters"].items()}
    # The Fast DDS profile (large camera frames between processes) for the node and anything
    # this launch starts after it.
    actions = [SetEnvironmentVariable(name, value) for name, value in config["environment"].items()]
    actions += [
        Node(
            package=PACKAGE_NAME,
            executable=EXECUTABLE,
            name=config["node_name"],
            namespace=config["namespace"],
            parameters=[*config["parameters_files"]] + ([overrides] if overrides else []),
            remappings=config["remappings"],
            ros_arguments=config["ros_arguments"],
            output="screen",
        )
    ]
    if config["rviz"]:
        actions.append(
            Node(
                package="rviz2",
                executable="rviz2",
                name="rviz2",
                arguments=["-d", config["rviz_config"]],
                parameters=[config["rviz_parameters"]] if config["rviz_parameters"] else [],
                remappings=config["rviz_remappings"],
                output="screen",
            )
        )
    return actions


def generate_launch_description():
    declared = [DeclareLaunchArgument(name, default_value=default, description=description)
                for name, default, description in LAUNCH_ARGUMENTS]
    return LaunchDescription(declared + [OpaqueFunction(function=_launch_setup)])
