"""Workload benchmarks, measured side by side on one fresh topic of the local broker.

1. Raw confluent-kafka ``consume(500)`` drain rate R of N generated events, and
   the prometheus-exporter's ingest rate E of the same N events (the real
   console script, a fresh group); printed with E/R.
2. WebSocket fan-out: 100 clients, events produced at a fixed rate into the
   same topic; kafka->client latency p50/p99 and delivered events/s, for the
   websocket-server and for a plain aiohttp broadcast of the same frames
   (``benchmarks._raw_broadcast``); printed with their ratios.

Figures only; nothing is asserted.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final

from confluent_kafka import Consumer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from benchmarks._fanout import FanoutResult, run_clients
from benchmarks._kafka import bootstrap, drain_rate, fill, produce_at_rate, temporary_topic
from benchmarks._report import append_section

__all__ = ["run_benchmark"]

# 500k events (~90 MB) exceed librdkafka's 64 MiB prefetch queue, so the drain
# includes fetching from the broker, not only reading memory.
EVENTS: Final = int(os.environ.get("BENCH_EVENTS", "500000"))
CLIENTS: Final = 100
CLIENT_PROCESSES: Final = 2
FANOUT_RATE: Final = float(os.environ.get("BENCH_FANOUT_RATE", "200"))
FANOUT_SECONDS: Final = 15.0
ROUNDS: Final = 3
FETCH_BACKOFF_MS: Final = 50
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _sample(port: int, name: str, **labels: str) -> float | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            text = resp.read().decode()
    except OSError:
        return None
    values = [s.value for f in text_string_to_metric_families(text) for s in f.samples
              if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]
    return sum(values) if values else None


def _server(script: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    base = {**os.environ, "KAFKA_BROKERS": bootstrap(), "LOG_LEVEL": "WARNING",
            "METRICS_HOST": "127.0.0.1", "WEBSOCKET_HOST": "127.0.0.1"}
    return subprocess.Popen([str(BIN / script)], env={**base, **env},
                            stdout=subprocess.DEVNULL)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()


def _commit_at_end(topic: str, group: str) -> None:
    """Start ``group`` at the current end of the topic (nothing skipped, no backlog)."""
    c = Consumer({"bootstrap.servers": bootstrap(), "group.id": group})
    try:
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        ends = [TopicPartition(topic, p, c.get_watermark_offsets(
            TopicPartition(topic, p), timeout=10)[1]) for p in parts]
        c.commit(offsets=ends, asynchronous=False)
    finally:
        c.close()


def exporter_rate(topic: str, count: int) -> float:
    port = _free_port()
    group = f"bench-exporter-{topic}-{time.monotonic_ns()}"  # a fresh group: from the start
    proc = _server("dashstream-exporter", {"KAFKA_TOPIC": topic, "METRICS_PORT": str(port),
                                           "KAFKA_GROUP_ID": group})
    try:
        first_at, first_count = 0.0, 0.0
        while True:
            received = _sample(port, "dashstream_exporter_messages_received_total") or 0.0
            if received and not first_at:
                first_at, first_count = time.time(), received
            if received >= count:
                break
            if proc.poll() is not None:
                raise RuntimeError("the exporter exited")
            time.sleep(0.1)
        last = _sample(port, "dashstream_exporter_last_event_timestamp_seconds") or time.time()
        return (count - first_count) / (last - first_at)
    finally:
        _stop(proc)


def _wait_until(check: Callable[[], object], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError("server not ready")
        time.sleep(0.1)


@contextlib.contextmanager
def websocket_server(topic: str) -> Iterator[str]:
    """A websocket-server on ``topic`` reading from its current end; yields its /ws URL."""
    port, group = _free_port(), f"bench-ws-{topic}-{time.monotonic_ns()}"
    _commit_at_end(topic, group)
    proc = _server("dashstream-websocket-server", {
        "KAFKA_TOPIC": topic, "WEBSOCKET_PORT": str(port), "KAFKA_GROUP_ID": group,
        "KAFKA_LAG_CHECK_INTERVAL_SECS": "0.5", "WEBSOCKET_DLQ_ENABLED": "false"})
    try:
        # Reading every partition: the broadcast reader's lag series exist.
        _wait_until(lambda: _sample(port, "websocket_broadcast_lag") is not None)
        yield f"ws://127.0.0.1:{port}/ws"
    finally:
        _stop(proc)


@contextlib.contextmanager
def raw_broadcast(topic: str) -> Iterator[str]:
    """The plain aiohttp broadcast of the same frames; yields its /ws URL."""
    port, group = _free_port(), f"bench-raw-{topic}-{time.monotonic_ns()}"
    _commit_at_end(topic, group)
    proc = subprocess.Popen([sys.executable, "-m", "benchmarks._raw_broadcast", str(port),
                             topic, group], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            env={**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap()})
    try:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != b"ready":  # printed once partitions are assigned
            raise RuntimeError("raw broadcast server failed to start")
        yield f"ws://127.0.0.1:{port}/ws"
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=30)


def fanout(server: Callable[[str], contextlib.AbstractContextManager[str]],
           topic: str) -> FanoutResult:
    with server(topic) as url:
        return run_clients(url, CLIENTS, CLIENT_PROCESSES,
                           lambda: produce_at_rate(bootstrap(), topic, FANOUT_RATE,
                                                   FANOUT_SECONDS))


def run_benchmark(record: bool) -> None:
    servers = bootstrap()
    lines: list[str] = []

    def say(line: str) -> None:
        print(line, flush=True)
        lines.append(f"- {line}")

    with temporary_topic(servers, partitions=3) as topic:
        size = fill(servers, topic, EVENTS)
        say(f"topic {topic}: 3 partitions, {EVENTS} quality events, "
            f"{size / EVENTS:.0f} bytes/event on average")
        # Alternated, three rounds: this 2-core machine's background work (a namespace
        # being garbage-collected, a compaction) moves either figure by tens of
        # percent; the ratio of the medians is what to compare across runs.
        # The servers' consumers set fetch.queue.backoff.ms (common/kafka.py); the raw
        # loop is measured with librdkafka's defaults and with that setting too.
        tuned = {"fetch.queue.backoff.ms": FETCH_BACKOFF_MS}
        raws: list[float] = []
        tuned_raws: list[float] = []
        ingests: list[float] = []
        for _ in range(ROUNDS):
            raws.append(drain_rate(servers, topic, EVENTS))
            tuned_raws.append(drain_rate(servers, topic, EVENTS, tuned))
            ingests.append(exporter_rate(topic, EVENTS))
        raw, tuned_raw = statistics.median(raws), statistics.median(tuned_raws)
        ingest = statistics.median(ingests)

        def rates(xs: list[float]) -> str:
            return " / ".join(f"{x:,.0f}" for x in xs)

        say(f"raw confluent-kafka consume(500), librdkafka defaults: {rates(raws)} events/s; "
            f"with fetch.queue.backoff.ms={FETCH_BACKOFF_MS}: {rates(tuned_raws)} events/s; "
            f"prometheus-exporter ingest: {rates(ingests)} events/s (alternated); exporter / "
            f"raw of the medians = {ingest / raw:.2f} (defaults), {ingest / tuned_raw:.2f} "
            f"(same fetch setting)")
        ours = fanout(websocket_server, topic)
        say(ours.line(f"websocket-server fan-out at {FANOUT_RATE:.0f} events/s"))
        base = fanout(raw_broadcast, topic)
        say(base.line(f"raw aiohttp broadcast at {FANOUT_RATE:.0f} events/s"))
        say(f"websocket-server / raw broadcast: p50 {ours.pct(50) / base.pct(50):.2f}x, "
            f"p99 {ours.pct(99) / base.pct(99):.2f}x, delivered events/s "
            f"{(ours.received / ours.seconds) / (base.received / base.seconds):.2f}x")
    if record:
        append_section("Workloads: consume, exporter ingest, WebSocket fan-out", lines)
