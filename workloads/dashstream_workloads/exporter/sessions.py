"""Bookkeeping the exporter keeps between events: sessions and bounded labels.

``dashstream_turns_by_session`` is observed once per session, with the
session's highest turn number, when it has been idle for
``PROMETHEUS_SESSION_TIMEOUT_SECS`` (or at shutdown). Observing every
event's turn number instead inflated the low buckets: a 10-turn session
counted as turns 1, 2, ..., 10.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Final

__all__ = ["DEFAULT_MAX_SESSIONS", "LabelBounder", "SessionTracker"]

DEFAULT_MAX_SESSIONS: Final = 100_000


class SessionTracker:
    """Highest turn per open session, ordered by last activity.

    Parameters
    ----------
    timeout
        Idle seconds after which a session is closed.
    max_sessions
        Memory bound; beyond it the least recently active session is closed
        early (and observed like a timed-out one).
    """

    def __init__(
        self,
        timeout: float,
        max_sessions: int = DEFAULT_MAX_SESSIONS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.timeout = timeout
        self.max_sessions = max_sessions
        self._clock = clock
        self._open: OrderedDict[str, tuple[int, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._open)

    def observe(self, session_id: str, turn: int) -> list[int]:
        """Record a turn; returns turn counts of sessions closed to stay bounded."""
        return list(self.observe_at(session_id, turn, self._clock()))

    def now(self) -> float:
        return self._clock()

    def observe_at(self, session_id: str, turn: int, now: float) -> Sequence[int]:
        """Record a turn seen at ``now`` (one clock read per batch serves all its events);
        returns the turn counts of sessions closed to stay bounded (mostly none: the
        shared empty tuple, no allocation on the hot path)."""
        if not session_id:
            return ()
        open_ = self._open
        previous = open_.get(session_id)
        if previous is None:
            open_[session_id] = (turn, now)
            if len(open_) <= self.max_sessions:
                return ()
            closed = []
            while len(open_) > self.max_sessions:
                closed.append(open_.popitem(last=False)[1][0])
            return closed
        open_[session_id] = (turn if turn > previous[0] else previous[0], now)
        open_.move_to_end(session_id)
        return ()

    def expire(self) -> list[int]:
        """Close sessions idle for longer than ``timeout``; return their turn counts."""
        limit = self._clock() - self.timeout
        closed: list[int] = []
        while self._open:
            session_id, (turns, last_seen) = next(iter(self._open.items()))
            if last_seen > limit:
                break
            del self._open[session_id]
            closed.append(turns)
        return closed

    def drain(self) -> list[int]:
        """Close every session (shutdown)."""
        closed = [turns for turns, _ in self._open.values()]
        self._open.clear()
        return closed


class LabelBounder:
    """Pass the first ``limit`` distinct values through, fold the rest into ``other``.

    A producer sending a new model name per event must not be able to create
    unbounded series (contract: ``MAX_MODEL_LABEL_VALUES``).
    """

    def __init__(self, limit: int, other: str, empty: str = "unknown") -> None:
        self.limit = limit
        self.other = other
        self.empty = empty
        #: Values passed through as they are (callers may test membership first).
        self.known: set[str] = set()

    def __call__(self, value: str) -> str:
        if not value:
            value = self.empty
        if value in self.known:
            return value
        if len(self.known) >= self.limit:
            return self.other
        self.known.add(value)
        return value
