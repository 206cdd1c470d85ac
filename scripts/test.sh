#!/usr/bin/env bash
# The test command (README, CI): sets up .venv from scratch if needed, then runs the whole suite.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$repo/scripts/setup_env.sh"
# shellcheck disable=SC1091
source "$repo/scripts/activate.sh"
cd "$repo"
exec python -m pytest -q "$@"
