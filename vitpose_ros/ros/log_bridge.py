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

# Python level (at least) -> ROS severity, highest first
_SEVERITIES = ((logging.CRITICAL, LoggingSeverity.FATAL), (logging.ERROR, LoggingSeverity.ERROR),
               (logging.WARNING, LoggingSeverity.WARN), (logging.INFO, LoggingSeverity.INFO),
               (logging.NOTSET, LoggingSeverity.DEBUG))
_PYTHON_LEVELS = {LoggingSeverity.FATAL: logging.CRITICAL, LoggingSeverity.ERROR: logging.ERROR,
                  LoggingSeverity.WARN: logging.WARNING, LoggingSeverity.INFO: logging.INFO,
                  LoggingSeverity.DEBUG: logging.DEBUG, LoggingSeverity.UNSET: logging.INFO}


def ros_severity(levelno: int) -> LoggingSeverity:
    return next(severity for level, severity in _SEVERITIES if levelno >= level)


class RosLogHandler(logging.Handler):
    """Forwards records to ``ros_logger`` (an rclpy logger) at the matching severity."""

    def __init__(self, ros_logger):
        super().__init__()
        self.ros_logger = ros_logger

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.ros_logger.log(self.format(record), ros_severity(record.levelno))
        except Exception:  # a log line must never take the node down
            self.handleError(record)


def install(ros_logger) -> RosLogHandler:
    """Bridge the package logger to ``ros_logger``; ``remove`` the returned handler when done."""
    handler = RosLogHandler(ros_logger)
    package = logging.getLogger(PACKAGE_LOGGER)
    package.addHandler(handler)
    package.setLevel(_PYTHON_LEVELS.get(LoggingSeverity(ros_logger.get_effective_level()), logging.INFO))
    package.propagate = False  # the ROS logger prints it; a root handler would print it twice
    return handler


def remove(handler: RosLogHandler) -> None:
    package = logging.getLogger(PACKAGE_LOGGER)
    package.removeHandler(handler)
    if not package.handlers:
        package.propagate = True
