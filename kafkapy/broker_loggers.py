"""Broker loggers (config resource type BROKER_LOGGER, 8): IncrementalAlterConfigs sets a logger's level at
run time, as Kafka sets log4j levels (its ConfigAdminManager checks, codes and messages).

Kafka's loggers are log4j's; kafkapy's are Python's: ``root`` is the broker's root logger (``kafkapy``,
whose level every kafkapy.* logger follows unless given its own) and the other names are the kafkapy.*
loggers the broker has created. Kafka's levels map onto Python's (TRACE below DEBUG, FATAL as CRITICAL).
Levels are not persisted, as in Kafka: a restart takes --log-level again.
"""

from __future__ import annotations

import logging

from kafkapy.dynamic_broker_config import node_id_of
from kafkapy.protocol.errors import ErrorCode, KafkaError
from kafkapy.topic_configs import OP_APPEND, OP_DELETE, OP_SET

ROOT_LOGGER = "root"
# The broker's loggers all live under this one (kafkapy.logging_setup).
BROKER_ROOT = "kafkapy"
# Kafka's LogLevelConfig.VALID_LOG_LEVELS, as Python levels (Python has no TRACE: one below DEBUG).
LEVELS = {
    "DEBUG": logging.DEBUG,
    "ERROR": logging.ERROR,
    "FATAL": logging.CRITICAL,
    "INFO": logging.INFO,
    "TRACE": logging.DEBUG - 5,
    "WARN": logging.WARNING,
}


def _logger(name: str) -> logging.Logger:
    """The Python logger behind a Kafka logger name; InvalidConfig as Kafka's if there is none."""
    if name == ROOT_LOGGER:
        return logging.getLogger(BROKER_ROOT)
    found = logging.Logger.manager.loggerDict.get(name)
    if not name.startswith(BROKER_ROOT + ".") or not isinstance(found, logging.Logger):
        raise KafkaError(ErrorCode.INVALID_CONFIG, f"Logger {name} does not exist!")
    return found


def _check_node(name: str, node_id: int) -> None:
    """Kafka's check that a BROKER_LOGGER resource names this node (no cluster-wide default here)."""
    if node_id_of(name) != node_id:
        raise KafkaError(ErrorCode.INVALID_REQUEST, f"Unexpected node id. Expected {node_id}, but received {name}")


def alter_log_levels(node_id: int, name: str, entries: list[dict], validate_only: bool) -> None:
    """Check every (logger, operation, level) of the request as Kafka does, then unless ``validate_only``
    set them all; KafkaError with Kafka's code and message for the first one refused."""
    names = [entry["name"] for entry in entries]
    if len(set(names)) != len(names):
        raise KafkaError(ErrorCode.INVALID_REQUEST, "Error due to duplicate config keys")
    for entry in entries:
        if entry["config_operation"] == OP_SET and entry["value"] is None:
            raise KafkaError(ErrorCode.INVALID_REQUEST, f"Null value not supported for : {entry['name']}")
    _check_node(name, node_id)
    changes: list[tuple[logging.Logger, int]] = []
    for entry in entries:
        logger_name, operation, level = entry["name"], entry["config_operation"], entry["value"]
        if operation == OP_SET:
            logger = _logger(logger_name)
            if level not in LEVELS:
                raise KafkaError(
                    ErrorCode.INVALID_CONFIG,
                    f"Cannot set the log level of {logger_name} to {level} as it is not a supported log level. "
                    f"Valid log levels are {', '.join(LEVELS)}",
                )
            changes.append((logger, LEVELS[level]))
        elif operation == OP_DELETE:
            logger = _logger(logger_name)
            if logger_name == ROOT_LOGGER:
                raise KafkaError(ErrorCode.INVALID_REQUEST, "Removing the log level of the root logger is not allowed")
            changes.append((logger, logging.NOTSET))
        else:
            verb = "APPEND" if operation == OP_APPEND else "SUBTRACT"
            message = f"{verb} operation is not allowed for the BROKER_LOGGER resource"
            raise KafkaError(ErrorCode.INVALID_REQUEST, message)
    if not validate_only:
        for logger, value in changes:
            logger.setLevel(value)
