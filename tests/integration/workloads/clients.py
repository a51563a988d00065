"""Real WebSocket clients for the websocket-server tests.

:class:`WsClient` reads continuously in its own thread (so tests stay
synchronous and can use ``wait_until``) and records every frame with its
arrival time. :class:`StalledClient` completes the handshake with a tiny
receive buffer and then never reads, like a frozen browser tab.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

__all__ = ["Received", "StalledClient", "WsClient"]


@dataclass
class Received:
    events: list[dict[str, Any]] = field(default_factory=list)
    arrival_ms: list[float] = field(default_factory=list)  # one per event
    hello: dict[str, Any] | None = None
    lagged: int = 0
    anomalies: list[dict[str, Any]] = field(default_factory=list)
    frames: int = 0


class WsClient:
    """Connect to ``url`` and collect frames until :meth:`close`."""

    def __init__(self, url: str, headers: dict[str, str] | None = None) -> None:
        self.url = url
        self.headers = headers or {}
        self.got = Received()
        self.error: BaseException | None = None
        self.status: int | None = None  # the HTTP status if the upgrade was refused
        self.connected = threading.Event()
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._loop.run_until_complete(self._main())
        finally:
            self._loop.close()

    def _frame(self, frame: dict[str, Any], now_ms: float) -> None:
        kind = frame["type"]
        if kind == "batch":
            for event in frame["events"]:
                self._frame(event, now_ms)
        elif kind == "event":
            self.got.events.append(frame)
            self.got.arrival_ms.append(now_ms)
        elif kind == "hello":
            self.got.hello = frame
        elif kind == "lagged":
            self.got.lagged += frame["missed"]
        elif kind == "anomaly":
            self.got.anomalies.append(frame)

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        try:
            async with aiohttp.ClientSession() as session, session.ws_connect(
                self.url, headers=self.headers, max_msg_size=0
            ) as ws:
                self.connected.set()
                reader = asyncio.create_task(self._read(ws))
                await self._stop.wait()
                reader.cancel()
        except aiohttp.WSServerHandshakeError as exc:
            self.status = exc.status
            self.error = exc
        except BaseException as exc:
            self.error = exc
        finally:
            self.connected.set()

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            now_ms = time.time() * 1000
            with self._lock:
                self.got.frames += 1
                self._frame(json.loads(msg.data), now_ms)

    def snapshot(self) -> Received:
        with self._lock:
            g = self.got
            return Received(list(g.events), list(g.arrival_ms), g.hello, g.lagged,
                            list(g.anomalies), g.frames)

    def close(self) -> None:
        if self._stop is not None and self._thread.is_alive():
            with contextlib.suppress(RuntimeError):  # the loop finished meanwhile
                self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=10)


class StalledClient:
    """Handshake, then never read: the server's sends to it block once the
    (deliberately small) socket buffers are full."""

    def __init__(self, host: str, port: int, path: str = "/ws") -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.connect((host, port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        response = b""
        while b"\r\n\r\n" not in response:
            chunk = self.sock.recv(1)  # byte by byte: read nothing beyond the headers
            if not chunk:
                raise ConnectionError("server closed during the handshake")
            response += chunk
        if not response.startswith(b"HTTP/1.1 101"):
            raise ConnectionError(response.decode(errors="replace"))

    def close(self) -> None:
        self.sock.close()
