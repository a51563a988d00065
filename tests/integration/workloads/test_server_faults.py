"""Faults against the real servers: undecodable records to the DLQ, injected sequence
anomalies, and a client that stops reading while another keeps up."""

from __future__ import annotations

import json
import statistics
import urllib.request
from collections.abc import Callable
from typing import Any

from dashstream_workloads.contract import PROMETHEUS_EXPORTER, QUALITY_MONITOR, WEBSOCKET_SERVER
from dashstream_workloads.proto.dashstream_pb2 import DashStreamMessage
from dashstream_workloads.wire import SCHEMA_VERSION, DecodeError, decode, encode
from integration.workloads.clients import StalledClient, WsClient
from integration.workloads.kafka_io import produce_raw, read_all
from integration.workloads.servers import ServerProc
from support.wait import wait_until

StartServer = Callable[..., ServerProc]
MAX_PAYLOAD = 4096


def quality(sequence: int, *, schema_version: int = SCHEMA_VERSION, model: str = "m") -> bytes:
    msg = DashStreamMessage()
    msg.header.thread_id = "faults"
    msg.header.sequence = sequence
    msg.header.schema_version = schema_version
    msg.quality.model = model
    msg.quality.quality_score = 0.9
    msg.quality.passed = True
    return encode(msg, compress_threshold=None)


def error_type(frame: bytes) -> str | None:
    try:
        decode(frame, MAX_PAYLOAD)
    except DecodeError as exc:
        return exc.error_type
    return None


def test_undecodable_records_go_to_the_dlq(
    servers: StartServer, topic_pair: tuple[str, str], kafka_bootstrap: str
) -> None:
    events_topic, dlq_topic = topic_pair
    # Produced before the servers start: "old data", counted apart from new errors.
    old_garbage = b"\x00\xff\xff\xff\xff old producer"
    produce_raw(kafka_bootstrap, events_topic, [old_garbage])
    env = {"WEBSOCKET_MAX_PAYLOAD_BYTES": str(MAX_PAYLOAD)}
    ws = servers(WEBSOCKET_SERVER, env)
    exporter = servers(PROMETHEUS_EXPORTER)
    wait_until(lambda: ws.value("websocket_kafka_messages_total", status="old_data_error") == 1,
               timeout=30, what="old garbage seen")
    bad = {
        "invalid_protobuf": b"\x00\xff\xff\xff\xff not protobuf",
        "payload_too_large": quality(2, model="x" * (2 * MAX_PAYLOAD)),
        "schema_version_mismatch": quality(3, schema_version=SCHEMA_VERSION + 1),
        "buffer_underflow": quality(4, model="truncated-model-name")[:-6],
    }
    for expected, frame in bad.items():
        assert error_type(frame) == expected  # the test inputs are what they claim
    produce_raw(kafka_bootstrap, events_topic, [*bad.values(), quality(5)])

    wait_until(lambda: ws.value("websocket_dlq_sends_total") == 5, timeout=30, what="DLQ sends")
    dlq = read_all(kafka_bootstrap, dlq_topic)
    source = {r.offset: r.value for r in read_all(kafka_bootstrap, events_topic)}
    by_type = {r.headers["error_type"]: r for r in dlq}
    assert sorted(by_type) == sorted([*bad, "invalid_protobuf"][:4]) and len(dlq) == 5
    for expected, frame in bad.items():
        rec = next(r for r in dlq if r.value == frame)
        assert rec.headers["error_type"] == expected
        assert rec.headers["source_topic"] == events_topic
        assert source[int(rec.headers["source_offset"])] == frame  # the record, unchanged
        assert ws.value("websocket_dlq_sends_total", error_type=expected) >= 1
        assert ws.value("websocket_decode_errors_total", error_type=expected) >= 1
    assert ws.value("websocket_decode_errors_total", error_type="invalid_protobuf") == 2
    assert ws.value("websocket_kafka_messages_total", status="error") == 4
    assert ws.value("websocket_kafka_messages_total", status="old_data_error") == 1
    assert ws.value("websocket_old_data_decode_errors_total") == 1
    assert ws.value("websocket_kafka_messages_total", status="success") == 1
    assert ws.value("websocket_dlq_send_failures_total") == 0
    # The exporter saw the same stream. Its payload limit is the codec's default
    # (10 MiB), so the frame too large for this websocket-server is a query to it.
    wait_until(lambda: exporter.value("dashstream_exporter_messages_received_total") == 6,
               timeout=30, what="exporter received all")
    assert exporter.value("dashstream_exporter_messages_failed_total", error_type="decode") == 4
    assert exporter.value("dashstream_quality_monitor_queries_total") == 2


def inject(monitor: ServerProc, kind: str) -> dict[str, Any]:
    req = urllib.request.Request(f"{monitor.base}/admin/inject?kind={kind}", method="POST")
    with urllib.request.urlopen(req, timeout=40) as resp:
        result: dict[str, Any] = json.loads(resp.read())
        return result


def test_injected_gap_duplicate_reorder_counted_once(servers: StartServer) -> None:
    ws = servers(WEBSOCKET_SERVER)
    viewer = WsClient(f"ws://127.0.0.1:{ws.port}/ws")
    assert viewer.connected.wait(10)
    monitor = servers(QUALITY_MONITOR, {"QUALITY_MONITOR_RATE": "100"}, args=("--fault-injection",))
    wait_until(lambda: ws.value("websocket_kafka_messages_total", status="success") >= 100,
               timeout=30, what="events flowing")
    injected = {kind: inject(monitor, kind) for kind in ("gap", "duplicate", "reorder")}
    names = {"gap": "dashstream_sequence_gaps_total",
             "duplicate": "dashstream_sequence_duplicates_total",
             "reorder": "dashstream_sequence_reorders_total"}

    def settled() -> bool:
        counts = {k: ws.value(n) for k, n in names.items()}
        return all(v >= 1 for v in counts.values()) and ws.health()["sequence"]["pending"] == 0

    _, waited = wait_until(settled, timeout=60, what="all three anomalies detected")
    # Let plenty more traffic through: a late double count would show up here.
    mark = ws.value("websocket_kafka_messages_total", status="success")
    wait_until(lambda: ws.value("websocket_kafka_messages_total", status="success") >= mark + 300,
               timeout=30, what="more traffic")
    assert {k: ws.value(n) for k, n in names.items()} == {"gap": 1, "duplicate": 1, "reorder": 1}
    anomalies = {(a["kind"], a["thread_id"], a["sequence"]) for a in viewer.snapshot().anomalies}
    assert anomalies == {(k, v["thread_id"], v["sequence"]) for k, v in injected.items()}
    print(f"gap, duplicate and reorder each counted once (settled {waited:.1f}s after injection)")
    viewer.close()


def _latencies(got: Any, start: int, end: int) -> list[float]:
    return [got.arrival_ms[i] - got.events[i]["kafka_timestamp_ms"] for i in range(start, end)]


def _pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def test_stalled_client_does_not_delay_another(servers: StartServer) -> None:
    # The default queue (1000 events, half a second at this rate) absorbs the
    # test client's own pauses; the stalled client overflows it regardless.
    ws = servers(WEBSOCKET_SERVER, {"WEBSOCKET_CLIENT_QUEUE_SIZE": "1000"})
    reader = WsClient(f"ws://127.0.0.1:{ws.port}/ws")
    assert reader.connected.wait(10)
    servers(QUALITY_MONITOR, {"QUALITY_MONITOR_RATE": "2000"})
    wait_until(lambda: len(reader.snapshot().events) >= 3000, timeout=60, what="baseline")
    baseline_end = len(reader.snapshot().events)

    stalled = StalledClient("127.0.0.1", ws.port)
    wait_until(lambda: ws.value("websocket_dropped_messages_total", reason="lagged_receiver") > 0,
               timeout=120, what="the stalled client's queue overflowing")
    stall_start = len(reader.snapshot().events)
    wait_until(lambda: len(reader.snapshot().events) >= stall_start + 3000, timeout=60,
               what="events while a client is stalled")
    got = reader.snapshot()
    before = _latencies(got, 1000, baseline_end)
    during = _latencies(got, stall_start, len(got.events))
    dropped = ws.value("websocket_dropped_messages_total", reason="lagged_receiver")
    print(f"stalled client overflowed {stall_start - baseline_end} events after it connected; "
          f"reader lagged notices: {got.lagged}")
    print(f"reader latency kafka->client without a stalled peer: p50 {_pct(before, 50):.1f} ms, "
          f"p99 {_pct(before, 99):.1f} ms; with one: p50 {_pct(during, 50):.1f} ms, "
          f"p99 {_pct(during, 99):.1f} ms; stalled client lost {dropped:.0f} events")
    # The reader lost nothing: no lagged notice, and no hole in any partition's offsets.
    assert got.lagged == 0
    per_partition: dict[int, list[int]] = {}
    for e in got.events:
        per_partition.setdefault(e["partition"], []).append(e["offset"])
    for offs in per_partition.values():
        assert offs == list(range(offs[0], offs[0] + len(offs)))
    assert ws.value("websocket_client_lag_events_total") >= 1
    assert ws.value("websocket_connected_clients") == 2
    stalled.close()
    reader.close()
