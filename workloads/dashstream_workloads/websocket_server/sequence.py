"""Per-thread sequence validation: gaps, duplicates and reorders, in bounded memory.

The old validator counted a gap the moment a sequence number skipped ahead,
so a plain reorder (n, n+2, n+1) was reported as a loss *and* a reorder and
fired the critical SequenceGapsDetected alert. Here a skipped number is only
*pending*: if it arrives later it is a reorder; it becomes a gap (a loss)
when it is still missing after ``reorder_window`` newer messages of its
thread or ``reorder_timeout`` seconds. Each anomaly is therefore counted
once, as what it turned out to be.

Memory is bounded twice: at most ``max_threads`` threads are remembered
(least recently seen are forgotten first, their pending numbers counted as
gaps) and at most ``max_pending`` missing numbers per thread (older ones
are declared lost at once).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Final, Literal

__all__ = [
    "DEFAULT_MAX_PENDING",
    "DEFAULT_REORDER_TIMEOUT",
    "DEFAULT_REORDER_WINDOW",
    "Anomaly",
    "AnomalyKind",
    "SequenceValidator",
]

AnomalyKind = Literal["gap", "duplicate", "reorder"]

DEFAULT_REORDER_WINDOW: Final = 64
DEFAULT_REORDER_TIMEOUT: Final = 5.0
DEFAULT_MAX_PENDING: Final = 256


@dataclass(frozen=True)
class Anomaly:
    """One anomaly of one thread.

    For a gap, ``sequence`` is the first missing number and ``missing`` how
    many consecutive numbers were lost; otherwise ``missing`` is 0.
    """

    kind: AnomalyKind
    thread_id: str
    sequence: int
    missing: int = 0


@dataclass
class _Thread:
    first: int  # first sequence seen: older numbers were never expected here
    highest: int
    partition: int = -1  # where its records were last read (a thread keys one partition)
    # missing sequence -> when it went missing; ascending by construction
    pending: dict[int, float] = field(default_factory=dict)


class SequenceValidator:
    """Validate ``(thread_id, sequence)`` pairs in arrival order.

    Sequence 0 means "not set" and is ignored. The first number seen for a
    thread is accepted as its start (a consumer may join mid-stream).
    Not thread-safe: one consuming thread owns it.
    """

    def __init__(
        self,
        max_threads: int = 10_000,
        reorder_window: int = DEFAULT_REORDER_WINDOW,
        reorder_timeout: float = DEFAULT_REORDER_TIMEOUT,
        max_pending: int = DEFAULT_MAX_PENDING,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if min(max_threads, reorder_window, max_pending) < 1:
            raise ValueError("max_threads, reorder_window and max_pending must be >= 1")
        self.max_threads = max_threads
        self.reorder_window = reorder_window
        self.reorder_timeout = reorder_timeout
        self.max_pending = max_pending
        self._clock = clock
        self._threads: OrderedDict[str, _Thread] = OrderedDict()

    def __len__(self) -> int:
        return len(self._threads)

    def pending(self) -> int:
        """Missing numbers not yet decided (gap or reorder)."""
        return sum(len(t.pending) for t in self._threads.values())

    def check(self, thread_id: str, sequence: int, partition: int = -1) -> list[Anomaly]:
        """Record one message; return the anomalies it revealed or settled."""
        if sequence <= 0:
            return []
        state = self._threads.get(thread_id)
        if state is None:
            out = self._new_thread(thread_id, sequence)
            self._threads[thread_id].partition = partition
            return out
        self._threads.move_to_end(thread_id)
        state.partition = partition
        if sequence == state.highest + 1:
            state.highest = sequence
            return self._expire_by_window(thread_id, state)
        if sequence > state.highest:
            return self._skip_ahead(thread_id, state, sequence)
        if state.pending.pop(sequence, None) is not None or sequence < state.first:
            # It arrived after a higher number of its thread: late, not lost.
            return [Anomaly("reorder", thread_id, sequence)]
        return [Anomaly("duplicate", thread_id, sequence)]

    def forget_partitions(self, partitions: Iterable[int]) -> int:
        """Forget the threads read from ``partitions`` (revoked from this consumer), pending
        numbers included, without counting them: their next owner validates them, and if
        they come back here, the sequence jump since is no gap. Returns how many."""
        gone = set(partitions)
        forgotten = [t for t, state in self._threads.items() if state.partition in gone]
        for thread_id in forgotten:
            del self._threads[thread_id]
        return len(forgotten)

    def expire(self) -> list[Anomaly]:
        """Declare lost every number missing for longer than ``reorder_timeout``."""
        deadline = self._clock() - self.reorder_timeout
        out: list[Anomaly] = []
        for thread_id, state in self._threads.items():
            late = [s for s, since in state.pending.items() if since <= deadline]
            out.extend(self._lose(thread_id, state, late))
        return out

    def _new_thread(self, thread_id: str, sequence: int) -> list[Anomaly]:
        out: list[Anomaly] = []
        if len(self._threads) >= self.max_threads:
            old_id, old = self._threads.popitem(last=False)
            # Forgotten pending numbers can no longer be matched: count them as the
            # losses they most likely are rather than drop the evidence.
            out.extend(self._lose(old_id, old, list(old.pending)))
        self._threads[thread_id] = _Thread(first=sequence, highest=sequence)
        return out

    def _skip_ahead(self, thread_id: str, state: _Thread, sequence: int) -> list[Anomaly]:
        out: list[Anomaly] = []
        first_missing = state.highest + 1
        skipped = sequence - first_missing
        if skipped > self.max_pending:
            # A jump too large to remember number by number: the oldest part is
            # declared lost now, only the newest max_pending stay pending.
            lost = skipped - self.max_pending
            out.append(Anomaly("gap", thread_id, first_missing, lost))
            first_missing += lost
        now = self._clock()
        for missing in range(first_missing, sequence):
            state.pending[missing] = now
        state.highest = sequence
        overflow = len(state.pending) - self.max_pending
        if overflow > 0:
            out.extend(self._lose(thread_id, state, list(state.pending)[:overflow]))
        out.extend(self._expire_by_window(thread_id, state))
        return out

    def _expire_by_window(self, thread_id: str, state: _Thread) -> list[Anomaly]:
        if not state.pending:
            return []
        limit = state.highest - self.reorder_window
        return self._lose(thread_id, state, [s for s in state.pending if s < limit])

    @staticmethod
    def _lose(thread_id: str, state: _Thread, sequences: Iterable[int]) -> list[Anomaly]:
        """Remove ``sequences`` from pending and report them as gaps, one per run."""
        out: list[Anomaly] = []
        run_start = prev = -2
        for s in sorted(sequences):
            del state.pending[s]
            if s != prev + 1:
                if run_start >= 0:
                    out.append(Anomaly("gap", thread_id, run_start, prev - run_start + 1))
                run_start = s
            prev = s
        if run_start >= 0:
            out.append(Anomaly("gap", thread_id, run_start, prev - run_start + 1))
        return out
