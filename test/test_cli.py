"""The infer and build_engine command lines, run for real."""
import json
import subprocess
import sys

import cv2
import numpy as np
import pytest
from model_factory import export_random_model
from test_runtime import scene

from vitpose_ros.core import build_engine

from vitpose_ros.core import infer
from vitpose_ros.core.estimator import PoseEstimator


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return export_random_model(tmp_path_factory.mktemp("cli") / "tiny.onnx")


@pytest.fixture()
def image_file(tmp_path):
    image = scene(5)
    path = tmp_path / "frame.png"
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return path, image


def test_image_with_boxes_writes_annotation_and_json(tmp_path, model, image_file):
    path, image = image_file
    out, js = tmp_path / "out.png", tmp_path / "out.json"
    code = infer.main(["--model", str(model), "--image", str(path), "--boxes", "100,60,260,420; 300,200,420,300",
                       "--output", str(out), "--json", str(js), "--providers", "cpu", "--score-threshold", "0"])
    assert code == 0
    annotated = cv2.imread(str(out))
    assert annotated.shape == image.shape and np.abs(annotated.astype(int)[..., ::-1] - image).sum() > 0
    data = json.loads(js.read_text())
    assert data["dataset"] == "coco" and len(data["keypoint_names"]) == 17 and len(data["persons"]) == 2
    expected = PoseEstimator(model, providers=("cpu",)).estimate(image, [[100, 60, 260, 420], [300, 200, 420, 300]])
    assert np.abs(np.array([p["keypoints"] for p in data["persons"]]) - expected).max() < 1e-4


def test_no_boxes_means_the_whole_frame(tmp_path, model, image_file):
    path, image = image_file
    js = tmp_path / "o.json"
    assert infer.main(["--model", str(model), "--image", str(path), "--output", str(tmp_path / "o.jpg"),
                       "--json", str(js), "--providers", "cpu"]) == 0
    persons = json.loads(js.read_text())["persons"]
    assert len(persons) == 1 and persons[0]["box_xyxy"] == [0, 0, 640, 480]


def test_video_in_annotated_video_out(tmp_path, model):
    src = tmp_path / "in.mp4"
    writer = cv2.VideoWriter(str(src), cv2.VideoWriter_fourcc(*"mp4v"), 10, (320, 240))
    for i in range(6):
        writer.write(cv2.resize(scene(i), (320, 240)))
    writer.release()
    out, js = tmp_path / "out.mp4", tmp_path / "v.json"
    assert infer.main(["--model", str(model), "--video", str(src), "--output", str(out), "--json", str(js),
                       "--providers", "cpu"]) == 0
    capture = cv2.VideoCapture(str(out))
    frames = 0
    while capture.read()[0]:
        frames += 1
    assert frames == 6 and len(json.loads(js.read_text())["frames"]) == 6


@pytest.mark.parametrize("case,says", [
    ("missing_image", "image not found"),
    ("not_an_image", "cannot read"),
    ("bad_boxes", "not four numbers"),
    ("inverted_box", "inverted or empty"),
    ("box_outside", "lies outside the 640x480 image"),
    ("missing_model", "model file not found"),
    ("missing_video", "video not found"),
])
def test_bad_input_gives_one_line_and_nonzero_exit(tmp_path, model, image_file, case, says):
    path, _ = image_file
    args = {"--model": str(model), "--image": str(path), "--output": str(tmp_path / "o.png"), "--providers": "cpu"}
    if case == "missing_image":
        args["--image"] = str(tmp_path / "nope.png")
    elif case == "not_an_image":
        (tmp_path / "text.png").write_text("hello")
        args["--image"] = str(tmp_path / "text.png")
    elif case == "bad_boxes":
        args["--boxes"] = "1,2,three,4"
    elif case == "inverted_box":
        args["--boxes"] = "200,10,100,50"
    elif case == "box_outside":
        args["--boxes"] = "10,10,50,50;700,10,800,100"
    elif case == "missing_model":
        args["--model"] = str(tmp_path / "none.onnx")
    elif case == "missing_video":
        del args["--image"]
        args["--video"] = str(tmp_path / "none.mp4")
    argv = [item for pair in args.items() for item in pair]
    result = subprocess.run([sys.executable, "-m", "vitpose_ros.core.infer", *argv], capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0 and says in result.stderr, result.stderr
    assert not (tmp_path / "o.png").exists()


def test_build_engine_says_why_without_tensorrt(model, capsys):
    assert build_engine.main(["--model", str(model)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("vitpose-build-engine: error:") and "TensorRT" in err and "\n" not in err
