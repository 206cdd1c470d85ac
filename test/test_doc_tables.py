"""The docs' launch-argument and parameter tables are the code's (scripts/doc_tables.py)."""
import pathlib
import shutil
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "doc_tables.py"
REGENERATE = "python scripts/doc_tables.py"


def _run(*args, root=REPO):
    return subprocess.run([sys.executable, str(SCRIPT), "--root", str(root), *args], capture_output=True, text=True,
                          timeout=120)


def test_generated_tables_match_the_code():
    result = _run("--check")
    assert result.returncode == 0, (f"the docs' tables differ from LAUNCH_ARGUMENTS / PARAMETERS / demo.launch.py; "
                                    f"regenerate them with `{REGENERATE}`:\n{result.stderr}")


def _copy_docs(tmp_path) -> pathlib.Path:
    (tmp_path / "docs").mkdir()
    shutil.copy(REPO / "README.md", tmp_path / "README.md")
    shutil.copy(REPO / "docs" / "synthetic_demo.md", tmp_path / "docs" / "synthetic_demo.md")
    return tmp_path


def test_a_stale_table_fails_the_check_and_regenerating_fixes_it(tmp_path):
    from vitpose_ros.ros.parameters import PARAMETERS

    root = _copy_docs(tmp_path)
    readme = root / "README.md"
    description = PARAMETERS["max_batch"][1]
    assert description in readme.read_text()  # the table really holds the code's text
    readme.write_text(readme.read_text().replace(description, "an old description"))

    stale = _run("--check", root=root)
    assert stale.returncode == 1 and "README.md" in stale.stderr and REGENERATE in stale.stderr

    assert _run(root=root).returncode == 0
    assert readme.read_text() == (REPO / "README.md").read_text()
    assert _run("--check", root=root).returncode == 0


def test_missing_markers_are_one_clear_error(tmp_path):
    root = _copy_docs(tmp_path)
    readme = root / "README.md"
    readme.write_text(readme.read_text().replace("<!-- end generated: parameters -->", ""))
    result = _run("--check", root=root)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "parameters" in result.stderr
