"""The one `main` both console-script nodes share: init, build, spin, clean up, exit code."""
from __future__ import annotations

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor


def spin_node(factory, args=None, startup_errors: tuple = (), logger_name: str = "vitpose_ros") -> int:
    """Run the node ``factory()`` builds until Ctrl-C; 1 if it cannot start (one fatal log line).

    A node with a ``finished`` future (the pose node: set after a lifecycle shutdown, or when its
    autostart configure failed) ends the process when it is done, with its result as exit code.
    ``destroy_node`` waits for the node's own threads (a running inference) before its handles go.
    """
    rclpy.init(args=args)
    try:
        node = factory()
    except startup_errors as exc:
        rclpy.logging.get_logger(logger_name).fatal(str(exc))
        rclpy.try_shutdown()
        return 1
    finished = getattr(node, "finished", None)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        if finished is None:
            executor.spin()
        else:
            executor.spin_until_future_complete(finished)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        executor.remove_node(node)
        node.destroy_node()
        executor.shutdown(timeout_sec=1.0)
        rclpy.try_shutdown()
    return finished.result() if finished is not None and finished.done() else 0
