"""Fan-out: every client has its own bounded queue and its own writer task.

The broadcast only appends to queues and never awaits a client, so a client
that stops reading can only fill its own queue; once full, its *oldest*
queued events are dropped (``websocket_dropped_messages_total{reason=
"lagged_receiver"}``) and it is told how many with a ``lagged`` frame. The
others are not slowed at all. Events are also dropped once they have waited in a
queue longer than ``max_delay`` (``WEBSOCKET_CLIENT_MAX_DELAY_MS``): when the whole
server is overloaded, every viewer gets fresh events and a ``lagged`` frame instead
of a stream that runs seconds behind, and the writers skip the stale work.

A writer sends everything queued since its last send as one frame (a
``batch`` frame when there is more than one event): under load that turns
N sends per client into one, and it is what lets one process serve 100
clients at thousands of events per second.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Iterable, Mapping

from aiohttp import web

from dashstream_workloads.websocket_server.frames import lagged_frame
from dashstream_workloads.websocket_server.metrics import WsMetrics
from dashstream_workloads.websocket_server.replay import Outgoing

__all__ = ["Client", "Hub", "batch_frame"]

log = logging.getLogger(__name__)


def batch_frame(frames: list[str]) -> str:
    """Several JSON frames as one ``{"type":"batch","events":[...]}`` frame,
    by concatenation: the frames are already JSON, nothing is re-encoded."""
    return '{"type":"batch","events":[' + ",".join(frames) + "]}"


class Client:
    """One connected WebSocket and its queue."""

    def __init__(self, ws: web.WebSocketResponse, queue_size: int, metrics: WsMetrics,
                 max_delay: float = 0.0) -> None:
        self.ws = ws
        self.queue_size = queue_size
        self._metrics = metrics
        self._max_delay = max_delay
        self._queue: deque[Outgoing] = deque()
        # (monotonic time, count) per offer, oldest first: how long the queue's head waited.
        self._stamps: deque[list[float]] = deque()
        self._missed = 0
        self._wakeup = asyncio.Event()
        # Live events at or below these offsets were already sent by the replay.
        self.floor: dict[int, int] = {}
        self.sent = 0

    def offer(self, items: Iterable[Outgoing]) -> None:
        queue = self._queue
        before = len(queue)
        queue.extend(items)
        if len(queue) > before:
            self._stamps.append([time.monotonic(), len(queue) - before])
        overflow = len(queue) - self.queue_size
        if overflow > 0:
            self._drop_oldest(overflow)
        self._wakeup.set()

    def _drop_oldest(self, count: int) -> None:
        queue, stamps = self._queue, self._stamps
        count = min(count, len(queue))
        for _ in range(count):
            queue.popleft()
        left = count
        while left and stamps:
            if stamps[0][1] <= left:
                left -= int(stamps.popleft()[1])
            else:
                stamps[0][1] -= left
                left = 0
        if count:
            self._count_drops(count)

    def shed_stale(self, now: float | None = None) -> int:
        """Drop queued events older than ``max_delay``; returns how many."""
        if not self._max_delay:
            return 0
        cutoff = (time.monotonic() if now is None else now) - self._max_delay
        stale = 0
        for stamp, count in self._stamps:
            if stamp >= cutoff:
                break
            stale += int(count)
        self._drop_oldest(stale)
        return stale

    def _count_drops(self, overflow: int) -> None:
        # Counted when the drop happens, not when the client is told: a client that
        # never reads again must still show up in the metrics. One "warning" event
        # per lagging episode, one more "critical" event once it has lost a whole
        # queue's worth; messages are counted under the episode's severity so far.
        m = self._metrics
        before, self._missed = self._missed, self._missed + overflow
        m.dropped_lagged.inc(overflow)
        if before == 0:
            m.client_lag_event("warning")
        if before < self.queue_size <= self._missed:
            m.client_lag_event("critical")
        m.client_lag_messages("critical" if self._missed >= self.queue_size else "warning",
                              overflow)

    def _replayed(self, item: Outgoing) -> bool:
        """Live events at or below the floor were already sent by the replay."""
        return item.partition >= 0 and item.offset <= self.floor.get(item.partition, -1)

    def _take(self) -> list[str]:
        frames = [item.frame for item in self._queue if not self._replayed(item)]
        self._queue.clear()
        self._stamps.clear()
        return frames

    def _start_live(self) -> None:
        """After the replay: what was queued meanwhile and the replay carried is dropped
        unseen (not a loss), and the rest waits from now on: the time the server took to
        read and send the replay is not the client's delay."""
        queue = self._queue
        if self.floor:
            kept = [item for item in queue if not self._replayed(item)]
            queue.clear()
            queue.extend(kept)
        self._stamps.clear()
        if queue:
            self._stamps.append([time.monotonic(), len(queue)])

    async def run_writer(self, replay: list[Outgoing]) -> None:
        """Send the replay, then live frames, until the socket closes."""
        for item in replay:
            if item.partition >= 0:
                self.floor[item.partition] = max(self.floor.get(item.partition, -1), item.offset)
        if replay:
            await self.ws.send_str(batch_frame([item.frame for item in replay]))
        self._start_live()
        while not self.ws.closed:
            await self._wakeup.wait()
            self._wakeup.clear()
            self.shed_stale()
            if self._missed:  # the episode ends: tell the client what it lost
                missed, self._missed = self._missed, 0
                await self.ws.send_str(lagged_frame(missed))
            frames = self._take()
            if not frames:
                continue
            self.sent += len(frames)
            await self.ws.send_str(frames[0] if len(frames) == 1 else batch_frame(frames))

    def close(self) -> None:
        self._wakeup.set()


class Hub:
    """The set of connected clients; used from the event loop only."""

    def __init__(self, metrics: WsMetrics) -> None:
        self._metrics = metrics
        self.clients: set[Client] = set()

    def add(self, client: Client) -> None:
        self.clients.add(client)
        self._metrics.connected_clients.set(len(self.clients))

    def remove(self, client: Client) -> None:
        self.clients.discard(client)
        client.close()
        self._metrics.connected_clients.set(len(self.clients))

    def publish(self, items: list[Outgoing]) -> None:
        """Queue ``items`` for every client; returns without awaiting anyone."""
        if items:
            for client in self.clients:
                client.offer(items)

    def stats(self) -> Mapping[str, int]:
        return {"clients": len(self.clients)}
