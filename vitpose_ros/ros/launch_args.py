"""Launch arguments of pose.launch.py and how they become the pose node's configuration.

Plain Python on purpose (no launch / launch_ros import): the launch files only declare the
arguments listed here and hand their values to `node_configuration`, so the mapping is tested
without a ROS launch installation.

The node's parameters come, lowest first, from config/vitpose_<model>.yaml, the user's
``params_file``, and the arguments set on the command line. Launch has no "was this argument
given" flag, so every argument that sets a node parameter defaults to the empty string, meaning
"not set": it is then left out, and the YAML files (or the node's own default, named in the
argument's description) decide.
"""
from __future__ import annotations

import os
import pathlib
import re
import sys

from ..constants import (DEFAULT_PROVIDERS, DETECTIONS_TYPES, DETECTORS, MODEL_SIZES, NODE_NAME,  # noqa: F401
                         PACKAGE_NAME, PIPELINES, PRECISIONS, PROVIDERS, TRACKERS)

EXECUTABLE = "pose_node"
LOG_LEVELS = ("debug", "info", "warn", "warning", "error", "fatal")
RVIZ_CONFIG = "pose.rviz"
RVIZ_CONFIG_3D = "pose_3d.rviz"  # with depth: 3D skeletons and the depth image
FASTDDS_PROFILE = "fastdds_large_frames.xml"  # in config/: camera frames between processes
# Fast DDS 3 (Kilted and later) reads the first, Fast DDS 2 (Humble, Jazzy) the second; setting
# the old one on Fast DDS 3 draws a deprecation warning, so only the distribution's own is set.
FASTDDS_PROFILE_VARIABLES = ("FASTDDS_DEFAULT_PROFILES_FILE", "FASTRTPS_DEFAULT_PROFILES_FILE")
FASTDDS_2_DISTROS = ("humble", "iron", "jazzy")

NOT_SET = ""  # the default of every argument that sets a node parameter: leave it to the YAML files
DEFAULT_MODEL = "b"  # the size whose config/vitpose_<size>.yaml applies when model is not set

# (name, default, description), in the order `ros2 launch ... --show-args` lists them.
LAUNCH_ARGUMENTS: list[tuple[str, str, str]] = [
    ("model", NOT_SET, "ViTPose model size s|b|l|h; picks config/vitpose_<model>.yaml and the default model file. "
                       "Not set: config/vitpose_b.yaml and its model_size b (a params_file may set another)."),
    ("model_path", "", "ONNX model file; empty: ~/.local/share/vitpose_ros/models/vitpose_<model>_coco.onnx "
                       "(or under $VITPOSE_MODEL_DIR)."),
    ("precision", NOT_SET, "Model precision fp32, fp16 or int8; with model_path empty it picks "
                           "vitpose_<model>_coco_<precision>.onnx (fp32: vitpose_<model>_coco.onnx). Not set: fp32."),
    ("image", "camera/image_raw", "Input image topic (sensor_msgs/Image); relative names are under namespace "
                                  "(/camera/image_raw without one); with compressed:=true its /compressed "
                                  "sub-topic is used."),
    ("detections", "detections", "Person detections topic (vision_msgs/Detection2DArray, or yolo_msgs/DetectionArray "
                                 "with detections_type:=yolo_msgs), used when use_detections is true; relative "
                                 "names are under namespace (/detections without one)."),
    ("camera_info", "camera/camera_info", "Camera info topic (sensor_msgs/CameraInfo) for placing the RViz markers; "
                                          "relative names are under namespace (/camera/camera_info without one)."),
    ("compressed", NOT_SET, "Subscribe to <image>/compressed (sensor_msgs/CompressedImage) instead of the raw image. "
                            "Not set: false."),
    ("use_detections", NOT_SET, "Estimate poses in the detected person boxes; false: the whole frame is one person. "
                                "Not set: true."),
    ("detector", NOT_SET, "Where person boxes come from: topic (the detections topic) or builtin (the node runs "
                          "a person detector ONNX on each image, with the pose network's providers; no detections "
                          "topic). Not set: topic."),
    ("detector_path", "", "Person detector ONNX for detector:=builtin; empty: "
                          "~/.local/share/vitpose_ros/models/detector_rtdetr_r18.onnx (or under $VITPOSE_MODEL_DIR), "
                          "where vitpose-fetch --detector rtdetr-r18 writes."),
    ("providers", NOT_SET, "Comma-separated ONNX Runtime execution providers, best first, from "
                           "tensorrt, cuda, cpu; unavailable ones are skipped. Not set: tensorrt,cuda,cpu."),
    ("fp16", NOT_SET, "Run the network in fp16: TensorRT builds an fp16 engine, CUDA loads <model>_fp16.onnx "
                      "(made by vitpose-convert) when it exists. Not set: true."),
    ("pipeline", NOT_SET, "Where crops are cut and heatmaps decoded: graph (on the provider, in one ONNX graph), "
                          "host (OpenCV/numpy) or auto (graph on TensorRT/CUDA, host on CPU). Not set: auto."),
    ("depth", "", "Depth image registered to the colour image (sensor_msgs/Image 16UC1 mm or 32FC1 m), e.g. "
                  "/camera/aligned_depth_to_color/image_raw; publishes pose/keypoints_3d. Empty: no depth."),
    ("tracker", NOT_SET, "Person ids when detections carry none: iou (built-in tracker) or none. Not set: iou."),
    ("detect_every", NOT_SET, "Detections are needed every N-th image only: images in between take each person's "
                              "box from its keypoints in the previous image (ids carried). Not set: 1."),
    ("hold_missed", NOT_SET, "Detection frames in a row a tracked person the detector misses keeps a box from its "
                             "keypoints (id carried; 0: dropped at once). Not set: 0."),
    ("smoothing", NOT_SET, "One Euro smoothing of each tracked person's keypoints. Not set: false."),
    ("namespace", "", "Namespace of the pose node; its relative topics (pose/..., and the inputs unless given as "
                      "absolute names) move under it."),
    ("rviz", "false", "Also start rviz2 with config/pose.rviz (markers, annotated image, input image)."),
    ("log_level", "info", "Log level of the pose node: debug, info, warn, error or fatal."),
    ("detections_type", NOT_SET, "Message type on the detections topic: vision_msgs (Detection2DArray) or "
                                 "yolo_msgs (yolo_ros DetectionArray). Not set: vision_msgs."),
    ("fastdds_profile", "auto", "Fast DDS profile for this launch's processes: auto (config/fastdds_large_frames.xml, "
                                "so large camera frames arrive, unless FASTDDS_/FASTRTPS_DEFAULT_PROFILES_FILE is "
                                "set), none, or an XML file."),
    ("autostart", NOT_SET, "Configure and activate the pose node (a lifecycle node) at start-up; false: leave the "
                           "transitions to a lifecycle manager (ros2 lifecycle set /vitpose configure, activate). "
                           "Not set: true."),
    ("params_file", "", "A YAML file of node parameters (ros__parameters under /** or the node's name) applied "
                        "over config/vitpose_<model>.yaml; the arguments set on the command line win over it."),
    ("use_sim_time", NOT_SET, "Take time from /clock (ros2 bag play --clock, a simulator), for the pose node and "
                              "rviz2. Not set: false."),
    ("node_name", NODE_NAME, "Name of the pose node (two pose nodes in one system need two names, or two "
                             "namespaces)."),
]
ARGUMENT_NAMES = tuple(name for name, _, _ in LAUNCH_ARGUMENTS)
DEFAULTS = {name: default for name, default, _ in LAUNCH_ARGUMENTS}

_TRUE = ("true", "1", "yes")
_FALSE = ("false", "0", "no")
_NAME_TOKEN = r"[A-Za-z_][A-Za-z0-9_]*"
_NAMESPACE = re.compile(rf"^/?{_NAME_TOKEN}(/{_NAME_TOKEN})*$")
_TOPIC = _NAMESPACE  # absolute or relative, no ~ or substitutions


def parse_bool(name: str, value) -> bool:
    """'true/false/1/0/yes/no' in any case (or a bool) -> bool; anything else is a ValueError."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"launch argument {name} must be true or false (also 1/0, yes/no), got {value!r}")


def parse_providers(value) -> list[str]:
    """'tensorrt, cuda,cpu' -> ['tensorrt', 'cuda', 'cpu']: stripped, validated, duplicates dropped."""
    providers = []
    for item in str(value).split(","):
        provider = item.strip().lower()
        if not provider:
            continue
        if provider not in PROVIDERS:
            raise ValueError(f"launch argument providers: unknown provider {item.strip()!r}, "
                             f"use a comma-separated list of {', '.join(PROVIDERS)}")
        if provider not in providers:
            providers.append(provider)
    if not providers:
        raise ValueError(f"launch argument providers is empty, use a comma-separated list of {', '.join(PROVIDERS)}")
    return providers


def _choice(name: str, value, choices) -> str:
    text = str(value).strip().lower()
    if text not in choices:
        raise ValueError(f"launch argument {name} must be one of {', '.join(choices)}, got {value!r}")
    return text


def _whole_number(name: str, value, least: int) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        number = least - 1
    if number < least:
        raise ValueError(f"launch argument {name} must be a whole number of at least {least}, got {value!r}")
    return number


def _positive_int(name: str, value) -> int:
    return _whole_number(name, value, 1)


def _topic(name: str, value) -> str:
    text = str(value).strip()
    if not _TOPIC.match(text):
        raise ValueError(f"launch argument {name} must be a ROS topic name like /camera/image_raw, got {value!r}")
    return text


def _namespace(value) -> str:
    text = str(value).strip()
    text = "" if text == "/" else text.rstrip("/")
    if text and not _NAMESPACE.match(text):
        raise ValueError(f"launch argument namespace must be empty or a ROS namespace like robot1, got {value!r}")
    return text


def resolve_topic(namespace: str, topic: str) -> str:
    """Where a node in `namespace` publishes the relative `topic` (absolute topics stay)."""
    if topic.startswith("/"):
        return topic
    return "/" + "/".join(part for part in (namespace.strip("/"), topic) if part)


def package_share_dir() -> pathlib.Path:
    """The folder holding launch/ and config/: the installed share dir, else the source tree."""
    try:
        from ament_index_python.packages import get_package_share_directory

        return pathlib.Path(get_package_share_directory(PACKAGE_NAME))
    except (ImportError, LookupError, ValueError, OSError):  # PackageNotFoundError is a KeyError
        pass
    source_tree = pathlib.Path(__file__).resolve().parents[2]
    candidates = [source_tree, pathlib.Path(sys.prefix) / "share" / PACKAGE_NAME]  # pip install: data_files
    for candidate in candidates:
        if (candidate / "config").is_dir() and (candidate / "launch").is_dir():
            return candidate
    return source_tree


def dds_environment(profile, share_dir, environ=None) -> dict[str, str]:
    """The environment variable that makes the launched processes use a Fast DDS profile.

    ``auto``: the shipped large-frames profile, unless the user already names a profile file in
    ``environ`` (their choice stands); ``none``: nothing; else the path of an XML profile.
    """
    environ = os.environ if environ is None else environ
    text = str(profile).strip()
    if text.lower() == "none":
        return {}
    if text.lower() == "auto":
        if any(environ.get(name) for name in FASTDDS_PROFILE_VARIABLES):
            return {}
        path = pathlib.Path(share_dir) / "config" / FASTDDS_PROFILE
    else:
        path = pathlib.Path(text).expanduser()
        if not path.is_file():
            raise ValueError(f"launch argument fastdds_profile: {path} is not a file (use auto, none or an XML file)")
    fastdds_2 = environ.get("ROS_DISTRO", "").lower() in FASTDDS_2_DISTROS
    return {FASTDDS_PROFILE_VARIABLES[1] if fastdds_2 else FASTDDS_PROFILE_VARIABLES[0]: str(path)}


def _node_name(value) -> str:
    text = str(value).strip()
    if not re.fullmatch(_NAME_TOKEN, text):
        raise ValueError(f"launch argument node_name must be a ROS node name like vitpose_front, got {value!r}")
    return text


def _params_file(value) -> pathlib.Path | None:
    text = str(value).strip()
    if not text:
        return None
    path = pathlib.Path(text).expanduser()
    if not path.is_file():
        raise ValueError(f"launch argument params_file: {path} is not a file (a YAML of ros__parameters)")
    return path


# Arguments that set one node parameter each, only when given: name -> (parameter, parse(name, text)).
_PARAMETER_ARGUMENTS = {
    "model": ("model_size", lambda name, value: _choice(name, value, MODEL_SIZES)),
    "precision": ("precision", lambda name, value: _choice(name, value, PRECISIONS)),
    "providers": ("providers", lambda name, value: parse_providers(value)),
    "fp16": ("fp16", parse_bool),
    "pipeline": ("pipeline", lambda name, value: _choice(name, value, PIPELINES)),
    "use_detections": ("use_detections", parse_bool),
    "compressed": ("compressed", parse_bool),
    "tracker": ("tracker", lambda name, value: _choice(name, value, TRACKERS)),
    "smoothing": ("smoothing", parse_bool),
    "detections_type": ("detections_type", lambda name, value: _choice(name, value, DETECTIONS_TYPES)),
    "use_sim_time": ("use_sim_time", parse_bool),
    "autostart": ("autostart", parse_bool),
    "detect_every": ("detect_every", _positive_int),
    "hold_missed": ("hold_missed", lambda name, value: _whole_number(name, value, 0)),
    "detector": ("detector", lambda name, value: _choice(name, value, DETECTORS)),
    "detector_path": ("detector_path", lambda name, value: str(value).strip()),
    "model_path": ("model_path", lambda name, value: str(value).strip()),
}


def node_configuration(args: dict, share_dir) -> dict:
    """Launch argument values (strings, as launch gives them) -> what the pose node is started with.

    Returns {"parameters_file" (the size's), "parameters_files" (it, then params_file's), "parameters"
    (only from the arguments set: they go after the files and win), "node_name", "remappings",
    "namespace", "ros_arguments", "rviz", "rviz_config", "rviz_remappings", "rviz_parameters",
    "environment"}. Arguments left out take their LAUNCH_ARGUMENTS default (empty: not set); an
    unknown or invalid one raises ValueError with a one-line message.
    """
    unknown = sorted(set(args) - set(ARGUMENT_NAMES))
    if unknown:
        raise ValueError(f"unknown launch argument(s) {', '.join(unknown)}; known: {', '.join(ARGUMENT_NAMES)}")
    values = {**DEFAULTS, **args}
    share_dir = pathlib.Path(share_dir)

    parameters = {}
    for name, (parameter, parse) in _PARAMETER_ARGUMENTS.items():
        if str(values[name]).strip() != NOT_SET:
            parameters[parameter] = parse(name, values[name])
    image = _topic("image", values["image"])
    namespace = _namespace(values["namespace"])
    log_level = _choice("log_level", values["log_level"], LOG_LEVELS).replace("warning", "warn")
    depth = str(values["depth"]).strip()
    if depth:
        parameters["use_depth"] = True

    model = parameters.get("model_size", DEFAULT_MODEL)
    parameters_file = share_dir / "config" / f"vitpose_{model}.yaml"
    if not parameters_file.is_file():
        raise ValueError(f"parameters file {parameters_file} not found; is {PACKAGE_NAME} installed (colcon build)?")
    user_file = _params_file(values["params_file"])

    # Only where the topic differs from the node's own name (which already moves with namespace).
    remappings = [(own, topic) for own, topic in (
        ("camera/image_raw", image),
        ("detections", _topic("detections", values["detections"])),
        ("camera/camera_info", _topic("camera_info", values["camera_info"])),
        ("camera/image_raw/compressed", image.rstrip("/") + "/compressed"),  # used with compressed (here or a YAML)
    ) + ((("depth/image_raw", _topic("depth", depth)),) if depth else ()) if own != topic]

    # rviz2's config names absolute topics; remap them to where this node and its input are.
    rviz_remappings = [(default, actual) for default, actual in (
        ("/camera/image_raw", resolve_topic(namespace, image)),
        ("/pose/markers", resolve_topic(namespace, "pose/markers")),
        ("/pose/image", resolve_topic(namespace, "pose/image")),
    ) + ((("/camera/aligned_depth_to_color/image_raw", resolve_topic(namespace, depth)),
          ("/pose/keypoints_3d", resolve_topic(namespace, "pose/keypoints_3d"))) if depth else ())
        if default != actual]

    return {
        "parameters_file": str(parameters_file),
        "parameters_files": [str(parameters_file)] + ([str(user_file)] if user_file else []),
        "parameters": parameters,
        "node_name": _node_name(values["node_name"]),
        "remappings": remappings,
        "namespace": namespace,
        "ros_arguments": ["--log-level", log_level],
        "rviz": parse_bool("rviz", values["rviz"]),
        "rviz_config": str(share_dir / "config" / (RVIZ_CONFIG_3D if depth else RVIZ_CONFIG)),
        "rviz_remappings": rviz_remappings,
        "rviz_parameters": {"use_sim_time": parameters["use_sim_time"]} if "use_sim_time" in parameters else {},
        "environment": dds_environment(values["fastdds_profile"], share_dir),
    }


def sized_launch_description(model: str, pose_launch_file):
    """The LaunchDescription of vitpose_<model>.launch.py: pose.launch.py with the size fixed.

    Declares every argument of pose.launch.py but ``model`` and passes them through. Imports
    launch here, not at module level: this module must load where launch is not installed.
    """
    from launch import LaunchDescription
    from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
    from launch.launch_description_sources import PythonLaunchDescriptionSource
    from launch.substitutions import LaunchConfiguration

    _choice("model", model, MODEL_SIZES)
    passed = [(name, default, description) for name, default, description in LAUNCH_ARGUMENTS if name != "model"]
    launch_arguments = [("model", model)] + [(name, LaunchConfiguration(name)) for name, _, _ in passed]
    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value=default, description=description)
         for name, default, description in passed]
        + [IncludeLaunchDescription(PythonLaunchDescriptionSource(str(pose_launch_file)),
                                    launch_arguments=launch_arguments)]
    )
