"""The one `main` both console-script nodes share: init, build, spin, clean up, exit code."""
from __future__ import annotations

import rclpy
from rclpy.executors import ExternalShutdownException


def spin_node(factory, args=None, startup_errors: tuple = (), logger_name: str = "vitpose_ros") -> int:
    """Run the node ``factory()`` builds until Ctrl-C; 1 if it cannot start (one fatal log line)."""
    rclpy.init(args=args)
    try:
        node = factory()
    except startup_errors as exc:
        rclpy.logging.get_logger(logger_name).fatal(str(exc))
        rclpy.try_shutdown()
        return 1
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0
