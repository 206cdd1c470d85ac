"""Launch arguments -> node configuration, the per-size parameter files, the RViz config, and the
launch files themselves, run against recording stand-ins for launch / launch_ros (no ROS launch
installation needed; test_launch_files.py launches them for real where there is one)."""
import ast
import importlib.util
import pathlib
import re
import sys
import types

import pytest
import yaml

from vitpose_ros.ros import launch_args
from vitpose_ros.ros.launch_args import LAUNCH_ARGUMENTS, MODEL_SIZES, node_configuration, package_share_dir

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARE = package_share_dir()
LAUNCH_FILES = ["pose.launch.py"] + [f"vitpose_{size}.launch.py" for size in MODEL_SIZES]
EXPECTED_ARGUMENTS = ["model", "model_path", "precision", "image", "detections", "camera_info", "compressed",
                      "use_detections", "detector", "detector_path", "providers", "fp16", "pipeline", "depth",
                      "tracker", "detect_every", "hold_missed", "smoothing",
                      "namespace", "rviz", "log_level", "detections_type", "fastdds_profile", "autostart",
                      "params_file", "use_sim_time", "node_name"]


def config(**args):
    return node_configuration(args, SHARE)


# -- node_configuration ------------------------------------------------------------------------

def test_share_dir_holds_the_launch_and_config_files():
    for name in LAUNCH_FILES:
        assert (SHARE / "launch" / name).is_file()
    for size in MODEL_SIZES:
        assert (SHARE / "config" / f"vitpose_{size}.yaml").is_file()
    assert (SHARE / "config" / "pose.rviz").is_file()


def test_share_dir_falls_back_to_the_source_tree_without_an_ament_install(monkeypatch):
    packages = pytest.importorskip("ament_index_python.packages")

    def not_found(name):
        raise packages.PackageNotFoundError(f"package '{name}' not found")

    monkeypatch.setattr(packages, "get_package_share_directory", not_found)
    assert package_share_dir() == REPO
    monkeypatch.setattr(packages, "get_package_share_directory", lambda name: f"/opt/ros/share/{name}")
    assert package_share_dir() == pathlib.Path("/opt/ros/share/vitpose_ros")


@pytest.mark.parametrize("size", MODEL_SIZES)
def test_each_size_picks_its_parameter_file(size):
    c = config(model=size)
    path = pathlib.Path(c["parameters_file"])
    assert isinstance(c["parameters_file"], str)
    assert path.name == f"vitpose_{size}.yaml" and path.is_file()
    assert c["parameters"]["model_size"] == size


def test_defaults():
    c = config()
    assert pathlib.Path(c["parameters_file"]).name == "vitpose_b.yaml" and c["parameters_files"] == [c["parameters_file"]]
    assert c["parameters"] == {}  # nothing set: the parameter file and the node's defaults decide
    assert c["remappings"] == []  # the node's own names, /camera/image_raw, /detections, /camera/camera_info
    assert c["namespace"] == "" and c["node_name"] == "vitpose"
    assert c["rviz_parameters"] == {}
    assert c["ros_arguments"] == ["--log-level", "info"]
    assert c["rviz"] is False
    assert c["rviz_config"] == str(SHARE / "config" / "pose.rviz")
    assert c["rviz_remappings"] == []
    # launch hands every value over as a string: the defaults as strings give the same result
    assert node_configuration({name: default for name, default, _ in LAUNCH_ARGUMENTS}, SHARE) == c


def test_values_get_their_parameter_types():
    c = config(model="L", model_path="/models/my model.onnx", providers=" CPU , cuda,,cpu ", fp16="False",
               pipeline=" Graph", use_detections="0", compressed="yes", rviz="TRUE", log_level="DEBUG",
               precision=" INT8 ")
    p = c["parameters"]
    assert p == {"model_size": "l", "precision": "int8", "model_path": "/models/my model.onnx",
                 "providers": ["cpu", "cuda"], "fp16": False, "pipeline": "graph", "use_detections": False,
                 "compressed": True}
    assert all(type(p[k]) is bool for k in ("fp16", "use_detections", "compressed"))
    assert all(type(x) is str for x in p["providers"])
    assert c["rviz"] is True
    assert c["ros_arguments"] == ["--log-level", "debug"]
    assert config(log_level="Warning")["ros_arguments"] == ["--log-level", "warn"]


@pytest.mark.parametrize("text, value", [("true", True), ("True", True), ("1", True), ("YES", True), (" yes ", True),
                                         ("false", False), ("FALSE", False), ("0", False), ("No", False),
                                         (True, True), (False, False)])
def test_booleans(text, value):
    assert config(fp16=text)["parameters"]["fp16"] is value


def test_hold_missed_becomes_an_integer_parameter_zero_allowed():
    assert "hold_missed" not in config()["parameters"]  # the node's default, 0
    assert config(hold_missed="0")["parameters"]["hold_missed"] == 0
    assert config(hold_missed=" 2")["parameters"]["hold_missed"] == 2
    for bad in ("-1", "two", "1.5"):
        with pytest.raises(ValueError, match="hold_missed must be a whole number of at least 0"):
            config(hold_missed=bad)


def test_detect_every_becomes_an_integer_parameter_and_is_checked():
    assert "detect_every" not in config()["parameters"]  # the node's default, 1
    assert config(detect_every=" 5 ")["parameters"]["detect_every"] == 5
    for bad in ("0", "-2", "two", "1.5"):
        with pytest.raises(ValueError, match="detect_every"):
            config(detect_every=bad)


def test_model_path_is_left_out_when_empty():
    assert "model_path" not in config(model_path="")["parameters"]
    assert "model_path" not in config(model_path="  ")["parameters"]
    assert config(model_path="~/m.onnx")["parameters"]["model_path"] == "~/m.onnx"


def test_remappings_follow_the_topic_arguments():
    c = config(image="/cam0/color/image_raw", detections="/yolo/detections", camera_info="/cam0/color/camera_info")
    assert c["remappings"] == [("camera/image_raw", "/cam0/color/image_raw"), ("detections", "/yolo/detections"),
                               ("camera/camera_info", "/cam0/color/camera_info"),
                               ("camera/image_raw/compressed", "/cam0/color/image_raw/compressed")]
    assert config(image="/camera/image_raw")["remappings"] == [
        ("camera/image_raw", "/camera/image_raw"), ("camera/image_raw/compressed", "/camera/image_raw/compressed")]


def test_the_compressed_image_topic_follows_the_image_argument():
    """Also when compressed comes from a params file: the remapping is there whenever image moves."""
    c = config(image="/cam0/image_raw", compressed="true")
    assert c["parameters"]["compressed"] is True
    assert c["remappings"] == [("camera/image_raw", "/cam0/image_raw"),
                               ("camera/image_raw/compressed", "/cam0/image_raw/compressed")]
    assert config(image="/cam0/image_raw")["remappings"] == c["remappings"]
    assert config(compressed="true")["remappings"] == []  # the node's own camera/image_raw/compressed


def test_input_topics_move_with_the_namespace_and_resolve_to_the_old_names_without_one():
    from vitpose_ros.ros.launch_args import resolve_topic

    for name, old in (("image", "/camera/image_raw"), ("detections", "/detections"),
                      ("camera_info", "/camera/camera_info")):
        default = launch_args.DEFAULTS[name]
        assert resolve_topic("", default) == old
        assert resolve_topic("robot1", default) == "/robot1" + old
    # the node's own names are the defaults, so nothing is remapped and the namespace applies
    assert config(namespace="robot1")["remappings"] == []
    assert config(namespace="robot1", image="/shared/image")["remappings"][0] == ("camera/image_raw", "/shared/image")


def test_namespace_moves_rviz_topics_with_the_node():
    c = config(namespace="/robot1/", image="/cam/image")
    assert c["namespace"] == "/robot1"
    assert c["rviz_remappings"] == [("/camera/image_raw", "/cam/image"), ("/pose/markers", "/robot1/pose/markers"),
                                    ("/pose/image", "/robot1/pose/image")]
    assert config(namespace="robot1", image="cam/image")["rviz_remappings"][0] == ("/camera/image_raw",
                                                                                   "/robot1/cam/image")
    assert config(namespace="/")["namespace"] == ""


def test_autostart_false_leaves_the_transitions_to_a_lifecycle_manager():
    assert config(autostart="False")["parameters"]["autostart"] is False
    with pytest.raises(ValueError, match="autostart"):
        config(autostart="later")


def test_depth_tracker_and_smoothing():
    c = config(depth="/cam/aligned_depth_to_color/image_raw", tracker="None", smoothing="true", namespace="r1")
    assert c["parameters"]["use_depth"] is True and c["parameters"]["tracker"] == "none"
    assert c["parameters"]["smoothing"] is True
    assert c["remappings"][-1] == ("depth/image_raw", "/cam/aligned_depth_to_color/image_raw")
    assert c["rviz_config"] == str(SHARE / "config" / "pose_3d.rviz")
    assert ("/camera/aligned_depth_to_color/image_raw", "/cam/aligned_depth_to_color/image_raw") in c["rviz_remappings"]
    assert ("/pose/keypoints_3d", "/r1/pose/keypoints_3d") in c["rviz_remappings"]
    plain = config(depth="  ")
    assert "use_depth" not in plain["parameters"] and not any(s == "depth/image_raw" for s, _ in plain["remappings"])
    # the tracker choices are the node's
    from vitpose_ros.ros.parameters import TRACKERS

    assert launch_args.TRACKERS == TRACKERS


@pytest.mark.parametrize("args, words", [
    ({"model": "x"}, "model"), ({"model": "b,l"}, "model"),
    ({"fp16": "maybe"}, "fp16"), ({"pipeline": "gpu"}, "pipeline"), ({"compressed": "none"}, "compressed"),
    ({"use_detections": "2"}, "use_detections"), ({"rviz": "on?"}, "rviz"),
    ({"providers": "cuda,opencl"}, "opencl"), ({"providers": " , "}, "providers"),
    ({"log_level": "verbose"}, "log_level"), ({"log_level": ""}, "log_level"),
    ({"image": ""}, "image"), ({"image": "/camera/image raw"}, "image"), ({"detections": "/a//b"}, "detections"),
    ({"camera_info": "/1info"}, "camera_info"), ({"namespace": "bad ns"}, "namespace"),
    ({"modle": "s"}, "modle"), ({"precision": "int4"}, "precision"), ({"use_sim_time": "sim"}, "use_sim_time"),
    ({"node_name": "pose node"}, "node_name"), ({"node_name": "/vitpose"}, "node_name"), ({"node_name": ""}, "node_name"),
    ({"params_file": "/no/such/params.yaml"}, "params_file"),
    ({"tracker": "kalman"}, "tracker"), ({"smoothing": "maybe"}, "smoothing"), ({"depth": "/a b"}, "depth"),
    ({"detections_type": "darknet"}, "detections_type"), ({"detector": "yolo"}, "detector"),
    ({"fastdds_profile": "/no/such/profile.xml"}, "fastdds_profile"),
])
def test_invalid_values_raise_one_line_value_errors(args, words):
    with pytest.raises(ValueError) as error:
        config(**args)
    message = str(error.value)
    assert "\n" not in message and words in message


def test_params_file_comes_after_the_size_file_and_node_name_renames_the_node(tmp_path):
    mine = tmp_path / "mine.yaml"
    mine.write_text("/**:\n  ros__parameters:\n    max_persons: 1\n")
    c = config(model="s", params_file=str(mine), node_name="vitpose_front")
    assert c["parameters_files"] == [str(SHARE / "config" / "vitpose_s.yaml"), str(mine)]
    assert c["parameters"] == {"model_size": "s"} and c["node_name"] == "vitpose_front"


def test_params_file_expands_the_home_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "mine.yaml").write_text("/**:\n  ros__parameters:\n    max_persons: 1\n")
    assert config(params_file="~/mine.yaml")["parameters_files"][1] == str(tmp_path / "mine.yaml")


def test_use_sim_time_reaches_the_node_and_rviz():
    c = config(use_sim_time="true", rviz="true")
    assert c["parameters"] == {"use_sim_time": True} and c["rviz_parameters"] == {"use_sim_time": True}
    assert config(use_sim_time="False")["parameters"] == {"use_sim_time": False}


def _launched_parameter_files(c, tmp_path) -> list[str]:
    """The --params-file list launch_ros gives the node for ``c``: its files in order, then the
    arguments' parameters written to a file of their own (launch_ros does that with a dict)."""
    overrides = tmp_path / "launch_overrides.yaml"
    overrides.write_text(yaml.safe_dump({"/**": {"ros__parameters": c["parameters"]}}))
    return [*c["parameters_files"], str(overrides)]


def test_a_params_file_wins_over_launch_defaults_and_set_arguments_win_over_it(tmp_path, tiny_model):
    """Through rcl's own parameter-file handling into a real node: the user's YAML over the size's
    file, the arguments given on the command line over both, defaults of unset arguments nowhere."""
    rclpy = pytest.importorskip("rclpy")
    from vitpose_ros.ros.node import PoseNode

    mine = tmp_path / "mine.yaml"
    mine.write_text(yaml.safe_dump({"/**": {"ros__parameters": {
        "max_persons": 1, "tracker": "none", "smoothing": True, "fp16": False, "providers": ["cpu"],
        "model_path": str(tiny_model), "qos_reliability": "reliable", "smoothing_trend": False}}}))
    c = config(model="l", params_file=str(mine), smoothing="false", use_sim_time="true")
    files = _launched_parameter_files(c, tmp_path)
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        node = PoseNode(context=context, cli_args=["--ros-args"] + [arg for f in files for arg in ("--params-file", f)])
        try:
            p = node.params
            assert (p["max_persons"], p["tracker"], p["fp16"], list(p["providers"])) == (1, "none", False, ["cpu"])
            assert (p["qos_reliability"], p["smoothing_trend"]) == ("reliable", False)
            assert p["smoothing"] is False  # smoothing:=false was given: it wins over the YAML
            assert p["model_size"] == "l" and p["max_batch"] == 8  # model:=l's file underneath
            assert node.get_parameter("use_sim_time").value is True
        finally:
            node.destroy_node()
    finally:
        rclpy.shutdown(context=context)


def test_missing_parameter_file_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="vitpose_b.yaml"):
        node_configuration({}, tmp_path)


def test_module_imports_no_launch():
    tree = ast.parse((REPO / "vitpose_ros" / "ros" / "launch_args.py").read_text())
    imported = {alias.name.split(".")[0] for node in tree.body if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in tree.body if isinstance(node, ast.ImportFrom) and node.module}
    assert not imported & {"launch", "launch_ros", "rclpy"}


def test_detections_type_reaches_the_node_parameters():
    assert config(detections_type="YOLO_msgs")["parameters"]["detections_type"] == "yolo_msgs"


def test_builtin_detector_and_its_file_reach_the_node_parameters():
    p = config(detector=" Builtin ", detector_path="/models/people.onnx")["parameters"]
    assert p["detector"] == "builtin" and p["detector_path"] == "/models/people.onnx"
    assert "detector_path" not in config(detector="builtin", detector_path=" ")["parameters"]


PROFILE_VARIABLES = ("FASTDDS_DEFAULT_PROFILES_FILE", "FASTRTPS_DEFAULT_PROFILES_FILE")


def test_fastdds_profile_is_the_shipped_one_unless_the_user_chose(monkeypatch, tmp_path):
    for name in PROFILE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ROS_DISTRO", "kilted")  # Fast DDS 3
    shipped = SHARE / "config" / "fastdds_large_frames.xml"
    assert shipped.is_file()
    assert config()["environment"] == {"FASTDDS_DEFAULT_PROFILES_FILE": str(shipped)}
    assert config(fastdds_profile="none")["environment"] == {}
    own = tmp_path / "mine.xml"
    own.write_text("<dds/>")
    assert config(fastdds_profile=str(own))["environment"] == {"FASTDDS_DEFAULT_PROFILES_FILE": str(own)}
    for distro in ("humble", "jazzy"):  # Fast DDS 2 reads the older variable
        monkeypatch.setenv("ROS_DISTRO", distro)
        assert config()["environment"] == {"FASTRTPS_DEFAULT_PROFILES_FILE": str(shipped)}
    for name in PROFILE_VARIABLES:  # a profile the user set in the shell stands, whichever variable
        monkeypatch.setenv(name, str(own))
        assert config()["environment"] == {}
        monkeypatch.delenv(name)


def test_fastdds_profile_parses_and_makes_shared_memory_large():
    import xml.etree.ElementTree as ET

    root = ET.parse(SHARE / "config" / "fastdds_large_frames.xml").getroot()
    strip = {el: el.tag.split("}")[-1] for el in root.iter()}
    descriptors = [el for el in root.iter() if strip[el] == "transport_descriptor"]
    shm = [d for d in descriptors if any(strip[c] == "type" and c.text == "SHM" for c in d)]
    (segment,) = [c for c in shm[0] if strip[c] == "segment_size"]
    assert int(segment.text) >= 8 * 1280 * 720 * 3  # several 1280x720 rgb8 frames
    participant = next(el for el in root.iter() if strip[el] == "participant")
    assert participant.get("is_default_profile") == "true"


# -- launch arguments --------------------------------------------------------------------------

def test_launch_arguments_are_complete_and_described():
    assert [name for name, _, _ in LAUNCH_ARGUMENTS] == EXPECTED_ARGUMENTS
    for name, default, description in LAUNCH_ARGUMENTS:
        assert isinstance(default, str), name
        assert description.strip() and description.endswith(".") and "\n" not in description, name
    defaults = {name: default for name, default, _ in LAUNCH_ARGUMENTS}
    # arguments that set a node parameter default to "" (not set: the YAML files decide)
    assert defaults == {"model": "", "model_path": "", "precision": "", "image": "camera/image_raw",
                        "detections": "detections", "camera_info": "camera/camera_info", "compressed": "",
                        "use_detections": "", "providers": "", "fp16": "", "pipeline": "", "depth": "",
                        "tracker": "", "smoothing": "", "namespace": "", "rviz": "false", "log_level": "info",
                        "detections_type": "", "fastdds_profile": "auto", "params_file": "", "use_sim_time": "",
                        "node_name": "vitpose", "autostart": "", "detect_every": "", "hold_missed": "", "detector": "",
                        "detector_path": ""}


def test_arguments_left_unset_describe_the_node_default_they_leave_in_place():
    from vitpose_ros.ros.parameters import PARAMETERS

    def shown(value):
        return ",".join(value) if isinstance(value, list) else str(value).lower() if isinstance(value, bool) else value

    described = {name: description for name, _, description in LAUNCH_ARGUMENTS}
    for name in ("precision", "providers", "fp16", "pipeline", "use_detections", "compressed", "tracker", "smoothing",
                 "detections_type", "autostart", "detect_every", "hold_missed", "detector"):
        assert launch_args.DEFAULTS[name] == launch_args.NOT_SET, name
        assert f"Not set: {shown(PARAMETERS[name][0])}." in described[name], name
        assert config(**{name: launch_args.DEFAULTS[name]})["parameters"] == {}, name
    assert PARAMETERS["model_size"][0] == launch_args.DEFAULT_MODEL and "Not set: config/vitpose_b.yaml" in described["model"]
    assert "Not set: false." in described["use_sim_time"]  # rclpy's own parameter


# -- parameter files ---------------------------------------------------------------------------

def _node_parameters():
    from vitpose_ros.ros.node import PARAMETERS

    return PARAMETERS


def _yaml_parameters(size):
    data = yaml.safe_load((SHARE / "config" / f"vitpose_{size}.yaml").read_text())
    assert list(data) == ["/**"] and list(data["/**"]) == ["ros__parameters"]
    return data["/**"]["ros__parameters"]


@pytest.mark.parametrize("size", MODEL_SIZES)
def test_parameter_files_name_node_parameters_with_their_types_and_ranges(size):
    declared = _node_parameters()
    params = _yaml_parameters(size)
    assert params, size
    for name, value in params.items():
        assert name in declared, f"{name} is not a parameter of the node"
        default, _, extra = declared[name]
        assert type(value) is type(default), f"{name}: {value!r} is not a {type(default).__name__}"
        if isinstance(default, list):
            assert value, f"{name}: empty lists have no type in ROS"
            assert {type(x) for x in value} == {type(default[0])}, name
        for key in ("integer_range", "floating_point_range"):
            if key in extra:
                low, high = extra[key][0].from_value, extra[key][0].to_value
                assert low <= value <= high, f"{name}: {value} outside [{low}, {high}]"
    assert params["model_size"] == size
    assert params["flip_test"] is False and params["sync_slop"] == 0.05
    assert params["qos_reliability"] == "best_effort" and params["marker_depth"] == 3.0
    assert set(params["providers"]) <= set(launch_args.PROVIDERS)
    assert params["max_batch"] == {"s": 16, "b": 16, "l": 8, "h": 8}[size]


@pytest.mark.parametrize("size", MODEL_SIZES)
def test_parameter_files_say_which_model_they_expect(size):
    text = (SHARE / "config" / f"vitpose_{size}.yaml").read_text()
    assert f"~/.local/share/vitpose_ros/models/vitpose_{size}_coco.onnx" in text
    assert "python -m vitpose_ros.model.export --checkpoint" in text and "--output" in text


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from model_factory import export_random_model

    return export_random_model(tmp_path_factory.mktemp("launch_args") / "tiny.onnx")


@pytest.mark.parametrize("size", MODEL_SIZES)
def test_parameter_files_load_into_a_real_node(size, tiny_model):
    """rcl parses the file as ROS parameters and the node accepts every value (types, ranges)."""
    rclpy = pytest.importorskip("rclpy")
    from vitpose_ros.ros.node import PoseNode

    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        node = PoseNode(context=context, cli_args=[
            "--ros-args", "--params-file", str(SHARE / "config" / f"vitpose_{size}.yaml"),
            "-p", f"model_path:={tiny_model}", "-p", "providers:=[cpu]"])
        try:
            for name, value in _yaml_parameters(size).items():
                if name != "providers":
                    actual = node.params[name]
                    assert (list(actual) if isinstance(value, list) else actual) == value, name
        finally:
            node.destroy_node()
    finally:
        rclpy.shutdown(context=context)


# -- RViz config -------------------------------------------------------------------------------

def test_rviz_3d_config_shows_the_3d_outputs():
    data = yaml.safe_load((SHARE / "config" / "pose_3d.rviz").read_text())
    manager = data["Visualization Manager"]
    assert manager["Global Options"]["Fixed Frame"] == "camera_optical_frame"
    displays = {d["Class"].split("/")[-1] + " " + str(d.get("Topic", {}).get("Value")): d for d in manager["Displays"]}
    assert displays["MarkerArray /pose/markers"]["Enabled"] is True
    cloud = displays["PointCloud2 /pose/keypoints_3d"]
    assert cloud["Enabled"] is True and cloud["Channel Name"] == "score"
    assert "Image /camera/aligned_depth_to_color/image_raw" in displays
    assert all(d["Class"].startswith("rviz_default_plugins/") for d in manager["Displays"])


def test_demo_launch_depth_turns_on_the_camera_depth_and_the_node_input(load_launch_file):
    description = load_launch_file("demo.launch.py")
    declared = {name: default for name, default, _ in _declared(description)}
    assert declared["depth"] == "false" and declared["scene"] == "random"
    (opaque,) = [e for e in description.args[0] if type(e).__name__ == "OpaqueFunction"]
    camera, pose = opaque.kwargs["function"](dict(declared, depth="true", scene="crossing"))
    assert camera.kwargs["parameters"][0]["depth"] is True and camera.kwargs["parameters"][0]["scene"] == "crossing"
    passed = dict(pose.kwargs["launch_arguments"])
    assert passed["depth"] == "/camera/aligned_depth_to_color/image_raw" and passed["model"] == "s"
    config(**{k: v for k, v in passed.items()})  # valid pose.launch.py arguments
    camera, pose = opaque.kwargs["function"](declared)
    assert camera.kwargs["parameters"][0]["depth"] is False and dict(pose.kwargs["launch_arguments"])["depth"] == ""


def test_rviz_config():
    text = (SHARE / "config" / "pose.rviz").read_text()
    data = yaml.safe_load(text)
    assert {"Panels", "Visualization Manager", "Window Geometry"} <= set(data)
    manager = data["Visualization Manager"]
    assert manager["Global Options"]["Fixed Frame"] == "camera_optical_frame"
    displays = {d["Class"].split("/")[-1] + " " + str(d.get("Topic", {}).get("Value")): d for d in manager["Displays"]}
    assert displays["MarkerArray /pose/markers"]["Enabled"] is True
    assert displays["Image /pose/image"]["Enabled"] is True
    assert "Image /camera/image_raw" in displays or "Camera /camera/image_raw" in displays
    assert displays["TF None"]["Enabled"] is False
    assert all(d["Class"].startswith("rviz_default_plugins/") for d in manager["Displays"])
    assert "/pose/markers" in text


# -- launch files, run against recording stand-ins for launch and launch_ros ----------------------

class _Recorded:
    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs


class _LaunchConfiguration:
    def __init__(self, name):
        self.name = name

    def perform(self, context):
        return context[self.name]


def _fake_launch_modules():
    names = {"launch": ["LaunchDescription"],
             "launch.actions": ["DeclareLaunchArgument", "OpaqueFunction", "IncludeLaunchDescription",
                                "SetEnvironmentVariable"],
             "launch.launch_description_sources": ["PythonLaunchDescriptionSource"],
             "launch.substitutions": [],
             "launch_ros": [],
             "launch_ros.actions": ["Node"],
             "launch_ros.parameter_descriptions": ["ParameterValue"]}
    modules = {}
    for module_name, classes in names.items():
        module = types.ModuleType(module_name)
        for class_name in classes:
            setattr(module, class_name, type(class_name, (_Recorded,), {}))
        modules[module_name] = module
    modules["launch.substitutions"].LaunchConfiguration = _LaunchConfiguration
    return modules


@pytest.fixture()
def load_launch_file(monkeypatch):
    for name, module in _fake_launch_modules().items():
        monkeypatch.setitem(sys.modules, name, module)

    def load(name):
        path = REPO / "launch" / name
        spec = importlib.util.spec_from_file_location("launch_file_" + name.replace(".", "_"), path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.generate_launch_description()

    return load


def _declared(description):
    return [(e.args[0], e.kwargs["default_value"], e.kwargs["description"])
            for e in description.args[0] if type(e).__name__ == "DeclareLaunchArgument"]


@pytest.mark.parametrize("name", LAUNCH_FILES)
def test_launch_files_compile(name):
    source = (REPO / "launch" / name).read_text()
    tree = ast.parse(source)
    compile(source, name, "exec")
    assert any(isinstance(n, ast.FunctionDef) and n.name == "generate_launch_description" for n in tree.body)


def test_pose_launch_declares_every_argument(load_launch_file):
    assert _declared(load_launch_file("pose.launch.py")) == LAUNCH_ARGUMENTS


def _run_opaque_function(description, **args):
    (opaque,) = [e for e in description.args[0] if type(e).__name__ == "OpaqueFunction"]
    context = {name: default for name, default, _ in LAUNCH_ARGUMENTS} | args
    return opaque.kwargs["function"](context)


def _nodes(actions):
    return [a for a in actions if type(a).__name__ == "Node"]


def test_pose_launch_starts_the_node_with_the_configuration(load_launch_file):
    actions = _run_opaque_function(load_launch_file("pose.launch.py"), model="s", model_path="/m/1.onnx",
                                   compressed="true", providers="cuda,cpu", namespace="robot1", log_level="warn")
    (node,) = _nodes(actions)
    kw = node.kwargs
    expected = config(model="s", model_path="/m/1.onnx", compressed="true", providers="cuda,cpu", namespace="robot1",
                      log_level="warn")
    assert (kw["package"], kw["executable"], kw["name"]) == ("vitpose_ros", "pose_node", "vitpose")
    renamed = _nodes(_run_opaque_function(load_launch_file("pose.launch.py"), node_name="vitpose_rear"))
    assert renamed[0].kwargs["name"] == "vitpose_rear"
    assert kw["namespace"] == "robot1" and kw["output"] == "screen"
    assert kw["remappings"] == expected["remappings"]
    assert kw["ros_arguments"] == ["--log-level", "warn"]
    parameters_file, overrides = kw["parameters"]  # the size's file, then what the arguments set
    assert parameters_file == expected["parameters_file"] and pathlib.Path(parameters_file).name == "vitpose_s.yaml"
    # strings stay strings (launch_ros would read a plain str as YAML)
    plain = {}
    for name, value in overrides.items():
        if type(value).__name__ == "ParameterValue":
            assert value.kwargs["value_type"] is str
            value = value.args[0]
        plain[name] = value
    assert plain == expected["parameters"]


def test_pose_launch_sets_the_fastdds_profile_before_the_node(load_launch_file, monkeypatch):
    for name in PROFILE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    actions = _run_opaque_function(load_launch_file("pose.launch.py"))
    *environment, node = actions
    assert type(node).__name__ == "Node"
    assert [a.args for a in environment] == [(name, str(SHARE / "config" / "fastdds_large_frames.xml"))
                                             for name in config()["environment"]]
    assert len(environment) == 1
    untouched = _run_opaque_function(load_launch_file("pose.launch.py"), fastdds_profile="none")
    assert [type(a).__name__ for a in untouched] == ["Node"]


def test_pose_launch_adds_rviz_on_request(load_launch_file):
    description = load_launch_file("pose.launch.py")
    assert len(_nodes(_run_opaque_function(description))) == 1
    pose, rviz = _nodes(_run_opaque_function(description, rviz="true", namespace="r1"))
    assert (rviz.kwargs["package"], rviz.kwargs["executable"]) == ("rviz2", "rviz2")
    flag, path = rviz.kwargs["arguments"]
    assert flag == "-d" and pathlib.Path(path) == SHARE / "config" / "pose.rviz" and pathlib.Path(path).is_file()
    assert ("/pose/markers", "/r1/pose/markers") in rviz.kwargs["remappings"]
    assert rviz.kwargs["parameters"] == []
    (alone,) = _nodes(_run_opaque_function(description))
    assert alone.kwargs["parameters"] == [str(SHARE / "config" / "vitpose_b.yaml")]  # nothing set: the file alone
    pose, rviz = _nodes(_run_opaque_function(description, rviz="true", use_sim_time="true"))
    assert rviz.kwargs["parameters"] == [{"use_sim_time": True}] and pose.kwargs["parameters"][-1] == {"use_sim_time": True}


def test_pose_launch_passes_the_params_file_between_the_size_file_and_the_arguments(load_launch_file, tmp_path):
    mine = tmp_path / "mine.yaml"
    mine.write_text("/**:\n  ros__parameters:\n    max_persons: 1\n")
    (node,) = _nodes(_run_opaque_function(load_launch_file("pose.launch.py"), params_file=str(mine), tracker="none"))
    size_file, user_file, overrides = node.kwargs["parameters"]
    assert (pathlib.Path(size_file).name, user_file) == ("vitpose_b.yaml", str(mine))
    assert {k: (v.args[0] if type(v).__name__ == "ParameterValue" else v) for k, v in overrides.items()} == {
        "tracker": "none"}


def test_pose_launch_rejects_invalid_arguments(load_launch_file):
    with pytest.raises(ValueError, match="model"):
        _run_opaque_function(load_launch_file("pose.launch.py"), model="xl")


@pytest.mark.parametrize("size", MODEL_SIZES)
def test_size_launch_files_include_pose_launch_with_the_model_fixed(size, load_launch_file):
    description = load_launch_file(f"vitpose_{size}.launch.py")
    assert _declared(description) == [a for a in LAUNCH_ARGUMENTS if a[0] != "model"]
    (include,) = [e for e in description.args[0] if type(e).__name__ == "IncludeLaunchDescription"]
    (source,) = include.args
    path = pathlib.Path(source.args[0])
    assert path.name == "pose.launch.py" and path.is_file()
    passed = dict(include.kwargs["launch_arguments"])
    assert passed.pop("model") == size
    assert list(passed) == [name for name, _, _ in LAUNCH_ARGUMENTS if name != "model"]
    assert all(isinstance(v, _LaunchConfiguration) and v.name == k for k, v in passed.items())


DEMO_ARGUMENTS = ["rviz", "rate", "people", "scene", "depth", "tracker", "smoothing", "providers", "log_level",
                  "precision", "params_file", "detector"]


def test_demo_launch_builtin_detector_runs_the_shipped_synthetic_detector(load_launch_file):
    from vitpose_ros.synthetic import demo_detector_path

    description = load_launch_file("demo.launch.py")
    (opaque,) = [e for e in description.args[0] if type(e).__name__ == "OpaqueFunction"]
    context = {name: default for name, default, _ in _declared(description)}
    assert context["detector"] == "topic"
    _camera, include = opaque.kwargs["function"](context)
    topic_arguments = dict(include.kwargs["launch_arguments"])
    assert "detector" not in topic_arguments and "hold_missed" not in topic_arguments  # pose.launch.py's defaults
    _camera, include = opaque.kwargs["function"](context | {"detector": "Builtin"})
    passed = dict(include.kwargs["launch_arguments"])
    assert passed["detector"] == "builtin" and passed["detector_path"] == str(demo_detector_path())
    assert pathlib.Path(passed["detector_path"]).is_file()
    p = config(model="s", model_path=passed["model_path"], detector=passed["detector"],
               detector_path=passed["detector_path"], hold_missed=passed["hold_missed"])["parameters"]
    assert p["detector"] == "builtin" and p["detector_path"] == passed["detector_path"] and p["hold_missed"] == 2
    with pytest.raises(ValueError, match="detector"):
        opaque.kwargs["function"](context | {"detector": "yolo"})



@pytest.mark.parametrize("precision, model_file", [("fp32", "vitpose_synthetic_coco.onnx"),
                                                   ("INT8", "vitpose_synthetic_coco_int8.onnx")])
def test_demo_launch_passes_the_shipped_model_of_the_precision(precision, model_file, load_launch_file):
    from vitpose_ros.synthetic import demo_model_path

    description = load_launch_file("demo.launch.py")
    assert [name for name, _, _ in _declared(description)] == DEMO_ARGUMENTS
    (opaque,) = [e for e in description.args[0] if type(e).__name__ == "OpaqueFunction"]
    context = {name: default for name, default, _ in _declared(description)} | {"precision": precision}
    _camera, include = opaque.kwargs["function"](context)
    assert pathlib.Path(include.args[0].args[0]).name == "pose.launch.py"
    passed = dict(include.kwargs["launch_arguments"])
    assert passed["model_path"] == str(demo_model_path(precision=precision.lower())) and passed["model"] == "s"
    assert pathlib.Path(passed["model_path"]).name == model_file and pathlib.Path(passed["model_path"]).is_file()
    assert passed["precision"] == precision.lower()
    # what the included pose.launch.py makes of them
    assert config(model="s", model_path=passed["model_path"], precision=passed["precision"])["parameters"][
        "precision"] == precision.lower()
    with pytest.raises(ValueError, match="precision"):
        opaque.kwargs["function"](context | {"precision": "fp64"})


def test_setup_installs_launch_and_config_files():
    setup = (REPO / "setup.py").read_text()
    for pattern in ('glob("launch/*.launch.py")', 'glob("config/*.yaml")', 'glob("config/*.rviz")',
                    'glob("config/*.xml")'):
        assert pattern in setup


def test_demo_launch_passes_on_only_what_was_set(load_launch_file, tmp_path):
    description = load_launch_file("demo.launch.py")
    (opaque,) = [e for e in description.args[0] if type(e).__name__ == "OpaqueFunction"]
    defaults = {name: default for name, default, _ in _declared(description)}
    _camera, include = opaque.kwargs["function"](defaults)
    passed = dict(include.kwargs["launch_arguments"])
    assert set(passed) == {"model", "model_path", "precision", "depth", "rviz", "log_level"}
    assert config(**passed)["parameters"].keys() == {"model_size", "model_path", "precision"}
    mine = tmp_path / "mine.yaml"
    mine.write_text("/**:\n  ros__parameters:\n    smoothing: true\n")
    _camera, include = opaque.kwargs["function"](defaults | {"params_file": str(mine), "tracker": "none"})
    passed = dict(include.kwargs["launch_arguments"])
    assert (passed["params_file"], passed["tracker"]) == (str(mine), "none") and "smoothing" not in passed
    assert config(**passed)["parameters_files"][-1] == str(mine)


# -- what the docs show ------------------------------------------------------------------------

DOC_FILES = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
_COMMAND = re.compile(r"ros2\s+(launch|run)\s+(\S+)\s+(\S+)([^`#]*)")
_ASSIGNMENT = re.compile(r"(?<![\w./-])(?<!--log-level )(-p\s+)?([A-Za-z_]\w*):=")  # not a logger's level


def _doc_lines():
    """(file name, line number, text) with backslash-continued lines joined."""
    for path in DOC_FILES:
        pending, start = "", 0
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if not pending:
                start = number
            if line.rstrip().endswith("\\"):
                pending += line.rstrip()[:-1] + " "
                continue
            yield path.name, start, pending + line
            pending = ""


def _documented_assignments():
    """(where, kind, target, name) for every name:=value the docs show: kind "launch" with the launch
    file it is given to, "parameter" for the pose node's -p, "bare" for one shown on its own."""
    found = []
    for doc, number, text in _doc_lines():
        where = f"{doc}:{number}"
        rest = text
        for match in _COMMAND.finditer(text):
            verb, package, target, tail = match.groups()
            rest = rest.replace(match.group(0), " ", 1)
            if package != "vitpose_ros":
                continue  # another package's launch file or node (a camera driver, the detector)
            for dash_p, name in _ASSIGNMENT.findall(tail):
                if verb == "launch":
                    found.append((where, "launch", target, name))
                elif target == "pose_node" and dash_p:
                    found.append((where, "parameter", target, name))
        for dash_p, name in _ASSIGNMENT.findall(rest):
            found.append((where, "parameter" if dash_p else "bare", None, name))
    return found


def _launch_file_arguments(load_launch_file) -> dict[str, set[str]]:
    arguments = {}
    for path in sorted((REPO / "launch").glob("*.launch.py")):
        arguments[path.name] = {name for name, _, _ in _declared(load_launch_file(path.name))}
    return arguments


def _wrong_assignments(shown, load_launch_file) -> list[str]:
    from vitpose_ros.ros.parameters import PARAMETERS

    arguments = _launch_file_arguments(load_launch_file)
    node_parameters = set(PARAMETERS) | {"use_sim_time"}  # rclpy declares use_sim_time on every node
    wrong = []
    for where, kind, target, name in shown:
        if kind == "launch" and name not in arguments.get(target, ()):
            wrong.append(f"{where}: {name}:= is not an argument of {target}")
        elif kind == "parameter" and name not in node_parameters:
            wrong.append(f"{where}: -p {name}:= is not a pose node parameter")
        elif kind == "bare" and not any(name in declared for declared in arguments.values()):
            wrong.append(f"{where}: {name}:= is no launch argument (a node parameter goes in a params_file or -p)")
    return wrong


def test_every_argument_the_docs_show_is_declared_and_every_p_value_is_a_node_parameter(load_launch_file):
    shown = _documented_assignments()
    assert sum(kind == "launch" for _, kind, _, _ in shown) >= 10  # the scan itself works
    wrong = _wrong_assignments(shown, load_launch_file)
    assert not wrong, "\n".join(wrong)


def test_the_docs_scan_tells_launch_arguments_from_node_parameters(tmp_path, monkeypatch, load_launch_file):
    doc = tmp_path / "README.md"
    doc.write_text("ros2 launch vitpose_ros pose.launch.py model:=s \\\n    qos_reliability:=reliable  # or model:=l\n"
                   "ros2 run vitpose_ros pose_node --ros-args -p smoothing_trend:=false -p nope:=1\n"
                   "ros2 run other_pkg cam --ros-args -p image_size:=1\n"
                   "Set `smoothing_trend:=false` or `-p max_persons:=2`, or `ros2 launch vitpose_ros demo.launch.py "
                   "scene:=crossing`.\n")
    monkeypatch.setattr(sys.modules[__name__], "DOC_FILES", [doc])
    assert _documented_assignments() == [
        ("README.md:1", "launch", "pose.launch.py", "model"), ("README.md:1", "launch", "pose.launch.py", "qos_reliability"),
        ("README.md:1", "bare", None, "model"),  # comments are read like prose
        ("README.md:3", "parameter", "pose_node", "smoothing_trend"), ("README.md:3", "parameter", "pose_node", "nope"),
        ("README.md:5", "launch", "demo.launch.py", "scene"),
        ("README.md:5", "bare", None, "smoothing_trend"), ("README.md:5", "parameter", None, "max_persons")]
    assert _wrong_assignments(_documented_assignments(), load_launch_file) == [
        "README.md:1: qos_reliability:= is not an argument of pose.launch.py",
        "README.md:3: -p nope:= is not a pose node parameter",
        "README.md:5: smoothing_trend:= is no launch argument (a node parameter goes in a params_file or -p)"]
