"""The event-loop half of the websocket-server: ``/ws``, the viewer at ``/``,
replay on reconnect, and delivery of consumed batches to the clients.

``/ws`` query parameters:

``since``
    Resume cursor ``partition:offset[,partition:offset...]``, the last offset
    the client received per partition (the ``partition``/``offset`` fields
    of event frames). The server first sends what the client missed, from
    memory or Redis, then live events, with no gap and no duplicate.
``token``
    The bearer token when ``WEBSOCKET_AUTH_TOKEN`` is set, for browsers
    (they cannot set headers on a WebSocket); other clients should send
    ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import importlib.resources
import logging
import time
from typing import Any, Final

from aiohttp import WSCloseCode, WSMsgType, web

from dashstream_workloads import __version__
from dashstream_workloads.websocket_server.frames import hello_frame
from dashstream_workloads.websocket_server.hub import Client, Hub
from dashstream_workloads.websocket_server.latency import latency_samples
from dashstream_workloads.websocket_server.metrics import WsMetrics
from dashstream_workloads.websocket_server.pipeline import Batch
from dashstream_workloads.websocket_server.redis_replay import RedisReplay
from dashstream_workloads.websocket_server.replay import MemoryReplay, Outgoing, parse_cursor

__all__ = ["WebSocketApp"]

log = logging.getLogger(__name__)

_HEARTBEAT_SECONDS: Final = 30.0
_CLIENT_MESSAGE_MAX: Final = 4096  # clients only ever send small control text
_CLOSE_TIMEOUT: Final = 2.0


class WebSocketApp:
    def __init__(
        self,
        metrics: WsMetrics,
        memory: MemoryReplay,
        redis: RedisReplay | None,
        *,
        client_queue_size: int,
        client_max_delay_ms: int = 0,
        auth_token: str | None,
        start_ms: float,
        redis_replay_limit: int = 10_000,
    ) -> None:
        self.metrics = metrics
        self.hub = Hub(metrics)
        self.memory = memory
        self.redis = redis
        self._queue_size = client_queue_size
        self._max_delay = client_max_delay_ms / 1000
        self._token = auth_token
        self._start_ms = start_ms
        self._redis_limit = redis_replay_limit
        # The viewer: one static file shipped as package data (no build step).
        self._page = importlib.resources.files(__package__).joinpath("viewer.html").read_text(
            encoding="utf-8")

    # --- consumer batches (called in the loop by the Handoff) -------------------------
    def deliver(self, batch: Batch) -> None:
        now_ms = time.time() * 1000
        m, memory, redis = self.metrics, self.memory, self.redis
        outgoing: list[Outgoing] = []
        for event in batch.events:
            outgoing.append(event.out)
            memory.append(event.out)
            if redis is not None:
                redis.offer(event.out)
            for s in latency_samples(event.header_timestamp_us, event.kafka_timestamp_ms,
                                     now_ms, self._start_ms):
                m.latency(s.stage).observe(s.ms)
                if s.clamped:
                    m.clamped(s.stage).inc()
        for partition, offset in batch.skipped:
            memory.note(partition, offset)
        outgoing.extend(batch.controls)
        self.hub.publish(outgoing)

    # --- HTTP --------------------------------------------------------------------------
    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/", self.index)
        app.router.add_get("/ws", self.websocket)

    async def index(self, _: web.Request) -> web.Response:
        return web.Response(text=self._page, content_type="text/html")

    def _authorized(self, request: web.Request) -> bool:
        if not self._token:
            return True
        header = request.headers.get("Authorization", "")
        offered = header[7:] if header.lower().startswith("bearer ") else request.query.get(
            "token", "")
        return hmac.compare_digest(offered.encode(), self._token.encode())

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return web.json_response({"error": "unauthorized"}, status=401,
                                     headers={"WWW-Authenticate": 'Bearer realm="dashstream"'})
        try:
            cursor = parse_cursor(request.query.get("since"))
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        ws = web.WebSocketResponse(heartbeat=_HEARTBEAT_SECONDS, max_msg_size=_CLIENT_MESSAGE_MAX)
        await ws.prepare(request)
        client = Client(ws, self._queue_size, self.metrics, self._max_delay)
        # Registered before the replay is read: events published meanwhile are queued
        # and the client's floor drops the ones the replay already carries.
        self.hub.add(client)
        writer: asyncio.Task[None] | None = None
        try:
            replay, info = await self._replay(cursor) if "since" in request.query else ([], None)
            await ws.send_str(hello_frame(__version__, info))
            writer = asyncio.create_task(client.run_writer(replay))
            async for msg in ws:
                if msg.type == WSMsgType.ERROR:
                    break
        except (ConnectionError, RuntimeError) as exc:  # the peer went away mid-send
            log.debug("client connection ended", extra={"error": str(exc)})
        finally:
            self.hub.remove(client)
            if writer is not None:
                writer.cancel()
                with contextlib.suppress(asyncio.CancelledError, ConnectionError, RuntimeError):
                    await writer
        return ws

    async def _replay(self, cursor: dict[int, int]) -> tuple[list[Outgoing], dict[str, Any]]:
        frames, uncovered = self.memory.since(cursor)
        m = self.metrics
        if not uncovered:
            m.memory_hits.inc()
            return frames, {"source": "memory", "complete": True, "events": len(frames)}
        complete = False
        if self.redis is not None:
            try:
                result = await self.redis.since({p: cursor[p] for p in uncovered},
                                                self._redis_limit)
            except Exception as exc:  # RedisError, OSError: replay what memory has
                log.warning("redis replay failed", extra={"error": str(exc)})
            else:
                complete = result.complete
                # Redis may trail memory (writes are asynchronous): merge, by offset.
                merged = {(o.partition, o.offset): o for o in result.frames}
                merged.update({(o.partition, o.offset): o for o in frames})
                frames = sorted(merged.values(), key=lambda o: (o.partition, o.offset))
        (m.redis_hits if complete else m.redis_misses).inc()
        source = "redis" if complete else "partial"
        return frames, {"source": source, "complete": complete, "events": len(frames)}

    async def close_clients(self) -> None:
        """Say goodbye (1001 going away) so clients reconnect to another replica."""
        clients = list(self.hub.clients)
        await asyncio.gather(
            *(asyncio.wait_for(c.ws.close(code=WSCloseCode.GOING_AWAY), _CLOSE_TIMEOUT)
              for c in clients),
            return_exceptions=True,
        )
