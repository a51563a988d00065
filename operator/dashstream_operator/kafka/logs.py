"""librdkafka's own log lines, through the operator's logger."""

from __future__ import annotations

import logging
import re
import threading
import time
from typing import Any

__all__ = ["LIBRDKAFKA_LOG", "LibrdkafkaLog"]

log = logging.getLogger(__name__)


class LibrdkafkaLog:
    """librdkafka's own log lines, through the operator's logger (JSON like the rest)
    instead of raw ``%3|…|FAIL|…`` lines on stderr. A dead broker makes librdkafka
    repeat the same line every reconnect: each distinct line is logged once a minute,
    at most as a warning (status and the KafkaUnavailable Event are what report it)."""

    REPEAT_AFTER = 60.0

    def __init__(self) -> None:
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def log(self, level: int, fmt: str, *args: Any) -> None:  # called by librdkafka
        message = fmt % args if args else fmt
        key = re.sub(r"\d+", "#", message)  # "after 3ms" and "after 5ms" are one line
        now = time.monotonic()
        with self._lock:
            if now - self._last.get(key, -self.REPEAT_AFTER) < self.REPEAT_AFTER:
                return
            if len(self._last) > 1000:
                self._last.clear()
            self._last[key] = now
        log.log(max(min(level, logging.WARNING), logging.DEBUG), "librdkafka: %s", message)


LIBRDKAFKA_LOG = LibrdkafkaLog()
