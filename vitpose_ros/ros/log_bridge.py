"""The package's Python ``logging`` records -> a node's ROS logger, at the matching severity.

The core logs through standard ``logging`` loggers under ``vitpose_ros`` (debug to error); one
handler on that logger forwards every record, so nothing in the core needs to know about rclpy
and no level can be missing. The package logger's level follows the ROS logger's, so
``--log-level vitpose:=debug`` shows the core's debug lines too.
"""
from __future__ import annotations

import logging

from rclpy.logging import LoggingSeverity

PACKAGE_LOGGER = "vitpose_ros"
_before_bridges: tuple[int, bool] | None = None  # the package logger's level and propagate, restored by remove

_PYTHON_LEVELS = {LoggingSeverity.FATAL: logging.CRITICAL, LoggingSeverity.ERROR: logging.ERROR,
                  LoggingSeverity.WARN: logging.WARNING, LoggingSeverity.INFO: logging.INFO,
                  LoggingSeverity.DEBUG: logging.DEBUG, LoggingSeverity.UNSET: logging.INFO}


class RosLogHandler(logging.Handler):
    """Forwards records to ``ros_logger`` (an rclpy logger) at the matching severity."""

    def __init__(self, ros_logger):
        super().__init__()
        self.ros_logger = ros_logger

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message, logger, level = self.format(record), self.ros_logger, record.levelno
            # rclpy ties one severity to each calling line, so every severity has a line of its own
            if level >= logging.CRITICAL:
                logger.fatal(message)
            elif level >= logging.ERROR:
                logger.error(message)
            elif level >= logging.WARNING:
                logger.warning(message)
            elif level >= logging.INFO:
                logger.info(message)
            else:
                logger.debug(message)
        except Exception:  # a log line must never take the node down
            self.handleError(record)


def install(ros_logger) -> RosLogHandler:
    """Bridge the package logger to ``ros_logger``; ``remove`` the returned handler when done."""
    global _before_bridges
    package = logging.getLogger(PACKAGE_LOGGER)
    if not _bridges(package):
        _before_bridges = (package.level, package.propagate)
    handler = RosLogHandler(ros_logger)
    package.addHandler(handler)
    package.setLevel(_PYTHON_LEVELS.get(LoggingSeverity(ros_logger.get_effective_level()), logging.INFO))
    package.propagate = False  # the ROS logger prints it; a root handler would print it twice
    return handler


def remove(handler: RosLogHandler) -> None:
    package = logging.getLogger(PACKAGE_LOGGER)
    package.removeHandler(handler)
    if not _bridges(package) and _before_bridges is not None:
        package.setLevel(_before_bridges[0])
        package.propagate = _before_bridges[1]


def _bridges(package: logging.Logger) -> list:
    return [h for h in package.handlers if isinstance(h, RosLogHandler)]
