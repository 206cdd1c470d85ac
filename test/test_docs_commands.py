"""The commands the docs show exist as written: every `python -m vitpose_ros...` in the READMEs
and config files answers --help, and every console script in setup.py points at a real `main`."""
import importlib
import pathlib
import re
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "vitpose_ros").rglob("README.md")), *sorted((REPO / "config").glob("*.yaml"))]


def _documented_modules() -> list[str]:
    found = set()
    for path in DOCS:
        found |= set(re.findall(r"python -m (vitpose_ros(?:\.\w+)+)", path.read_text()))
    return sorted(found)


def test_the_docs_show_commands():
    assert len(_documented_modules()) >= 4  # the scan itself works


@pytest.mark.parametrize("module", _documented_modules())
def test_documented_command_answers_help(module):
    result = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True,
                            timeout=120, cwd=REPO)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "usage:" in result.stdout


def _console_scripts() -> list[tuple[str, str]]:
    text = (REPO / "setup.py").read_text()
    return re.findall(r'"([\w-]+) = (vitpose_ros[\w.]*:\w+)"', text)


@pytest.mark.parametrize("name,target", _console_scripts())
def test_console_scripts_point_at_callables(name, target):
    module, function = target.split(":")
    assert callable(getattr(importlib.import_module(module), function)), name


def test_the_readme_lists_every_module():
    text = (REPO / "README.md").read_text()
    tree = text[text.index("Every module, one line each"):]
    for path in sorted((REPO / "vitpose_ros").rglob("*.py")):
        if path.name != "__init__.py":
            assert f"  {path.name} " in tree, f"README's module list lacks {path.relative_to(REPO)}"
