"""Consumer-lag bookkeeping that knows which partitions are assigned.

:class:`LagTracker` is pure state: the consumer thread reports assignments,
revocations and processed offsets; the :class:`LagMonitor` reports high
watermarks it fetched with its own client. Only assigned partitions appear in
a :class:`LagSnapshot`, so a revoked partition cannot keep a stale series (and
a stale-partition alert) alive on this consumer.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from dashstream_workloads.common.aio import wait_stopped

__all__ = ["LagMonitor", "LagSnapshot", "LagTracker", "PartitionLag"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PartitionLag:
    """Lag of one assigned partition; ``lag`` is None until both ends are known."""

    lag: int | None
    offset_age_seconds: float


@dataclass(frozen=True)
class LagSnapshot:
    partitions: dict[int, PartitionLag]
    removed: tuple[int, ...]  # revoked since the previous snapshot: drop their series

    @property
    def total(self) -> int:
        return sum(p.lag for p in self.partitions.values() if p.lag is not None)


@dataclass
class _Partition:
    since: float  # when the position last advanced (or the partition was assigned)
    position: int | None = None  # next offset to consume
    high: int | None = None
    low: int | None = None
    no_commit: bool = False  # the group has no committed offset here (yet)
    from_beginning: bool = False  # read from its beginning whatever auto.offset.reset says

    def lag(self, from_earliest: bool) -> int | None:
        if self.high is None:
            return None
        if self.position is not None:
            return max(0, self.high - self.position)
        if self.no_commit:
            # A new group starts at auto.offset.reset: everything retained is
            # ahead of it (earliest), or nothing is (latest).
            ahead = from_earliest or self.from_beginning
            return max(0, self.high - (self.low or 0)) if ahead else 0
        return None


class LagTracker:
    """Per-partition position and high watermark, for assigned partitions only.

    ``position`` is the next offset to consume: the processed offset + 1, or
    the committed offset before anything was processed. Lag is
    ``high - position`` (never negative: the watermark may be older than the
    position). The offset age is the time since the position last advanced.
    """

    def __init__(
        self, *, from_earliest: bool = True, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._from_earliest = from_earliest
        self._clock = clock
        self._lock = threading.Lock()
        self._parts: dict[int, _Partition] = {}
        self._removed: set[int] = set()

    def assign(self, partitions: Iterable[int]) -> None:
        now = self._clock()
        with self._lock:
            for p in partitions:
                self._parts.setdefault(p, _Partition(since=now))
                self._removed.discard(p)

    def revoke(self, partitions: Iterable[int]) -> None:
        with self._lock:
            for p in partitions:
                if self._parts.pop(p, None) is not None:
                    self._removed.add(p)

    def assigned(self) -> list[int]:
        with self._lock:
            return sorted(self._parts)

    def unknown_positions(self) -> list[int]:
        """Assigned partitions with neither a processed nor a committed offset known."""
        with self._lock:
            return sorted(
                p for p, s in self._parts.items() if s.position is None and not s.no_commit
            )

    def processed(self, partition: int, offset: int) -> None:
        """Record that ``offset`` of ``partition`` was processed."""
        self.set_position(partition, offset + 1)

    def set_position(self, partition: int, position: int) -> None:
        if position < 0:  # librdkafka's OFFSET_INVALID and friends: still unknown
            return
        with self._lock:
            state = self._parts.get(partition)
            if state is None:  # a record of a partition revoked meanwhile
                return
            if state.position is None or position > state.position:
                state.position = position
                state.since = self._clock()

    def set_committed(self, partition: int, offset: int) -> None:
        """The group's committed offset, used until a record is processed; a logical
        offset (negative) means none, -2 (librdkafka's OFFSET_BEGINNING) that reading
        starts at the partition's beginning."""
        if offset >= 0:
            self.set_position(partition, offset)
            return
        with self._lock:
            state = self._parts.get(partition)
            if state is not None:
                state.no_commit = True
                state.from_beginning = offset == -2

    def set_high_watermark(self, partition: int, high: int, low: int = 0) -> None:
        with self._lock:
            state = self._parts.get(partition)
            if state is not None and high >= 0:
                state.high, state.low = high, low

    def snapshot(self) -> LagSnapshot:
        now = self._clock()
        with self._lock:
            parts = {
                p: PartitionLag(s.lag(self._from_earliest), max(0.0, now - s.since))
                for p, s in sorted(self._parts.items())
            }
            removed = tuple(sorted(self._removed))
            self._removed.clear()
        return LagSnapshot(parts, removed)


class LagMonitor:
    """Fetch high watermarks of the assigned partitions with a separate client.

    Its own client never joins the group and never blocks the consuming
    thread; each round is also a broker round trip, so it doubles as the
    Kafka health probe.

    Parameters
    ----------
    conf
        Client settings (:func:`~dashstream_workloads.common.kafka.client_config`).
    topic, tracker
        What to watch.
    on_round
        Called after each round with (snapshot, error or None, seconds taken).
    followers
        More (tracker, callback) pairs over the same topic: one fetch per partition
        serves them all (the websocket-server's broadcast reader reads a superset of its
        group share's partitions).
    """

    def __init__(
        self,
        conf: dict[str, Any],
        topic: str,
        tracker: LagTracker,
        on_round: Callable[[LagSnapshot, str | None, float], None],
        timeout: float = 5.0,
        followers: Sequence[tuple[LagTracker, Callable[[LagSnapshot], None]]] = (),
    ) -> None:
        # librdkafka requires a group.id on a consumer handle even if it never joins.
        self._client = Consumer({**conf, "group.id": "dashstream-lag-probe",
                                 "enable.auto.commit": False})
        self._topic = topic
        self._tracker = tracker
        self._on_round = on_round
        self._followers = tuple(followers)
        self._timeout = timeout

    def poll_once(self) -> bool:
        """One blocking round; True when every watermark fetch succeeded."""
        start = time.perf_counter()
        error: str | None = None
        trackers = (self._tracker, *(t for t, _ in self._followers))
        partitions = sorted({p for t in trackers for p in t.assigned()})
        try:
            if not partitions:
                # Nothing assigned yet: still prove the broker answers and the topic
                # exists (auto-creation is usually off: a typo must not look healthy).
                metadata = self._client.list_topics(self._topic, timeout=self._timeout)
                topic_error = metadata.topics[self._topic].error
                if topic_error is not None:
                    error = f"topic {self._topic}: {topic_error.str()}"
            for p in partitions:
                low, high = self._client.get_watermark_offsets(
                    TopicPartition(self._topic, p), timeout=self._timeout, cached=False
                )
                for t in trackers:  # a tracker ignores partitions it does not hold
                    t.set_high_watermark(p, high, low)
        except Exception as exc:  # KafkaException, or a timeout returning None
            error = str(exc) or type(exc).__name__
        if error is not None:
            log.warning("lag poll failed", extra={"error": error})
        self._on_round(self._tracker.snapshot(), error, time.perf_counter() - start)
        for tracker, follow in self._followers:
            follow(tracker.snapshot())
        return error is None

    async def run(self, interval: float, stop: asyncio.Event) -> None:
        """Poll every ``interval`` seconds until ``stop`` is set."""
        loop = asyncio.get_running_loop()
        try:
            while not stop.is_set():
                await loop.run_in_executor(None, self.poll_once)
                await wait_stopped(stop, interval)
        finally:
            await loop.run_in_executor(None, self._client.close)
