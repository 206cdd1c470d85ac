"""The package's `logging` records reach an rclpy logger at their own severity, every level."""
import logging

import rclpy

from vitpose_ros.ros import log_bridge


def test_every_level_reaches_the_ros_logger_and_remove_restores_the_package_logger(capfd):
    package = logging.getLogger("vitpose_ros")
    before = (package.level, package.propagate)
    ros_logger = rclpy.logging.get_logger("bridge_test")
    ros_logger.set_level(rclpy.logging.LoggingSeverity.DEBUG)
    handler = log_bridge.install(ros_logger)
    try:
        core = logging.getLogger("vitpose_ros.core.engine")
        for _ in range(2):  # twice: rclpy ties a severity to each calling line
            core.debug("d %s", 1)
            core.info("i")
            core.warning("w")
            core.error("e")
            core.critical("c")
    finally:
        log_bridge.remove(handler)
    lines = [line for line in capfd.readouterr().err.splitlines() if "[bridge_test]" in line]
    expected = ["[DEBUG]", "[INFO]", "[WARN]", "[ERROR]", "[FATAL]"] * 2
    assert [line.split("]")[0] + "]" for line in lines] == expected, lines
    assert lines[0].endswith(": d 1") and lines[4].endswith(": c")
    assert (package.level, package.propagate) == before
    core.info("after remove")  # no longer forwarded
    assert "[bridge_test]" not in capfd.readouterr().err
