"""websocket-server replicas against the real broker: every replica streams every event
to its viewers, and the pipeline's consumer group shares out the counting and the
dead-lettering, so N replicas count and dead-letter each record exactly once."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from dashstream_workloads.contract import PROMETHEUS_EXPORTER, QUALITY_MONITOR, WEBSOCKET_SERVER
from integration.workloads.clients import WsClient
from integration.workloads.kafka_io import produce_raw, read_all
from integration.workloads.servers import ServerProc
from support.wait import wait_until

StartServer = Callable[..., ServerProc]
N_EVENTS = 300
REPLICAS = 3


def shares(replicas: list[ServerProc]) -> list[set[int]] | None:
    """Each replica's share of the group once the group is settled: disjoint, together
    every partition, none empty; and every replica's broadcast reader on every one."""
    healths = [r.health() for r in replicas]
    duty = [set(h["assigned_partitions"]) for h in healths]
    if any(set(h["broadcast_partitions"]) != {0, 1, 2} for h in healths):
        return None
    if not all(duty) or set().union(*duty) != {0, 1, 2} or sum(map(len, duty)) != 3:
        return None
    return duty


def broadcast_lag(server: ServerProc) -> dict[str, float]:
    family = server.metrics().get("websocket_broadcast_lag")
    return {s.labels["partition"]: s.value for s in family.samples} if family else {}


def by_partition(events: list[dict[str, Any]]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for e in events:
        out.setdefault(e["partition"], []).append(e["offset"])
    return out


def test_every_replica_streams_every_event_and_duties_are_done_once(
    servers: StartServer, topic_pair: tuple[str, str], kafka_bootstrap: str
) -> None:
    events_topic, dlq_topic = topic_pair
    # Same KAFKA_GROUP_ID for all (the fixture's per-component group), as a Deployment's pods.
    replicas = [servers(WEBSOCKET_SERVER, name=f"websocket-server-{i}") for i in range(REPLICAS)]
    clients = [WsClient(f"ws://127.0.0.1:{r.port}/ws") for r in replicas]
    for c in clients:
        assert c.connected.wait(10) and c.error is None, c.error
    duty, waited = wait_until(lambda: shares(replicas), timeout=90,
                              what="the group settled and every reader on every partition")
    print(f"group settled after {waited:.1f}s: duty shares {[sorted(d) for d in duty]}")

    garbage = b"\x00\xff\xff\xff\xff not protobuf"
    produce_raw(kafka_bootstrap, events_topic, [garbage], partition=1)
    monitor = servers(QUALITY_MONITOR, {"QUALITY_MONITOR_RATE": "300",
                                        "QUALITY_MONITOR_MAX_EVENTS": str(N_EVENTS),
                                        "QUALITY_MONITOR_SEED": "9"})
    wait_until(lambda: monitor.value("dashstream_messages_sent_total") >= N_EVENTS,
               timeout=60, what="monitor delivered all events")
    records = [r for r in read_all(kafka_bootstrap, events_topic) if r.message is not None]
    assert len(records) == N_EVENTS
    want = by_partition([{"partition": r.partition, "offset": r.offset} for r in records])
    assert len(want) == 3, "the monitor's events did not reach all three partitions"

    def streamed(client: WsClient) -> bool:
        return len(client.snapshot().events) >= N_EVENTS

    for i, client in enumerate(clients):
        wait_until(partial(streamed, client), timeout=60,
                   what=f"replica {i}'s viewer got every event")
        got = client.snapshot()
        assert by_partition(got.events) == want, f"replica {i}: not every event, in order"
        assert got.lagged == 0 and got.anomalies == [], (got.lagged, got.anomalies[:3])
    print(f"{REPLICAS} replicas' viewers each received all {N_EVENTS} events, in offset "
          f"order per partition ({ {p: len(o) for p, o in sorted(want.items())} })")

    def total(name: str, **labels: str) -> float:
        return sum(r.value(name, **labels) for r in replicas)

    wait_until(lambda: total("websocket_kafka_messages_total", status="success") >= N_EVENTS
               and total("websocket_dlq_sends_total") >= 1, timeout=60,
               what="the group's shares counted and dead-lettered")
    counted = total("websocket_kafka_messages_total", status="success")
    errors = total("websocket_kafka_messages_total", status="error")
    dead = read_all(kafka_bootstrap, dlq_topic)
    print(f"counted over replicas: {counted:.0f} decoded, {errors:.0f} undecodable, "
          f"{len(dead)} DLQ record(s)")
    assert counted == N_EVENTS, "a record was counted by more than one replica"
    assert errors == 1 and total("websocket_dlq_sends_total") == 1
    assert [d.value for d in dead] == [garbage], "dead-lettered more (or less) than once"
    # Each reader's own lag, per partition: every replica reports all three, caught up.
    wait_until(lambda: all(broadcast_lag(r) == {"0": 0, "1": 0, "2": 0} for r in replicas),
               timeout=60, what="every replica's broadcast lag 0 on every partition")
    for c in clients:
        c.close()


def test_two_quality_monitor_replicas_never_collide(
    servers: StartServer, topic_pair: tuple[str, str], kafka_bootstrap: str
) -> None:
    """Two replicas with the same seed (the worst case: the same random choices) produce
    disjoint thread and session ids, so the sequence checks see no false gap, duplicate
    or reorder, and the exporter counts every event of both."""
    events_topic, _ = topic_pair
    ws = servers(WEBSOCKET_SERVER)
    exporter = servers(PROMETHEUS_EXPORTER)
    env = {"QUALITY_MONITOR_RATE": "200", "QUALITY_MONITOR_MAX_EVENTS": "150",
           "QUALITY_MONITOR_SEED": "3"}
    monitors = [servers(QUALITY_MONITOR, {**env, "HOSTNAME": f"quality-monitor-{i}"},
                        name=f"quality-monitor-{i}") for i in range(2)]
    wait_until(lambda: all(m.value("dashstream_messages_sent_total") >= 150
                           for m in monitors), timeout=60, what="both monitors delivered")
    records = read_all(kafka_bootstrap, events_topic)
    threads = [{r.message.header.thread_id for r in records if r.message is not None
                and r.message.header.thread_id.startswith(f"qm-quality-monitor-{i}-")}
               for i in range(2)]
    assert all(threads) and not threads[0] & threads[1], threads
    assert sum(map(len, threads)) == len({r.message.header.thread_id for r in records
                                          if r.message is not None})
    wait_until(lambda: ws.value("websocket_kafka_messages_total", status="success") >= 300
               and exporter.value("dashstream_quality_monitor_queries_total") >= 300,
               timeout=60, what="both servers consumed both replicas' events")
    anomalies = {name: ws.value(name) for name in (
        "dashstream_sequence_gaps_total", "dashstream_sequence_duplicates_total",
        "dashstream_sequence_reorders_total")}
    print(f"two replicas, same seed: threads {sorted(map(len, threads))} disjoint; "
          f"300 events; anomalies {anomalies}")
    assert set(anomalies.values()) == {0}
    assert exporter.value("dashstream_quality_monitor_queries_total") == 300
