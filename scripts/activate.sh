# Source me (bash): puts .venv, its ROS 2 wheels and the vision_msgs overlay on the environment.
# colcon's and venv's setup scripts read unset variables: relax nounset while sourcing them.
case "$-" in *u*) _vitpose_nounset=1; set +u ;; *) _vitpose_nounset=0 ;; esac
_vitpose_repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck disable=SC1091
source "$_vitpose_repo/.venv/bin/activate"
if [ -f "$_vitpose_repo/.venv/ros_overlay/install/local_setup.bash" ]; then
  # shellcheck disable=SC1091
  source "$_vitpose_repo/.venv/ros_overlay/install/local_setup.bash"
fi
# The ROS wheels live in the venv prefix: make it an ament prefix too (ament_index lookups).
case ":${AMENT_PREFIX_PATH:-}:" in
  *":$VIRTUAL_ENV:"*) ;;
  *) export AMENT_PREFIX_PATH="${AMENT_PREFIX_PATH:+$AMENT_PREFIX_PATH:}$VIRTUAL_ENV" ;;
esac
# Keep DDS discovery on this machine unless the user chose otherwise.
export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"
[ "$_vitpose_nounset" = 1 ] && set -u
unset _vitpose_repo _vitpose_nounset
