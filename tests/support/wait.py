"""Wait-until helpers: tests poll for an observed state instead of sleeping."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal, TypeVar

T = TypeVar("T")

__all__ = ["WaitTimeout", "wait_until"]


class WaitTimeout(AssertionError):
    """The condition did not hold in time; the message says what was last seen."""


def wait_until(
    check: Callable[[], T | Literal[False] | None],
    *,
    timeout: float = 30.0,
    interval: float = 0.2,
    what: str = "condition",
) -> tuple[T, float]:
    """Call ``check`` until it returns a truthy value; return (value, seconds waited).

    Only a truthy value is returned, so the result is typed without the None or False a
    check says "not yet" with (an Optional lookup, a ``cond and value`` lambda).

    Exceptions raised by ``check`` count as "not yet" (the last one is reported), so a
    check may simply read an object that does not exist yet.
    """
    start = time.monotonic()
    last: object = None
    while True:
        try:
            value = check()
            if value:
                return value, time.monotonic() - start
            last = value
        except Exception as exc:
            last = exc
        if time.monotonic() - start > timeout:
            raise WaitTimeout(f"{what} not reached within {timeout:.0f}s; last seen: {last!r}")
        time.sleep(interval)
