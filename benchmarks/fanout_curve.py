"""WebSocket fan-out curve: clients x input rate, the websocket-server beside a plain
aiohttp broadcast of the same frames, on one fresh 3-partition topic.

For each client count (``BENCH_FANOUT_CLIENTS``, default 100,500,1000; spread over
client processes) the input rate climbs the ladder ``BENCH_FANOUT_RATES`` (events/s)
until the server falls behind. Each step prints delivered/expected, lagged (frames
shed to slow clients) and Kafka->client p50/p99. The *sustainable rate* is the highest
step with p99 <= 100 ms and nothing shed or missing. Last, one stalled client (never
reads) joins 100 readers at a sustainable rate: how much the others' p99 moves.

Figures only; nothing is asserted. The clients run on the same 2 cores as the
servers, so past a few hundred thousand frames/s they, not the server, are the limit.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Callable, Iterator
from typing import Final

from benchmarks._fanout import FanoutResult, run_clients
from benchmarks._kafka import bootstrap, produce_at_rate, temporary_topic
from benchmarks._report import append_section
from benchmarks.workloads import raw_broadcast, websocket_server

__all__ = ["run_benchmark"]

CLIENTS: Final = [int(x) for x in os.environ.get("BENCH_FANOUT_CLIENTS",
                                                 "100,500,1000").split(",")]
RATES: Final = [float(x) for x in os.environ.get("BENCH_FANOUT_RATES",
                                                 "250,500,1000,2000").split(",")]
SECONDS: Final = float(os.environ.get("BENCH_FANOUT_STEP_SECONDS", "8"))
P99_LIMIT_MS: Final = 100.0


SERVERS: Final[dict[str, Callable[[str], contextlib.AbstractContextManager[str]]]] = {
    "websocket-server": websocket_server, "raw aiohttp": raw_broadcast}


def sustainable(r: FanoutResult) -> bool:
    complete = r.received == r.produced * r.clients
    return complete and r.lagged == 0 and r.pct(99) <= P99_LIMIT_MS


def step(url: str, topic: str, clients: int, rate: float) -> FanoutResult:
    return run_clients(url, clients, max(2, clients // 250),
                       lambda: produce_at_rate(bootstrap(), topic, rate, SECONDS))


@contextlib.contextmanager
def stalled_client(url: str) -> Iterator[None]:
    """A WebSocket client that completes the handshake and never reads a byte."""
    host, port = url.split("//")[1].split("/")[0].split(":")
    sock = socket.create_connection((host, int(port)))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.sendall(f"GET /ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                 "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                 "Sec-WebSocket-Version: 13\r\n\r\n".encode())
    try:
        yield
    finally:
        sock.close()


def run_benchmark(record: bool) -> None:
    lines: list[str] = []

    def say(line: str) -> None:
        print(line, flush=True)
        lines.append(f"- {line}")

    best: dict[tuple[str, int], float] = {}
    with temporary_topic(bootstrap(), partitions=3) as topic:
        for clients in CLIENTS:
            for name, server in SERVERS.items():
                with server(topic) as url:
                    for rate in RATES:
                        r = step(url, topic, clients, rate)
                        ok = sustainable(r)
                        say(r.line(f"{name} at {rate:.0f} events/s") +
                            ("" if ok else "  <- falls behind"))
                        if not ok:
                            break
                        best[(name, clients)] = rate
        for clients in CLIENTS:
            ours = best.get(("websocket-server", clients), 0.0)
            raw = best.get(("raw aiohttp", clients), 0.0)
            say(f"sustainable rate (p99 <= {P99_LIMIT_MS:.0f} ms, nothing shed) with {clients} "
                f"clients: websocket-server {ours:.0f} events/s, raw aiohttp {raw:.0f} events/s"
                f" (ladder {', '.join(f'{x:.0f}' for x in RATES)})")
        rate = best.get(("websocket-server", CLIENTS[0]), RATES[0])
        with websocket_server(topic) as url:
            alone = step(url, topic, CLIENTS[0], rate)
            with stalled_client(url):
                beside = step(url, topic, CLIENTS[0], rate)
        say(f"one stalled client beside {CLIENTS[0]} readers at {rate:.0f} events/s: readers' "
            f"p99 {alone.pct(99):.1f} -> {beside.pct(99):.1f} ms "
            f"({beside.pct(99) / alone.pct(99) - 1:+.0%}); frames shed to readers "
            f"{alone.lagged} -> {beside.lagged}")
    if record:
        append_section("WebSocket fan-out curve: clients x rate, sustainable rate", lines)
