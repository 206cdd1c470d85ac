"""What every vitpose command-line tool does on failure: one line on stderr, exit status 1."""
from __future__ import annotations

import sys


def cli_error(prog: str, reason) -> int:
    """Print ``<prog>: error: <reason>`` to stderr; returns the exit status 1."""
    print(f"{prog}: error: {reason}", file=sys.stderr)
    return 1
