"""Structured logging: one JSON object per line on stderr.

Fields passed with ``extra=`` become top-level keys, so a log pipeline can
filter on ``thread_id`` or ``error_type`` without parsing messages.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, Final

__all__ = ["JsonFormatter", "setup_logging"]

# Attributes every LogRecord has; anything else on a record came from extra=.
_STANDARD: Final = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
)


class JsonFormatter(logging.Formatter):
    """Format records as JSON with ``ts``, ``level``, ``logger``, ``component``,
    ``msg`` and the record's extra fields."""

    def __init__(self, component: str) -> None:
        super().__init__()
        self.component = component

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "component": self.component,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, separators=(",", ":"))


def setup_logging(component: str, level: str = "INFO", fmt: str = "json") -> None:
    """Configure the root logger once per process (``LOG_LEVEL``, ``LOG_FORMAT``)."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter(component))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aiohttp's access log prints the request line with its query string, where a
    # browser passes the websocket token: keep it off.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
