"""JSON log lines in one shape (README, "Operations"), for our own loggers and uvicorn's and
arq's."""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import urllib.request
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

request_id: ContextVar[str | None] = ContextVar("dyndash_request_id", default=None)

_STANDARD_ATTRIBUTES = set(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "details",
    "color_message",
}


def instance_id() -> str:
    """The ECS task id when running on ECS, else host and pid."""
    metadata_uri = os.environ.get("ECS_CONTAINER_METADATA_URI_V4")
    if metadata_uri:
        try:
            with urllib.request.urlopen(f"{metadata_uri}/task", timeout=1) as response:  # noqa: S310
                task_arn = json.load(response).get("TaskARN", "")
            if task_arn:
                return str(task_arn).rsplit("/", 1)[-1]
        except (OSError, ValueError):
            pass
    return f"{socket.gethostname()}:{os.getpid()}"


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str, instance: str) -> None:
        super().__init__()
        self.service = service
        self.instance = instance

    def format(self, record: logging.LogRecord) -> str:
        details: dict[str, Any] = dict(getattr(record, "details", None) or {})
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRIBUTES and not key.startswith("_"):
                details.setdefault(key, value)
        if record.name and not record.name.startswith("dyndash"):
            details.setdefault("logger", record.name)
        current_request = request_id.get()
        if current_request:
            details.setdefault("request_id", current_request)
        if record.exc_info:
            details["exception"] = self.formatException(record.exc_info)
        line = {
            "timestamp": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "service": self.service,
            "instance_id": self.instance,
            "event": record.getMessage(),
            "details": details,
        }
        return json.dumps(line, default=str)


QUIET_LOGGERS = ("aiosqlite", "asyncpg", "sqlalchemy.engine", "sqlalchemy.pool")


def configure_logging(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service, instance_id()))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "arq", "arq.worker"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    # Database drivers log each statement with its parameters at DEBUG (aiosqlite does, and
    # SQLAlchemy's echo would): those carry key hashes, so they stay quiet at any level.
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
