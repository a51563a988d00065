"""Retry soon, without kopf's retry machinery.

A ``TemporaryError`` makes kopf record its progress in ``status.kopf`` on every try, so
an object being retried changes its resourceVersion every few seconds while nothing
changes: churn for every watcher (Argo CD included). Retries are ours instead: a
transient failure worth a quick second try (a topic not yet described as ready, a
refused child) schedules one reconcile with backoff; a lasting outage is left to the
resync pass, which retries every object once per interval, quietly.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable

__all__ = ["RetryQueue"]


class RetryQueue:
    """At most one pending retry per key; the delay doubles per consecutive retry."""

    def __init__(self, loop: asyncio.AbstractEventLoop, first: float = 2.0,
                 longest: float = 30.0) -> None:
        self._loop = loop
        self._first, self._longest = first, longest
        self._pending: dict[str, asyncio.TimerHandle] = {}
        self._tries: dict[str, int] = {}

    def schedule(self, key: str, fn: Callable[[], None]) -> None:
        """From any thread: run ``fn`` in the executor after the key's backoff delay."""
        self._loop.call_soon_threadsafe(self._schedule, key, fn)

    def succeeded(self, key: str) -> None:
        """From any thread: no retry is due, and the key's next failure starts from the
        first delay again."""
        self._loop.call_soon_threadsafe(self.forget, key)

    def forget(self, key: str) -> None:
        """On the loop: drop the key's pending retry and its history (also when the
        object is deleted)."""
        handle = self._pending.pop(key, None)
        if handle is not None:
            handle.cancel()
        self._tries.pop(key, None)

    def _schedule(self, key: str, fn: Callable[[], None]) -> None:
        if key in self._pending:
            return
        tries = self._tries.get(key, 0)
        self._tries[key] = tries + 1
        delay = min(self._longest, self._first * 2 ** tries)
        self._pending[key] = self._loop.call_later(delay, self._fire, key, fn)

    def _fire(self, key: str, fn: Callable[[], None]) -> None:
        self._pending.pop(key, None)
        ctx = contextvars.copy_context()
        self._loop.run_in_executor(None, ctx.run, fn)

    def cancel_all(self) -> None:
        for handle in self._pending.values():
            handle.cancel()
        self._pending.clear()
