"""The Redis replay tier (``REDIS_URL``): the last N event frames per partition,
kept for a TTL, shared by every server of a topic and surviving restarts.

Layout: one sorted set per partition, ``dashstream:replay:<topic>:<partition>``,
score = offset, member = ``<offset, 20 digits>:<frame>`` (the prefix keeps
members unique when two frames are byte-identical). Writes are batched in a
pipeline by one background task; when Redis cannot keep up, frames are
dropped from the write queue (``replay_buffer_redis_write_dropped_total``)
rather than buffered without bound or allowed to slow the broadcast.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from dashstream_workloads.websocket_server.metrics import WsMetrics
from dashstream_workloads.websocket_server.replay import Outgoing

__all__ = ["RedisReplay", "RedisReplayResult"]

log = logging.getLogger(__name__)

_WRITE_QUEUE: Final = 10_000
_WRITE_BATCH: Final = 500
_ATTEMPTS: Final = 3
_BACKOFF_SECONDS: Final = 0.05
_PREFIX_LEN: Final = 21  # 20 digits and ":"
_DRAIN_SECONDS: Final = 5.0


@dataclass(frozen=True)
class RedisReplayResult:
    frames: list[Outgoing]
    complete: bool  # Redis still held the record at or before each cursor offset


class RedisReplay:
    def __init__(
        self,
        url: str,
        topic: str,
        metrics: WsMetrics,
        max_messages: int,
        ttl_seconds: int,
    ) -> None:
        self._redis: Any = aioredis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._topic = topic
        self._metrics = metrics
        self._max = max_messages
        self._ttl = ttl_seconds
        self._queue: asyncio.Queue[Outgoing] = asyncio.Queue(_WRITE_QUEUE)

    def key(self, partition: int) -> str:
        return f"dashstream:replay:{self._topic}:{partition}"

    def offer(self, item: Outgoing) -> None:
        """Queue a frame for writing; never blocks the broadcast."""
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            self._metrics.redis_write_dropped.inc()

    async def _retrying(self, operation: str, fn: Any) -> Any:
        """Run ``fn()`` with up to three attempts; time and count each call."""
        for attempt in range(_ATTEMPTS):
            start = time.perf_counter()
            try:
                result = await fn()
            except (RedisError, OSError) as exc:
                self._metrics.redis_errors.inc()
                log.warning("redis %s failed", operation, extra={"error": str(exc)})
                if attempt == _ATTEMPTS - 1:
                    self._metrics.retry_count(f"redis_{operation}").observe(attempt)
                    raise
                await asyncio.sleep(_BACKOFF_SECONDS * (attempt + 1))
                continue
            self._metrics.redis_latency(operation).observe((time.perf_counter() - start) * 1000)
            self._metrics.retry_count(f"redis_{operation}").observe(attempt)
            return result
        raise AssertionError("unreachable")

    async def run_writer(self, stop: asyncio.Event) -> None:
        """Write queued frames in pipelined batches until ``stop``, then drain what
        is queued for at most ``_DRAIN_SECONDS`` (Redis being down must not hold up
        a shutdown; what is left is counted as dropped)."""
        drain_until: float | None = None
        while not (stop.is_set() and self._queue.empty()):
            if stop.is_set():
                drain_until = drain_until or time.monotonic() + _DRAIN_SECONDS
                if time.monotonic() > drain_until:
                    self._metrics.redis_write_dropped.inc(self._queue.qsize())
                    break
            try:
                first = await asyncio.wait_for(self._queue.get(), timeout=0.5)
            except TimeoutError:
                continue
            batch = [first]
            while len(batch) < _WRITE_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._retrying("write", functools.partial(self._write, batch))
            except (RedisError, OSError):
                self._metrics.redis_write_failures.inc(len(batch))
        await self._redis.aclose()

    async def _write(self, batch: list[Outgoing]) -> None:
        by_partition: dict[int, dict[str, int]] = {}
        for item in batch:
            member = f"{item.offset:020d}:{item.frame}"
            by_partition.setdefault(item.partition, {})[member] = item.offset
        pipe = self._redis.pipeline(transaction=False)
        for partition, members in by_partition.items():
            key = self.key(partition)
            pipe.zadd(key, members)
            pipe.zremrangebyrank(key, 0, -(self._max + 1))
            pipe.expire(key, self._ttl)
        await pipe.execute()

    async def since(self, cursor: Mapping[int, int], limit: int) -> RedisReplayResult:
        """Frames after each cursor offset; raises RedisError/OSError when Redis fails."""

        async def read() -> list[Any]:
            pipe = self._redis.pipeline(transaction=False)
            for partition, offset in cursor.items():
                key = self.key(partition)
                pipe.zrangebyscore(key, f"({offset}", "+inf", start=0, num=limit)
                pipe.zrangebyscore(key, "-inf", offset, start=0, num=1)
            result: list[Any] = await pipe.execute()
            return result

        replies = await self._retrying("read", read)
        frames: list[Outgoing] = []
        complete = True
        for index, (partition, offset) in enumerate(cursor.items()):
            newer, anchor = replies[2 * index], replies[2 * index + 1]
            # Nothing at or before the cursor left in Redis: older frames were
            # trimmed or expired, so the client may have missed some.
            if not anchor and newer and int(newer[0][: _PREFIX_LEN - 1]) > offset + 1:
                complete = False
            for member in newer:
                text = member.decode() if isinstance(member, bytes) else member
                frames.append(Outgoing(partition, int(text[: _PREFIX_LEN - 1]), text[_PREFIX_LEN:]))
        return RedisReplayResult(frames, complete)
