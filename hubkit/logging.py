"""JSON logs, one object per line, with the correlation id of the work in hand."""
from __future__ import annotations

import contextvars
import json
import logging
import re
import sys

correlation_id = contextvars.ContextVar("correlation_id", default="")
# set by a thread that is a component of its own in a shared process (hubkit.relay.main's relays)
process_name = contextvars.ContextVar("process_name", default="")

_PHONE = re.compile(r"(?<!\d)(1\d{2})\d{4}(\d{4})(?!\d)")


def mask_phone(text: str) -> str:
    return _PHONE.sub(r"\1****\2", text)


def mask_name(name: str) -> str:
    """Keep the first character only: personal data never reaches logs whole."""
    return (name[:1] + "*" * max(len(name) - 1, 1)) if name else name


class JsonFormatter(logging.Formatter):
    def __init__(self, process_name: str):
        super().__init__()
        self.process_name = process_name

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "process": process_name.get() or self.process_name,
            "logger": record.name,
            "msg": mask_phone(record.getMessage()),
        }
        cid = getattr(record, "correlation_id", None) or correlation_id.get()
        if cid:
            entry["correlation_id"] = cid
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup(process_name: str, level: str = "INFO") -> None:
    import time

    logging.Formatter.converter = time.gmtime
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(process_name))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("pika", "kombu", "amqp", "nameko", "httpx", "uvicorn.access", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
