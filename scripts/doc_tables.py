#!/usr/bin/env python3
"""Write the reference tables of the docs from the code that defines them.

    python scripts/doc_tables.py           # rewrite the generated regions in place
    python scripts/doc_tables.py --check   # exit 1, naming what differs, when the docs lag the code

Each table lives between two marker comments in a Markdown file:

    <!-- generated: parameters (python scripts/doc_tables.py) -->
    ...
    <!-- end generated: parameters -->

Regions (name -> file, source):
    launch-arguments       README.md              vitpose_ros.ros.launch_args.LAUNCH_ARGUMENTS
    parameters             README.md              vitpose_ros.ros.parameters.PARAMETERS / LIVE_PARAMETERS
    demo-launch-arguments  docs/synthetic_demo.md ARGUMENTS of launch/demo.launch.py (read, not run)

A new table is one function below and one entry in REGIONS. Needs the package's environment
(parameters.py imports rcl_interfaces): ``source scripts/activate.sh`` first.
"""
from __future__ import annotations

import argparse
import ast
import pathlib
import re
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]
REGENERATE = "python scripts/doc_tables.py"


def _one_line(text) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")  # a pipe would end the table cell


def _cell(text) -> str:
    """Text for a Markdown table cell: one line, pipes escaped, '<' shown rather than taken as HTML."""
    return _one_line(text).replace("<", "&lt;")


def _code(value) -> str:
    """A value in a code span (where '<' needs no escape); the empty string shown as ``""``."""
    return f"`{_one_line(value)}`" if str(value) != "" else '`""`'


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def launch_arguments_table() -> str:
    from vitpose_ros.ros.launch_args import LAUNCH_ARGUMENTS

    return _table(["argument", "default", "what it does"],
                  [[f"`{name}`", _code(default), _cell(description)] for name, default, description in LAUNCH_ARGUMENTS])


def _parameter_value(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "[" + ", ".join(f'"{v}"' if isinstance(v, str) else str(v) for v in value) + "]"
    return str(value)


def _parameter_range(descriptor: dict) -> str:
    for key in ("integer_range", "floating_point_range"):
        if descriptor.get(key):
            limits = descriptor[key][0]
            return f"{limits.from_value:g} … {limits.to_value:g}"
    return ""


def parameters_table() -> str:
    from vitpose_ros.ros.parameters import LIVE_PARAMETERS, PARAMETERS

    rows = []
    for name, (default, description, descriptor) in PARAMETERS.items():
        rows.append([f"`{name}`", _code(_parameter_value(default)), _parameter_range(descriptor),
                     "live" if name in LIVE_PARAMETERS else "restart", _cell(description)])
    return _table(["parameter", "default", "range", "change", "what it does"], rows)


def demo_launch_arguments() -> list[tuple[str, str, str]]:
    """ARGUMENTS of launch/demo.launch.py: (name, default, description). Read from the source, not
    imported: the launch file imports launch, which needs a ROS install."""
    tree = ast.parse((REPO / "launch" / "demo.launch.py").read_text())
    return next(ast.literal_eval(node.value) for node in tree.body if isinstance(node, ast.Assign)
                and any(getattr(target, "id", None) == "ARGUMENTS" for target in node.targets))


def demo_launch_arguments_table() -> str:
    return _table(["argument", "default", "what it does"],
                  [[f"`{name}`", _code(default), _cell(description)]
                   for name, default, description in demo_launch_arguments()])


REGIONS = {
    "launch-arguments": ("README.md", launch_arguments_table),
    "parameters": ("README.md", parameters_table),
    "demo-launch-arguments": ("docs/synthetic_demo.md", demo_launch_arguments_table),
}


def _pattern(name: str) -> re.Pattern:
    return re.compile(rf"(<!-- generated: {re.escape(name)} [^\n]*-->\n)(.*?)(<!-- end generated: {re.escape(name)} -->)",
                      re.DOTALL)


def rewrite(text: str, name: str, table: str) -> str:
    """``text`` with region ``name`` holding ``table``; ValueError when its markers are missing."""
    pattern = _pattern(name)
    if not pattern.search(text):
        raise ValueError(f"no region {name!r}: add <!-- generated: {name} ({REGENERATE}) --> and "
                         f"<!-- end generated: {name} --> on lines of their own")
    return pattern.sub(lambda match: match.group(1) + table + "\n" + match.group(3), text, count=1)


def generated_files(root: pathlib.Path) -> dict[pathlib.Path, tuple[str, str]]:
    """{file: (text on disk, text with every region regenerated)}."""
    files: dict[pathlib.Path, tuple[str, str]] = {}
    for name, (relative, make_table) in REGIONS.items():
        path = root / relative
        current, updated = files.get(path, (path.read_text(), path.read_text()))
        files[path] = (current, rewrite(updated, name, make_table()))
    return files


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Regenerate the docs' launch-argument and parameter tables.")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 when a table differs from the code")
    parser.add_argument("--root", type=pathlib.Path, default=REPO, help="repository root (default: this checkout)")
    args = parser.parse_args(argv)
    try:
        files = generated_files(args.root)
    except (OSError, ValueError) as exc:
        print(f"doc_tables: {exc}", file=sys.stderr)
        return 1
    stale = [path for path, (current, updated) in files.items() if current != updated]
    if args.check:
        for path in stale:
            print(f"{path.relative_to(args.root)}: tables differ from the code; run: {REGENERATE}", file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        path.write_text(files[path][1])
        print(f"rewrote {path.relative_to(args.root)}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
