"""websocket-server replicas against the real broker: every replica streams every event
to its viewers, and the pipeline's consumer group shares out the counting and the
dead-lettering, so N replicas count and dead-letter each record exactly once."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from functools import partial
from pathlib import Path
from typing import Any

import yaml

from dashstream_workloads.contract import PROMETHEUS_EXPORTER, QUALITY_MONITOR, WEBSOCKET_SERVER
from integration.workloads.clients import WsClient
from integration.workloads.kafka_io import produce_raw, read_all
from integration.workloads.servers import ServerProc
from support.scenario import injected_gap_fires_alert, prom_query, start_prometheus
from support.wait import wait_until

StartServer = Callable[..., ServerProc]
N_EVENTS = 300
REPLICAS = 3
RULES_DIR = Path(__file__).resolve().parents[3] / "alert-rules"
#: alerts on the generated data's quality, not on the servers
QUALITY_TARGETS = {"QualitySuccessRateLow", "QualityScoreLow", "QualityRetriesHigh"}


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


def canonical_rules(path: Path) -> Path:
    """Every always-loaded canonical rule file, as one file for Prometheus."""
    groups = [g for f in sorted(RULES_DIR.glob("*.rules.yaml"))
              for g in yaml.safe_load(f.read_text())["groups"]]
    path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    return path


def firing(prom_port: int, rules: Path) -> dict[str, list[dict[str, str]]]:
    """Each alert whose expression returns series now, with those series' labels."""
    out = {}
    for g in yaml.safe_load(rules.read_text())["groups"]:
        for r in g["rules"]:
            if "alert" in r and (found := prom_query(prom_port, r["expr"])):
                out[r["alert"]] = [s["metric"] for s in found]
    return out


def test_two_replicas_of_each_server_count_and_alert_as_one(
    servers: StartServer, topic_pair: tuple[str, str], kafka_bootstrap: str, tmp_path: Path,
    logs_dir: Path,
) -> None:
    """Two replicas of each server. The monitors' thread ids never collide; the exporters
    and the websocket-servers split the partitions, and the sums of their counters equal
    what was produced; a real Prometheus with the canonical rules raises exactly one
    SequenceGapsDetected, for the pipeline (namespace, job), on the one injected gap, and
    no alert an idle or half-counting replica could cause."""
    exporters = [servers(PROMETHEUS_EXPORTER, name=f"prometheus-exporter-{i}") for i in range(2)]
    sockets = [servers(WEBSOCKET_SERVER, name=f"websocket-server-{i}") for i in range(2)]

    def settled() -> bool:
        return all(len(set().union(*(set(r.health()["assigned_partitions"]) for r in group)))
                   == 3 and all(r.health()["assigned_partitions"] for r in group)
                   for group in (exporters, sockets))

    wait_until(settled, timeout=90, what="both groups split the 3 partitions between 2 replicas")
    rules = canonical_rules(tmp_path / "rules.yaml")
    with ExitStack() as stack:
        targets = [(component, r) for component, group in (
            (PROMETHEUS_EXPORTER, exporters), (WEBSOCKET_SERVER, sockets)) for r in group]
        prom = start_prometheus(stack, [scrape_job(c, r) for c, r in targets], rules, logs_dir)
        # Two monitor replicas with the same seed (the worst case: the same random
        # choices) as a Deployment's pods: told apart only by their HOSTNAME.
        env = {"QUALITY_MONITOR_RATE": "40", "QUALITY_MONITOR_MAX_EVENTS": str(N_EVENTS),
               "QUALITY_MONITOR_SEED": "3", "QUALITY_MONITOR_FAULT_INJECTION": "true"}
        monitors = [servers(QUALITY_MONITOR, {**env, "HOSTNAME": f"quality-monitor-{i}"},
                            name=f"quality-monitor-{i}") for i in range(2)]
        injected_gap_fires_alert(prom, rules, monitors[0].base)
        now = firing(prom, rules)
        print(f"expressions true with 2+2 replicas after the gap: {sorted(now)}")
        assert now.get("SequenceGapsDetected") == [
            {"namespace": "replicas", "job": f"p-{WEBSOCKET_SERVER}"}], now
        # The quality targets follow the generator's scores; nothing else may be true,
        # least of all what an idle or half-counting replica would raise.
        assert set(now) - {"SequenceGapsDetected", *QUALITY_TARGETS} == set(), now

    total = N_EVENTS * 2
    wait_until(lambda: all(m.value("dashstream_messages_sent_total") >= N_EVENTS
                           for m in monitors), timeout=60, what="both monitors delivered")

    def summed(group: list[ServerProc], name: str, **labels: str) -> float:
        return sum(r.value(name, **labels) for r in group)

    wait_until(lambda: summed(exporters, "dashstream_quality_monitor_queries_total") >= total
               and summed(sockets, "websocket_kafka_messages_total", status="success") >= total,
               timeout=60, what="both groups counted every event of both monitors")
    per_replica = [e.value("dashstream_quality_monitor_queries_total") for e in exporters]
    anomalies = {name: summed(sockets, name) for name in (
        "dashstream_sequence_gaps_total", "dashstream_sequence_duplicates_total",
        "dashstream_sequence_reorders_total")}
    print(f"{total} events from 2 monitors; exporter replicas counted {per_replica}; "
          f"websocket replicas' sequence anomalies {anomalies}")
    assert sum(per_replica) == total and all(per_replica), per_replica
    assert summed(sockets, "websocket_kafka_messages_total", status="success") == total
    # The injected gap and nothing else: the replicas' threads never collide.
    assert anomalies == {"dashstream_sequence_gaps_total": 1,
                         "dashstream_sequence_duplicates_total": 0,
                         "dashstream_sequence_reorders_total": 0}
    records = read_all(kafka_bootstrap, topic_pair[0])
    threads = [{r.message.header.thread_id for r in records if r.message is not None
                and r.message.header.thread_id.startswith(f"qm-quality-monitor-{i}-")}
               for i in range(2)]
    assert all(threads) and not threads[0] & threads[1], threads
    assert sum(map(len, threads)) == len({r.message.header.thread_id for r in records
                                          if r.message is not None})


def scrape_job(component: str, server: ServerProc) -> dict[str, Any]:
    """One target per scrape config, relabelled to the component's job as a Service's
    endpoints would be (prometheus-operator names the job after the Service)."""
    return {"job_name": f"{component}-{server.port}", "scrape_interval": "1s",
            "static_configs": [{"targets": [f"127.0.0.1:{server.port}"],
                                "labels": {"namespace": "replicas"}}],
            "relabel_configs": [{"target_label": "job", "replacement": f"p-{component}"}]}
