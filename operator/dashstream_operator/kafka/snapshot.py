"""Whole-cluster topic metadata, fetched at most once per Kafka connection per pass.

A listing of all topics costs the broker as much for one pipeline as for a thousand,
so during a resync pass every pipeline on the same connection reads one snapshot
instead of fetching its own. Outside a pass (a reconcile a watch event started) every
describe fetches afresh. A write through the connection (create, grow, alter, delete)
drops its snapshot, so the status read after an apply never sees the topics as they
were before it; an out-of-band change is seen by the next pass, as before. A listing
that fails is remembered for the rest of the pass too: the reconciles waiting for it
fail at once instead of each waiting the Kafka timeout in turn.

The lock guarding the snapshots is never held during a fetch: the event loop takes it
to begin and end a pass, and must not wait for a hanging broker.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

__all__ = ["MetadataSnapshots"]


class MetadataSnapshots:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active = False
        self._pass = 0  # bumped by begin and end: a fetch from an earlier pass is not kept
        self._by_key: dict[int, Any] = {}
        self._failed: dict[int, BaseException] = {}
        # Bumped by every write: a fetch that started before a write must not be kept.
        self._versions: dict[int, int] = {}
        self._fetching: dict[int, threading.Lock] = {}

    def begin(self) -> None:
        self._start(active=True)

    def end(self) -> None:
        self._start(active=False)

    def _start(self, *, active: bool) -> None:
        """A new pass (or the time between passes): nothing of the last one is kept."""
        with self._lock:
            self._active = active
            self._pass += 1
            self._by_key.clear()
            self._failed.clear()

    def invalidate(self, key: int) -> None:
        with self._lock:
            self._by_key.pop(key, None)
            self._failed.pop(key, None)  # a write went through: the connection works
            self._versions[key] = self._versions.get(key, 0) + 1

    def get(self, key: int, fetch: Callable[[], Any]) -> Any:
        """The pass's snapshot for ``key``; ``fetch()`` when there is none (or no pass).

        Concurrent reconciles of one pass wait for the first one's fetch rather than
        each sending their own.
        """
        with self._lock:
            active, this_pass = self._active, self._pass
            fetching = self._fetching.setdefault(key, threading.Lock())
        if not active:
            return fetch()
        with fetching:
            with self._lock:
                found = self._by_key.get(key)
                failed = self._failed.get(key)
                version = self._versions.get(key, 0)
            if found is not None:
                return found
            if failed is not None:
                raise failed
            try:
                fresh = fetch()
            except Exception as exc:
                with self._lock:
                    if self._pass == this_pass and self._versions.get(key, 0) == version:
                        self._failed[key] = exc
                raise
            with self._lock:
                if self._pass == this_pass and self._versions.get(key, 0) == version:
                    self._by_key[key] = fresh
            return fresh
