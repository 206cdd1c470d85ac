#!/usr/bin/env bash
# The run command (README): sets up .venv if needed, then runs the synthetic camera and the pose
# node through ROS 2 for a fixed number of frames. Extra arguments go to `python -m vitpose_ros.synthetic.demo`.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$repo/scripts/setup_env.sh"
# shellcheck disable=SC1091
source "$repo/scripts/activate.sh"
cd "$repo"
exec python -m vitpose_ros.synthetic.demo "$@"
