#!/usr/bin/env bash
# The robot install path, end to end, in a fresh venv without torch:
#   pip install ".[cpu]" (+ the ROS 2 PyPI wheels the node needs), then `vitpose-fetch --model b`
#   (no torch there: fetch takes the published ONNX) from a Hugging Face cache holding a file in
#   onnx-community/vitpose-base-simple's layout (and `--detector rtdetr-r18` from one in
#   onnx-community/rtdetr_r18vd's), then the pose node (whole image as the person box)
#   on a synthetic-people image until one /pose/keypoints message arrives.
#   [DEV_PYTHON=.venv/bin/python] scripts/check_runtime_venv.sh [WORKDIR]   (default: a temporary folder)
# The published-layout file is made with the development venv (.venv: torch + transformers, random
# weights); nothing is downloaded from a model hub. Prints the time of each step.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="${1:-$(mktemp -d)}"
[ -n "${1:-}" ] || trap 'rm -rf "$work"' EXIT
dev_py="${DEV_PYTHON:-$repo/.venv/bin/python}"  # the development venv (scripts/setup_env.sh)
venv="$work/venv"
step() { echo "[check_runtime_venv] $*"; }
now() { date +%s.%N; }
elapsed() { python3 -c "print(f'{$(now) - $1:.0f} s')"; }

t0=$(now)
python3 -m venv "$venv"
quiet_pip() { "$venv/bin/python" -m pip install -q "$@" 2>&1 | { grep -v "is ignored: it is neither" || true; }; }
quiet_pip --upgrade pip
# a copy of the source tree: pip's build must not write into the checkout
mkdir -p "$work/src"
tar -C "$repo" --exclude ./.venv --exclude ./.git --exclude ./build --exclude '*.egg-info' -cf - . | tar -C "$work/src" -xf -
quiet_pip "$work/src[cpu]" ros-rclpy ros-rmw-fastrtps-cpp ros-std-msgs ros-sensor-msgs \
    ros-geometry-msgs ros-visualization-msgs ros-builtin-interfaces ros-diagnostic-msgs
step "fresh venv with .[cpu] and the ROS wheels: $(elapsed "$t0")"
if "$venv/bin/python" -c "import torch" 2>/dev/null; then step "torch is installed in the runtime venv"; exit 1; fi

t0=$(now)
PYTHONPATH="$repo/test:$repo" "$dev_py" - "$work/hub" <<'EOF'
import pathlib, sys
from test_fetch_detector import publish_onnx
from test_fetch_onnx import _onnx_community_base
_onnx_community_base(pathlib.Path(sys.argv[1]))
publish_onnx(pathlib.Path(sys.argv[1]))  # onnx-community/rtdetr_r18vd's layout
EOF
step "published-layout cache written with the development venv: $(elapsed "$t0")"

export HF_HUB_OFFLINE=1 HF_HUB_CACHE="$work/hub" VITPOSE_MODEL_DIR="$work/models" ROS_DOMAIN_ID="${ROS_DOMAIN_ID:-77}"
export AMENT_PREFIX_PATH="$venv" ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
unset PYTHONPATH
t0=$(now)
model="$("$venv/bin/vitpose-fetch" --model b | tail -n 1)"
[ "$model" = "$work/models/vitpose_b_coco.onnx" ] && [ -f "$model" ] || { step "fetch did not write $model"; exit 1; }
step "vitpose-fetch --model b (format auto -> onnx, no torch): $model in $(elapsed "$t0")"
t0=$(now)
detector="$("$venv/bin/vitpose-fetch" --detector rtdetr-r18 | tail -n 1)"
[ "$detector" = "$work/models/detector_rtdetr_r18.onnx" ] && [ -f "$detector" ] || { step "no $detector"; exit 1; }
step "vitpose-fetch --detector rtdetr-r18 (published ONNX adopted, no torch): $(elapsed "$t0")"

t0=$(now)
"$venv/bin/pose_node" --ros-args -p model_size:=b -p use_detections:=false -p "providers:=[cpu]" \
    > "$work/node.log" 2>&1 &
node=$!
status=0
# the camera: a synthetic scene (the package's own renderer) as sensor_msgs/Image at 5 Hz
"$venv/bin/python" - <<'EOF' || status=$?
import time
import rclpy
from sensor_msgs.msg import Image, PointCloud2
from vitpose_ros import synthetic
rclpy.init()
node = rclpy.create_node("check_runtime_venv")
got = []
node.create_subscription(PointCloud2, "/pose/keypoints", got.append, 10)
camera = node.create_publisher(Image, "/camera/image_raw", 10)
rgb = synthetic.render_scene(0)[0]
deadline = time.monotonic() + 60
while not got and time.monotonic() < deadline:
    msg = Image(height=rgb.shape[0], width=rgb.shape[1], encoding="rgb8", step=rgb.shape[1] * 3, data=rgb.tobytes())
    msg.header.stamp = node.get_clock().now().to_msg()
    camera.publish(msg)
    end = time.monotonic() + 0.2
    while not got and time.monotonic() < end:
        rclpy.spin_once(node, timeout_sec=0.05)
print(f"keypoints message: {got[0].height} person(s) x {got[0].width} keypoints" if got else "no keypoints in 60 s")
raise SystemExit(0 if got else 1)
EOF
kill "$node" 2>/dev/null || true
wait "$node" 2>/dev/null || true
if [ "$status" != 0 ]; then tail -n 20 "$work/node.log"; exit 1; fi
step "pose node (torch-free venv) published keypoints: $(elapsed "$t0")"
