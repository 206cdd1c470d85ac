"""No line in the package's code is longer than 120 characters (the house style)."""
import pathlib

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "vitpose_ros"
MAX_LINE = 120


def test_no_line_over_120_characters():
    long_lines = [f"{path.relative_to(PACKAGE.parent)}:{number}: {len(line)} characters"
                  for path in sorted(PACKAGE.rglob("*.py"))
                  for number, line in enumerate(path.read_text().splitlines(), start=1) if len(line) > MAX_LINE]
    assert not long_lines, f"{len(long_lines)} lines over {MAX_LINE} characters:\n" + "\n".join(long_lines)
