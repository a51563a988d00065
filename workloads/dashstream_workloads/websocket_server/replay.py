"""The in-memory replay tier: the last N event frames (and at most M seconds of
them), so a client that reconnects can resume from the offsets it has.

A client's cursor maps partition -> the last offset it received. The memory
tier *covers* a partition when nothing after that offset has been evicted and
this server has seen the stream since then; otherwise the Redis tier
(:mod:`.redis_replay`) is asked. Coverage is decided from what was evicted,
not from offset arithmetic, so offsets that never became frames (DLQ'd
records, transaction markers) do not make a complete replay look partial.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = ["MemoryReplay", "Outgoing", "parse_cursor"]


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One frame for clients; ``partition`` is -1 for control frames."""

    partition: int
    offset: int
    frame: str


def parse_cursor(text: str | None, *, max_partitions: int = 1024) -> dict[int, int]:
    """Parse ``"0:41,1:17"`` (partition:last offset received) into a dict.

    Raises
    ------
    ValueError
        On malformed input (the handler answers 400 with this message).
    """
    if not text:
        return {}
    cursor: dict[int, int] = {}
    for part in text.split(","):
        p, sep, o = part.strip().partition(":")
        if not sep:
            raise ValueError(f"cursor entry {part!r} is not partition:offset")
        try:
            partition, offset = int(p), int(o)
        except ValueError:
            raise ValueError(f"cursor entry {part!r} is not two integers") from None
        if partition < 0 or offset < -1:
            raise ValueError(f"cursor entry {part!r} out of range")
        cursor[partition] = offset
    if len(cursor) > max_partitions:
        raise ValueError(f"cursor names more than {max_partitions} partitions")
    return cursor


@dataclass(slots=True)
class _Seen:
    first: int  # first offset this server processed on the partition
    last: int  # highest offset processed (framed or not)
    evicted_upto: int = -1  # highest offset evicted from memory


class MemoryReplay:
    """Bounded buffer of recent event frames, by count and by age.

    Not thread-safe: the event loop owns it.
    """

    def __init__(
        self,
        max_messages: int,
        max_age_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_messages = max_messages
        self.max_age_seconds = max_age_seconds
        self._clock = clock
        self._entries: deque[tuple[float, Outgoing]] = deque()
        self._seen: dict[int, _Seen] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def note(self, partition: int, offset: int) -> None:
        """Record that ``offset`` was processed, whether or not it became a frame."""
        seen = self._seen.get(partition)
        if seen is None:
            self._seen[partition] = _Seen(first=offset, last=offset)
        elif offset > seen.last:
            seen.last = offset

    def append(self, item: Outgoing) -> None:
        self.note(item.partition, item.offset)
        if self.max_messages <= 0:
            self._evict(item)
            return
        self._entries.append((self._clock(), item))
        while len(self._entries) > self.max_messages:
            self._evict(self._entries.popleft()[1])
        self.trim()

    def trim(self) -> None:
        """Evict entries older than ``max_age_seconds``."""
        limit = self._clock() - self.max_age_seconds
        while self._entries and self._entries[0][0] < limit:
            self._evict(self._entries.popleft()[1])

    def _evict(self, item: Outgoing) -> None:
        seen = self._seen[item.partition]
        seen.evicted_upto = max(seen.evicted_upto, item.offset)

    def covers(self, partition: int, last_received: int) -> bool:
        """Whether memory alone holds every frame after ``last_received``."""
        seen = self._seen.get(partition)
        if seen is None:
            return False  # this server never saw the partition: it cannot know
        if last_received >= seen.last:
            return True  # the client is up to date
        return last_received + 1 >= seen.first and last_received >= seen.evicted_upto

    def since(self, cursor: Mapping[int, int]) -> tuple[list[Outgoing], set[int]]:
        """Frames a client with ``cursor`` is missing, and the partitions memory
        does not cover (to be asked of Redis).

        Partitions absent from the cursor get whatever memory holds for them.
        """
        self.trim()
        uncovered = {p for p, o in cursor.items() if not self.covers(p, o)}
        out = [
            item
            for _, item in self._entries
            if item.partition not in uncovered and item.offset > cursor.get(item.partition, -1)
        ]
        return out, uncovered
