"""asyncio helpers for periodic tasks that must stop promptly on SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib

__all__ = ["wait_stopped"]


async def wait_stopped(stop: asyncio.Event, seconds: float) -> bool:
    """Wait up to ``seconds`` for ``stop``; True if it is set.

    A periodic task's pause: unlike ``asyncio.sleep`` it ends at once on
    shutdown, so SIGTERM never waits out an interval.
    """
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    return stop.is_set()
