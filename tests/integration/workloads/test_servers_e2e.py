"""All three servers as processes on a fresh topic pair: monitor -> Kafka -> exporter and
WebSocket clients; the scrape contract; replay from memory and Redis; restarts; auth."""

from __future__ import annotations

import os
import signal
from collections import Counter
from collections.abc import Callable
from functools import partial
from typing import Any

from dashstream_workloads.contract import PROMETHEUS_EXPORTER, QUALITY_MONITOR, WEBSOCKET_SERVER
from integration.workloads.clients import WsClient
from integration.workloads.kafka_io import (
    Record,
    assert_contract,
    committed_total,
    read_all,
    tally,
    total_records,
)
from integration.workloads.servers import ServerProc
from support.wait import wait_until

StartServer = Callable[..., ServerProc]
N_EVENTS = 600


def ws_url(server: ServerProc, query: str = "") -> str:
    return f"ws://127.0.0.1:{server.port}/ws{query}"


def exporter_tally(server: ServerProc) -> Counter[str]:
    """The exporter's counters in the shape of kafka_io.tally()."""
    counts: Counter[str] = Counter()
    for family in server.metrics().values():
        for s in family.samples:
            if s.name == "dashstream_quality_monitor_queries_total":
                counts["queries"] += int(s.value)
            elif s.name == "dashstream_quality_monitor_queries_passed_total":
                counts["passed"] += int(s.value)
            elif s.name == "dashstream_quality_monitor_queries_failed_total":
                counts[f"failed:{s.labels['category']}"] += int(s.value)
            elif s.name == "dashstream_queries_by_model_total":
                counts[f"model:{s.labels['model']}"] += int(s.value)
    return +counts  # drop zeros


def stopped_totals(server: ServerProc) -> Counter[str]:
    """What a stopped exporter counted in its run (its last log line says so)."""
    for record in reversed(server.log_records()):
        if record.get("msg") == "exporter stopped":
            return Counter(record["totals"])
    raise AssertionError(f"no 'exporter stopped' line in {server.log_path}")


def exports_contract(server: ServerProc, component: str) -> bool:
    """One scrape meets the component's contract (assert_contract raises until it does)."""
    assert_contract(server.metrics_text(), component)
    return True


def hello_frame(client: WsClient) -> dict[str, Any] | None:
    return client.snapshot().hello


def kafka_problem(server: ServerProc) -> dict[str, Any] | None:
    """The health document once it names a Kafka error."""
    health = server.health()
    return health if health["kafka"]["last_error"] else None


def cursor_text(cursor: dict[int, int]) -> str:
    return ",".join(f"{p}:{o}" for p, o in sorted(cursor.items()))


def offsets(events: list[dict[str, Any]]) -> list[tuple[int, int]]:
    return sorted((e["partition"], e["offset"]) for e in events)


def test_events_flow_to_exporter_and_clients(
    servers: StartServer, topic_pair: tuple[str, str], kafka_bootstrap: str, redis_url: str
) -> None:
    events_topic, _ = topic_pair
    ws = servers(WEBSOCKET_SERVER, {"REDIS_URL": redis_url})
    exporter = servers(PROMETHEUS_EXPORTER)
    live = WsClient(ws_url(ws))
    assert live.connected.wait(10) and live.error is None, live.error
    monitor = servers(QUALITY_MONITOR, {"QUALITY_MONITOR_RATE": "300",
                                        "QUALITY_MONITOR_MAX_EVENTS": str(N_EVENTS),
                                        "QUALITY_MONITOR_SEED": "5"})
    wait_until(lambda: monitor.value("dashstream_messages_sent_total") >= N_EVENTS,
               timeout=60, what="monitor delivered all events")
    records = read_all(kafka_bootstrap, events_topic)
    assert len(records) == N_EVENTS and all(r.message is not None for r in records)
    truth = tally(records)

    # The exporter counted exactly what is in the topic, by model and by category.
    _, waited = wait_until(lambda: exporter_tally(exporter)["queries"] >= N_EVENTS,
                           timeout=60, what="exporter caught up")
    assert exporter_tally(exporter) == truth
    print(f"exporter caught up {waited:.1f}s after delivery: {dict(sorted(truth.items()))}")

    # The live client got every event once, each thread in sequence order.
    wait_until(lambda: len(live.snapshot().events) >= N_EVENTS, timeout=30, what="live client")
    got = live.snapshot()
    assert offsets(got.events) == sorted((r.partition, r.offset) for r in records)
    by_thread: dict[str, list[int]] = {}
    for e in got.events:
        by_thread.setdefault(e["header"]["thread_id"], []).append(e["header"]["sequence"])
    assert all(seqs == list(range(1, len(seqs) + 1)) for seqs in by_thread.values())
    assert got.lagged == 0 and got.anomalies == []
    assert ws.value("websocket_kafka_messages_total", status="success") == N_EVENTS
    for name in ("dashstream_sequence_gaps_total", "dashstream_sequence_duplicates_total",
                 "dashstream_sequence_reorders_total", "websocket_dlq_sends_total"):
        assert ws.value(name) == 0, name
    assert ws.value("websocket_e2e_latency_ms_count", stage="kafka_to_websocket") == N_EVENTS

    # Every scrape: one family per name, only contract metrics, all of them present.
    for server, component in ((ws, WEBSOCKET_SERVER), (exporter, PROMETHEUS_EXPORTER),
                              (monitor, QUALITY_MONITOR)):
        wait_until(partial(exports_contract, server, component),
                   timeout=20, what=f"{component} exports its whole contract")

    _check_replay(ws, records, servers, redis_url)
    live.close()


def _check_replay(ws: ServerProc, records: list[Record], servers: StartServer,
                  redis_url: str) -> None:
    # Resume from the middle of each partition: the rest comes from memory...
    cursor = {}
    for p in {r.partition for r in records}:
        offs = sorted(r.offset for r in records if r.partition == p)
        cursor[p] = offs[len(offs) // 2]
    expected = sorted((r.partition, r.offset) for r in records if r.offset > cursor[r.partition])
    resumed = WsClient(ws_url(ws, f"?since={cursor_text(cursor)}"))
    wait_until(lambda: len(resumed.snapshot().events) >= len(expected), timeout=20,
               what="replay from memory")
    got = resumed.snapshot()
    assert got.hello is not None and got.hello["replay"]["source"] == "memory"
    assert offsets(got.events) == expected
    resumed.close()
    assert ws.value("replay_buffer_memory_hits_total") == 1

    # ...and after a restart (empty memory) the same cursor is served from Redis.
    assert ws.stop() == 0
    ws2 = servers(WEBSOCKET_SERVER, {"REDIS_URL": redis_url}, name="websocket-server-2")
    again = WsClient(ws_url(ws2, f"?since={cursor_text(cursor)}"))
    wait_until(lambda: len(again.snapshot().events) >= len(expected), timeout=20,
               what="replay from redis")
    got = again.snapshot()
    assert got.hello is not None and got.hello["replay"] == {
        "source": "redis", "complete": True, "events": len(expected)}
    assert offsets(got.events) == expected
    again.close()
    assert ws2.value("replay_buffer_redis_hits_total") == 1
    assert ws2.value("dashstream_websocket_redis_latency_ms_count", operation="read") >= 1
    print(f"replayed {len(expected)} events from memory, then from Redis after a restart")


def test_exporter_restart_mid_stream_loses_no_event(
    servers: StartServer, topic_pair: tuple[str, str], kafka_bootstrap: str
) -> None:
    events_topic, _ = topic_pair
    monitor = servers(QUALITY_MONITOR, {"QUALITY_MONITOR_RATE": "200"})
    first = servers(PROMETHEUS_EXPORTER, name="exporter-1")
    wait_until(lambda: exporter_tally(first)["queries"] >= 200, timeout=60, what="exporter-1")
    assert first.stop() == 0  # SIGTERM mid-stream: finish the batch, commit, exit
    counted_first = stopped_totals(first)
    group = first.env["KAFKA_GROUP_ID"]
    # It committed exactly what it counted: the next run starts right after.
    assert committed_total(kafka_bootstrap, events_topic, group) == counted_first["queries"]

    second = servers(PROMETHEUS_EXPORTER, name="exporter-2")
    wait_until(lambda: exporter_tally(second)["queries"] >= 200, timeout=60, what="exporter-2")
    assert monitor.stop() == 0  # flushes its producer
    produced = total_records(kafka_bootstrap, events_topic)
    wait_until(lambda: counted_first["queries"] + exporter_tally(second)["queries"] >= produced,
               timeout=60, what="exporter-2 caught up")
    combined = counted_first + exporter_tally(second)
    truth = tally(read_all(kafka_bootstrap, events_topic))
    print(f"produced {produced}; exporter-1 counted {counted_first['queries']}, exporter-2 "
          f"{combined['queries'] - counted_first['queries']}; duplicates "
          f"{combined['queries'] - produced}")
    assert combined == truth


def test_exporter_crash_redelivers_at_least_once(
    servers: StartServer, topic_pair: tuple[str, str], kafka_bootstrap: str
) -> None:
    events_topic, _ = topic_pair
    monitor = servers(QUALITY_MONITOR, {"QUALITY_MONITOR_RATE": "200"})
    first = servers(PROMETHEUS_EXPORTER, {"KAFKA_SESSION_TIMEOUT_MS": "6000"}, name="exporter-1")
    wait_until(lambda: exporter_tally(first)["queries"] >= 300, timeout=60, what="exporter-1")
    # Pause the producer so "processed" can be read exactly, then crash the exporter.
    os.kill(monitor.proc.pid, signal.SIGSTOP)
    try:
        so_far = total_records(kafka_bootstrap, events_topic)
        wait_until(lambda: exporter_tally(first)["queries"] == so_far, timeout=30,
                   what="exporter-1 caught up")
        processed = exporter_tally(first)["queries"]
        first.kill()  # SIGKILL: no final commit
    finally:
        os.kill(monitor.proc.pid, signal.SIGCONT)
    committed = committed_total(kafka_bootstrap, events_topic, first.env["KAFKA_GROUP_ID"])
    assert committed <= processed, "an offset was committed before its record was processed"

    # The broker hands the dead member's partitions over only after its session
    # times out (KAFKA_SESSION_TIMEOUT_MS: 6 s here, 45 s by default).
    second = servers(PROMETHEUS_EXPORTER, name="exporter-2")
    wait_until(lambda: exporter_tally(second)["queries"] > processed - committed, timeout=120,
               what="exporter-2 consuming")
    assert monitor.stop() == 0
    produced = total_records(kafka_bootstrap, events_topic)
    wait_until(lambda: exporter_tally(second)["queries"] >= produced - committed, timeout=60,
               what="exporter-2 caught up")
    counted_second = exporter_tally(second)["queries"]
    print(f"crash after {processed} processed, {committed} committed: exporter-2 re-counted "
          f"{processed - committed} (at-least-once), total {processed + counted_second} "
          f"for {produced} produced")
    assert counted_second == produced - committed  # resumed exactly at the committed offsets
    assert processed + counted_second >= produced  # nothing lost


def test_websocket_bearer_token(servers: StartServer) -> None:
    token = "t0ken-for-tests-only"
    ws = servers(WEBSOCKET_SERVER, {"WEBSOCKET_AUTH_TOKEN": token})
    for client, expected in (
        (WsClient(ws_url(ws)), 401),
        (WsClient(ws_url(ws), {"Authorization": "Bearer wrong"}), 401),
        (WsClient(ws_url(ws, "?token=wrong")), 401),
        (WsClient(ws_url(ws), {"Authorization": f"Bearer {token}"}), None),
        (WsClient(ws_url(ws, f"?token={token}")), None),
    ):
        assert client.connected.wait(10)
        if expected is None:
            wait_until(partial(hello_frame, client), timeout=10, what="hello frame")
        else:
            assert client.status == expected
        client.close()
    # Only /ws is protected; the token never reaches the logs.
    assert ws.get("/metrics")[0] == 200 and ws.get("/version")[0] == 200
    assert ws.health()["http_status"] in (200, 503)
    assert token not in ws.log_path.read_text()


def test_missing_topic_is_reported_unhealthy(servers: StartServer) -> None:
    """Topic auto-creation is off: a wrong KAFKA_TOPIC must not look healthy."""
    env = {"KAFKA_TOPIC": "no-such-topic-dashstream-tests"}
    for component in (WEBSOCKET_SERVER, PROMETHEUS_EXPORTER, QUALITY_MONITOR):
        server = servers(component, env)
        health, _ = wait_until(partial(kafka_problem, server),
                               timeout=30, what=f"{component} health names the problem")
        assert health["http_status"] == 503 and health["status"] == "degraded"
        assert "no-such-topic-dashstream-tests" in health["kafka"]["last_error"]


def lag_partitions(server: ServerProc) -> set[int]:
    family = server.metrics().get("websocket_kafka_consumer_lag")
    return {int(s.labels["partition"]) for s in family.samples} if family else set()


def test_lag_series_follow_the_assignment(servers: StartServer) -> None:
    """Two servers in one group split the partitions: each exports lag for its own
    only, and the first drops the series of the partitions it lost, so a revoked
    partition's frozen lag cannot look stale and fire a false alert."""
    servers(QUALITY_MONITOR, {"QUALITY_MONITOR_RATE": "50"})
    first = servers(WEBSOCKET_SERVER, name="websocket-server-1")
    wait_until(lambda: lag_partitions(first) == {0, 1, 2}, timeout=30, what="all three")
    second = servers(WEBSOCKET_SERVER, {"KAFKA_GROUP_ID": first.env["KAFKA_GROUP_ID"]},
                     name="websocket-server-2")

    def split() -> tuple[set[int], set[int]] | None:
        mine = set(first.health()["assigned_partitions"])
        theirs = set(second.health()["assigned_partitions"])
        if not mine or not theirs or mine | theirs != {0, 1, 2} or mine & theirs:
            return None
        if lag_partitions(first) != mine or lag_partitions(second) != theirs:
            return None
        return mine, theirs

    (mine, theirs), waited = wait_until(split, timeout=90, what="rebalanced lag series")
    print(f"after the rebalance ({waited:.1f}s): server 1 reports {sorted(mine)}, "
          f"server 2 {sorted(theirs)}")
