"""The commands the docs show work as written.

- every `python -m vitpose_ros...` in README.md, docs/*.md, the package's READMEs and the config
  files answers --help;
- the quick ones run for real, exactly as documented (only --frames shortened), in a folder that
  holds the files they name: a tiny random checkpoint `vitpose-b.pth`, `people.jpg`, `walk.mp4`,
  calibration `frames/`;
- every `name:=value` given to a launch file of this package, every `-p name:=value` given to one of
  its nodes, and every inline `name:=value` names a real launch argument or parameter;
- every console script in setup.py points at a real `main`; docs/architecture.md lists every module.
"""
import importlib
import importlib.util
import json
import os
import pathlib
import re
import shlex
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
MARKDOWN = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), *sorted((REPO / "vitpose_ros").rglob("README.md"))]
DOCS = [*MARKDOWN, *sorted((REPO / "config").glob("*.yaml"))]
CODE_BLOCK = re.compile(r"```[a-z]*\n(.*?)```", re.DOTALL)


def _documented_modules() -> list[str]:
    found = set()
    for path in DOCS:
        found |= set(re.findall(r"python -m (vitpose_ros(?:\.\w+)+)", path.read_text()))
    return sorted(found)


def _command_lines() -> list[tuple[str, str]]:
    """(file, one logical command line) of every code block, continuation lines joined."""
    lines = []
    for path in MARKDOWN:
        for block in CODE_BLOCK.findall(path.read_text()):
            for line in block.replace("\\\n", " ").splitlines():
                if line.strip():
                    lines.append((path.relative_to(REPO).as_posix(), line))
    return lines


def test_the_docs_show_commands():
    assert len(_documented_modules()) >= 8  # the scan itself works
    assert any(name == "docs/models.md" for name, _ in _command_lines())


@pytest.mark.parametrize("module", _documented_modules())
def test_documented_command_answers_help(module):
    result = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True,
                            timeout=120, cwd=REPO)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "usage:" in result.stdout


# -- the quick commands, run for real ---------------------------------------------------------------

def documented_command(prefix: str, *flags: str) -> list[str]:
    """argv of the first documented command line that starts with ``prefix`` and has all ``flags``."""
    for _, line in _command_lines():
        if not line.lstrip().startswith(prefix):
            continue
        argv = shlex.split(line, comments=True)
        if all(flag in argv for flag in flags):
            return argv
    raise AssertionError(f"no documented command `{prefix} ... {' '.join(flags)}` any more: update this test")


def _run(argv: list[str], cwd, frames: str | None = None) -> subprocess.CompletedProcess:
    assert argv[:2] == ["python", "-m"], argv
    argv = [sys.executable, *argv[1:]]
    if frames is not None:  # the documented count, shortened
        argv[argv.index("--frames") + 1] = frames
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(argv, capture_output=True, text=True, timeout=300, cwd=cwd, env=env)
    assert result.returncode == 0, f"{' '.join(argv)}\n{result.stdout[-1500:]}\n{result.stderr[-1500:]}"
    return result


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A folder with the files the documented commands name, and vitpose_b_coco.onnx exported in it
    by the documented export command (from a tiny random checkpoint, not ViTPose-B's weights)."""
    import cv2

    from vitpose_ros.model import build_model, init_weights, save_own_checkpoint, variant_config
    from vitpose_ros.synthetic import render_scene

    folder = tmp_path_factory.mktemp("documented")
    cfg = variant_config("tiny")
    save_own_checkpoint(folder / "vitpose-b.pth", cfg, init_weights(build_model(cfg), seed=0).state_dict())
    frames = [cv2.cvtColor(render_scene(seed, 320, 240, num_people=2)[0], cv2.COLOR_RGB2BGR) for seed in range(3)]
    cv2.imwrite(str(folder / "people.jpg"), cv2.resize(frames[0], (480, 480)))
    video = cv2.VideoWriter(str(folder / "walk.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10, (320, 240))
    for frame in frames:
        video.write(frame)
    video.release()
    (folder / "frames").mkdir()
    for i, frame in enumerate(frames):
        cv2.imwrite(str(folder / "frames" / f"{i}.png"), frame)
    (folder / "frames" / "boxes.json").write_text(json.dumps({"0.png": [[10, 10, 200, 230]]}))

    result = _run(documented_command("python -m vitpose_ros.model.export --checkpoint vitpose-b.pth --output "
                                     "vitpose_b_coco.onnx"), folder)
    assert "max abs diff" in result.stdout
    return folder


def _precision(path: pathlib.Path) -> str:
    import onnx

    return {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}["precision"]


def test_documented_export_writes_a_checked_model(workdir):
    from vitpose_ros.core.metadata import ModelMetadata
    import onnx

    meta = ModelMetadata.from_props({p.key: p.value for p in onnx.load(str(workdir / "vitpose_b_coco.onnx")).metadata_props})
    assert meta.variant == "tiny" and meta.num_keypoints == 17 and meta.precision == "fp32"


@pytest.mark.parametrize("prefix,flags,written", [
    ("python -m vitpose_ros.model.export", ("--precision", "int8", "--calibration", "--boxes"),
     {"vitpose_b_coco_int8.onnx": "int8"}),
    ("python -m vitpose_ros.model.convert", ("--precision", "fp16"), {"vitpose_b_coco_fp16.onnx": "fp16"}),
    ("python -m vitpose_ros.model.convert", ("--precision", "int8", "--int8-mode"), {"vitpose_b_coco_int8.onnx": "int8"}),
])
def test_documented_precision_commands_write_their_copies(workdir, prefix, flags, written):
    for name in written:
        (workdir / name).unlink(missing_ok=True)
    _run(documented_command(prefix, *flags), workdir)
    for name, precision in written.items():
        assert _precision(workdir / name) == precision


def test_documented_infer_on_an_image(workdir):
    argv = documented_command("python -m vitpose_ros.core.infer", "--image", "--boxes", "--json")
    _run(argv, workdir)
    boxes = argv[argv.index("--boxes") + 1].split(";")
    persons = json.loads((workdir / argv[argv.index("--json") + 1]).read_text())["persons"]
    assert len(persons) == len(boxes)
    import cv2

    assert cv2.imread(str(workdir / argv[argv.index("--output") + 1])).shape == (480, 480, 3)


def test_documented_infer_on_a_video(workdir):
    import cv2

    argv = documented_command("python -m vitpose_ros.core.infer", "--video")
    _run(argv, workdir)
    capture = cv2.VideoCapture(str(workdir / argv[argv.index("--output") + 1]))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 3


@pytest.mark.parametrize("flags", [("--frames",), ("--compare", "--frames")])
def test_documented_evaluate_runs(flags):
    argv = documented_command("python -m vitpose_ros.synthetic.evaluate", *flags)
    result = _run(argv, REPO, frames="5")
    scores = [float(v) for v in re.findall(r"PCK@0\.05\D+([01]\.\d+)", result.stdout)]
    assert scores and all(0.0 <= s <= 1.0 for s in scores), result.stdout
    assert max(scores) > 0.5  # the shipped model finds synthetic people


def test_documented_demo_runs_through_ros(tmp_path):
    argv = documented_command("python -m vitpose_ros.synthetic.demo", "--frames", "--output")
    result = _run(argv, tmp_path, frames="5")
    through = re.search(r"(\d+)/5 frames through ROS", result.stdout)  # a busy node drops frames by design
    assert through and int(through.group(1)) >= 1, result.stdout[-1500:]
    output = tmp_path / argv[argv.index("--output") + 1]
    assert (output / "demo_frame.png").is_file() and (output / "demo.mp4").is_file()


# -- launch arguments and parameters named in the docs exist -------------------------------------

def _camera_parameters() -> set[str]:
    source = (REPO / "vitpose_ros" / "synthetic" / "camera_node.py").read_text()
    return set(re.findall(r'declare_parameter\("(\w+)"', source))


def _demo_arguments() -> set[str]:
    spec = importlib.util.spec_from_file_location("doc_tables", REPO / "scripts" / "doc_tables.py")
    doc_tables = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(doc_tables)
    return {name for name, _, _ in doc_tables.demo_launch_arguments()}


def _known_names() -> dict[str, set[str]]:
    from vitpose_ros.ros.launch_args import ARGUMENT_NAMES
    from vitpose_ros.ros.parameters import PARAMETERS

    pose = set(ARGUMENT_NAMES)
    known = {"pose.launch.py": pose, "demo.launch.py": _demo_arguments(),
             "pose_node": set(PARAMETERS), "synthetic_camera": _camera_parameters()}
    known.update({f"vitpose_{size}.launch.py": pose - {"model"} for size in "sblh"})
    return known


def _named_in_commands():
    """(file, target, name) for each name:=value after `ros2 launch|run vitpose_ros <target>`."""
    for path, line in _command_lines():
        match = re.search(r"ros2 (launch|run) vitpose_ros (\S+)(.*)", line)
        if match:
            kind, target, rest = match.groups()
            rest = rest.split("#")[0]
            pattern = r"(?:^|\s)([A-Za-z_]\w*):=" if kind == "launch" else r"-p\s+([A-Za-z_]\w*):="
            for name in re.findall(pattern, rest):
                yield path, target, name


def test_launch_arguments_and_parameters_in_commands_exist():
    known = _known_names()
    named = list(_named_in_commands())
    assert len(named) >= 10  # the scan itself works
    bad = [(path, target, name) for path, target, name in named if name not in known.get(target, ())]
    assert not bad, f"the docs pass names the launch file or node does not have: {bad}"


def test_inline_name_values_exist():
    known = set().union(*_known_names().values())
    named = []
    for path in MARKDOWN:
        prose = CODE_BLOCK.sub("", path.read_text())
        named += [(path.name, name) for name in re.findall(r"`(?:-p )?([a-z_]\w*):=", prose)]
    assert len(named) >= 10
    bad = [item for item in named if item[1] not in known | {"name"}]  # `-p name:=value` is the syntax itself
    assert not bad, f"the docs name launch arguments or parameters that do not exist: {bad}"


# -- console scripts and the module list -----------------------------------------------------------

def _console_scripts() -> list[tuple[str, str]]:
    text = (REPO / "setup.py").read_text()
    return re.findall(r'"([\w-]+) = (vitpose_ros[\w.]*:\w+)"', text)


@pytest.mark.parametrize("name,target", _console_scripts())
def test_console_scripts_point_at_callables(name, target):
    module, function = target.split(":")
    assert callable(getattr(importlib.import_module(module), function)), name


def test_the_architecture_page_lists_every_module():
    text = (REPO / "docs" / "architecture.md").read_text()
    tree = text[text.index("## Every module"):]
    for path in sorted((REPO / "vitpose_ros").rglob("*.py")):
        if path.name != "__init__.py":
            assert f"  {path.name} " in tree, f"docs/architecture.md's module list lacks {path.relative_to(REPO)}"


def _slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
    return text.replace(" ", "-")


def test_links_between_the_docs_resolve():
    links = []
    for path in MARKDOWN:
        for target in re.findall(r"\]\(([^)\s]+)\)", CODE_BLOCK.sub("", path.read_text())):
            if not re.match(r"[a-z]+://", target):
                links.append((path, target))
    assert len(links) >= 20
    broken = []
    for path, target in links:
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        if not linked.exists():
            broken.append((path.name, target))
        elif anchor:
            headings = re.findall(r"^#+ (.+)$", linked.read_text(), re.MULTILINE)
            if anchor not in {_slug(h) for h in headings}:
                broken.append((path.name, target))
    assert not broken, f"links to files or headings that do not exist: {broken}"
