"""WebSocket fan-out measurement: client processes, a fixed input rate, latencies.

Clients run in separate processes (spawned) so that parsing 100 clients'
frames does not compete with the server for one interpreter; each records
``arrival - kafka_timestamp_ms`` per event (producer, broker and clients share
this host's clock).
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import statistics
import time
from array import array
from dataclasses import dataclass
from typing import Any

import aiohttp

__all__ = ["FanoutResult", "run_clients"]


@dataclass
class FanoutResult:
    clients: int
    produced: int
    received: int  # events, all clients together
    lagged: int  # events the server dropped for lagging clients
    seconds: float
    latencies_ms: array[float]

    def pct(self, q: float) -> float:
        if len(self.latencies_ms) < 2:
            return float("nan")
        return statistics.quantiles(self.latencies_ms, n=100)[int(q) - 1]

    def line(self, label: str) -> str:
        return (f"{label}: {self.clients} clients, {self.produced} events in, "
                f"{self.received / self.seconds:,.0f} events/s delivered "
                f"({self.received}/{self.produced * self.clients}), lagged {self.lagged}, "
                f"kafka->client p50 {self.pct(50):.1f} ms, p99 {self.pct(99):.1f} ms")


async def _client(url: str, stop: asyncio.Event, out: dict[str, Any]) -> None:
    async with aiohttp.ClientSession() as session, session.ws_connect(
        url, max_msg_size=0
    ) as ws:
        out["connected"] += 1
        lat: array[float] = out["lat"]
        reader = asyncio.ensure_future(stop.wait())
        while not stop.is_set():
            receive = asyncio.ensure_future(ws.receive())
            done, _ = await asyncio.wait({receive, reader}, return_when=asyncio.FIRST_COMPLETED)
            if receive not in done:
                receive.cancel()
                break
            msg = receive.result()
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            now = time.time() * 1000
            frame = json.loads(msg.data)
            kind = frame["type"]
            events = frame["events"] if kind == "batch" else [frame] if kind == "event" else []
            if kind == "lagged":
                out["lagged"] += frame["missed"]
            for e in events:
                lat.append(now - e["kafka_timestamp_ms"])
            out["events"] += len(events)


def _process(url: str, n: int, conn: Any) -> None:
    async def main() -> None:
        stop = asyncio.Event()
        out: dict[str, Any] = {"connected": 0, "events": 0, "lagged": 0, "lat": array("d")}
        tasks = [asyncio.create_task(_client(url, stop, out)) for _ in range(n)]
        while out["connected"] < n:
            await asyncio.sleep(0.05)
        conn.send("ready")
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, conn.recv)  # "stop"
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        conn.send((out["events"], out["lagged"], out["lat"].tobytes()))

    asyncio.run(main())


def run_clients(url: str, clients: int, processes: int, produce: Any,
                settle_seconds: float = 2.0) -> FanoutResult:
    """Connect ``clients`` clients, call ``produce()`` (returns events produced),
    wait ``settle_seconds`` for the tail to arrive, and collect the results."""
    ctx = mp.get_context("spawn")
    pipes, procs = [], []
    per = [clients // processes + (i < clients % processes) for i in range(processes)]
    for n in per:
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_process, args=(url, n, child), daemon=True)
        proc.start()
        pipes.append(parent)
        procs.append(proc)
    for pipe in pipes:
        if not pipe.poll(60):
            raise RuntimeError("fan-out clients did not connect within 60 s")
        pipe.recv()
    start = time.perf_counter()
    produced = produce()
    time.sleep(settle_seconds)  # a benchmark, not a test: let in-flight frames land
    seconds = time.perf_counter() - start
    received = lagged = 0
    latencies = array("d")
    for pipe in pipes:
        pipe.send("stop")
    for pipe, proc in zip(pipes, procs, strict=True):
        events, lag, raw = pipe.recv()
        received += events
        lagged += lag
        latencies.frombytes(raw)
        proc.join(timeout=30)
    return FanoutResult(clients, produced, received, lagged, seconds, latencies)
