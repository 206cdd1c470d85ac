import os
import pathlib
import sys

import pytest

# Tests import helpers that sit beside them (hf_reference, ros_harness, ...).
sys.path.insert(0, str(pathlib.Path(__file__).parent))
# DDS traffic stays on this machine, in a domain of this test run's own (parallel runs don't mix).
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("ROS_DOMAIN_ID", str(1 + os.getpid() % 100))


@pytest.fixture(scope="module")
def ros():
    """rclpy's default context for the tests of one module (a module may define its own)."""
    import rclpy

    rclpy.init()
    yield
    rclpy.shutdown()
