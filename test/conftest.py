import os
import pathlib
import sys

# Tests import helpers that sit beside them (hf_reference, ros_helpers, ...).
sys.path.insert(0, str(pathlib.Path(__file__).parent))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
