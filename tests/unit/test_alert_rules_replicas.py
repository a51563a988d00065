"""Every canonical alert gives the same outcome with one replica as with two.

Exporter replicas, and the websocket-server's counting share, split a pipeline's
partitions through one consumer group, so a replica may own none; the
websocket-server's broadcast reader and the quality-monitor run whole in every
replica. Each scenario below states one replica's series and how a second replica
changes them; promtool evaluates three worlds and the alerts must be identical:

* ``one``   - replica A alone;
* ``idle``  - A does everything, B owns no partition (its counters stay 0, its
  timestamps are unset, it has no per-partition series);
* ``split`` - A and B each do half of the group's work, and a per-partition series
  lives on B (it moved in a rebalance).

Annotations are checked by the hand-written promtool tests; here they are stripped
so the expected labels alone decide.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest
import yaml

from unit.test_alert_rules import _alerts, _promtool, _rule_files

Kind = Literal["share", "fresh", "own", "partition"]
MINUTES = 30
NS = "ns"
#: promtool's clock starts at the epoch: a process started at 0 s, timestamps = sample time
START = 0.0
REPLICAS = {"A": "10.0.0.1", "B": "10.0.0.2"}
PORTS = {"websocket-server": 3002, "prometheus-exporter": 9190, "quality-monitor": 8080}


def ramp(per_minute: float, start: float = 0.0) -> list[float]:
    """A counter growing by ``per_minute``."""
    return [start + per_minute * i for i in range(MINUTES + 1)]


def flat(value: float) -> list[float]:
    return [value] * (MINUTES + 1)


def clock(offset: float = 0.0) -> list[float]:
    """A timestamp gauge kept fresh: each sample holds its own time."""
    return [START + 60 * i + offset for i in range(MINUTES + 1)]


@dataclass(frozen=True)
class Series:
    metric: str
    values: list[float]
    kind: Kind
    #: what B holds when it does not share this series (None: no series at all)
    idle: list[float] | None = None


@dataclass(frozen=True)
class Scenario:
    name: str
    alert: str
    component: str
    series: tuple[Series, ...]
    fires: bool
    #: per-replica alerts keep A's target labels; group alerts only namespace and job
    per_replica: bool = False
    extra_labels: dict[str, str] = field(default_factory=dict)
    at: str = "25m"


def _s(metric: str, values: list[float], kind: Kind, idle: list[float] | None = None) -> Series:
    return Series(metric, values, kind, idle)


EX, WS, QM = "prometheus-exporter", "websocket-server", "quality-monitor"
#: alerts on metrics none of the operator's servers export (alert-rules/optional/)
LIBRARY_ONLY = {"HighDLQRate", "DLQSendFailures", "DLQItselfBroken", "DLQBackpressureDrops"}
ZERO = flat(0)
STARTED = flat(START)
_LAST_EVENT = "dashstream_exporter_last_event_timestamp_seconds"
_GAUGES_UPDATED = "dashstream_exporter_gauges_last_update_timestamp_seconds"
_PROCESS_START = "dashstream_exporter_process_start_time_seconds"
SCENARIOS: tuple[Scenario, ...] = (
    Scenario("down replica", "ServiceDown", EX, (_s("up", flat(0), "own", flat(1)),),
             True, per_replica=True),
    Scenario("errors 0.15/s", "ExporterMessageProcessingErrors", EX,
             (_s('dashstream_exporter_messages_failed_total{error_type="decode"}', ramp(9),
                 "share"),),
             True),
    Scenario("events flowing", "ExporterNoRecentEvents", EX,
             (_s(_LAST_EVENT, clock(), "fresh", ZERO),
              _s(_PROCESS_START, STARTED, "fresh", STARTED)),
             False),
    Scenario("no events", "ExporterNoRecentEvents", EX,
             (_s(_LAST_EVENT, ZERO, "fresh", ZERO),
              _s(_PROCESS_START, STARTED, "fresh", STARTED)),
             True),
    Scenario("gauges updated", "ExporterGaugesStale", EX,
             (_s(_GAUGES_UPDATED, clock(), "fresh", ZERO),
              _s(_PROCESS_START, STARTED, "fresh", STARTED)),
             False),
    Scenario("gauges stopped", "ExporterGaugesStale", EX,
             (_s(_GAUGES_UPDATED, flat(START + 60), "fresh",
                 ZERO),
              _s(_PROCESS_START, STARTED, "fresh", STARTED)),
             True),
    Scenario("client errors", "ExporterKafkaConsumerErrors", EX,
             (_s("dashstream_exporter_kafka_consumer_errors_total", ramp(1), "own", ZERO),),
             True, per_replica=True),
    Scenario("client errors 0.2/s", "ExporterKafkaConsumerErrorsCritical", EX,
             (_s("dashstream_exporter_kafka_consumer_errors_total", ramp(12), "own", ZERO),),
             True, per_replica=True),
    Scenario("lag 12k", "ExporterKafkaConsumerLagHigh", EX,
             (_s("dashstream_exporter_kafka_consumer_lag", flat(12_000), "share"),), True),
    Scenario("lag 8k", "ExporterKafkaConsumerLagHigh", EX,
             (_s("dashstream_exporter_kafka_consumer_lag", flat(8_000), "share"),), False),
    Scenario("160 wrong-scope in 15m", "ExporterWrongScopeMessages", EX,
             (_s("dashstream_exporter_messages_wrong_scope_total", ramp(12), "share"),), True),
    Scenario("headerless", "ExporterMissingHeaderMessages", EX,
             (_s("dashstream_exporter_messages_missing_header_total", ramp(2), "share"),), True),
    Scenario("offset store", "ExporterOffsetStoreErrors", EX,
             (_s("dashstream_exporter_offset_store_errors_total", ramp(1), "own", ZERO),),
             True, per_replica=True),
    Scenario("success 80%", "QualitySuccessRateLow", "quality",
             (_s("dashstream_quality_monitor_queries_total", ramp(60), "share"),
              _s("dashstream_quality_monitor_queries_passed_total", ramp(48), "share")), True),
    Scenario("score 0.8", "QualityScoreLow", "quality",
             (_s('dashstream_quality_score_by_model_sum{model="m"}', ramp(48), "share"),
              _s('dashstream_quality_score_by_model_count{model="m"}', ramp(60), "share")), True),
    Scenario("score 0.95, idle gauge 0", "QualityScoreLow", "quality",
             (_s('dashstream_quality_score_by_model_sum{model="m"}', ramp(57), "share"),
              _s('dashstream_quality_score_by_model_count{model="m"}', ramp(60), "share"),
              _s("dashstream_quality_monitor_quality_score", flat(0.95), "fresh", ZERO)), False),
    Scenario("2 retries", "QualityRetriesHigh", "quality",
             (_s("dashstream_quality_retry_count_sum", ramp(120), "share"),
              _s("dashstream_quality_retry_count_count", ramp(60), "share")), True),
    Scenario("producer stopped", "QualityMonitorNotProducing", QM,
             (_s("dashstream_messages_sent_total", flat(500), "own", ramp(60)),),
             True, per_replica=True),
    Scenario("drops", "QualityMonitorTelemetryDropped", QM,
             (_s('dashstream_telemetry_dropped_total{reason="queue_full"}', ramp(1), "own", ZERO),),
             True, per_replica=True),
    Scenario("6% errors", "HighMessageProcessingErrorRate", WS,
             (_s('websocket_kafka_messages_total{status="success"}', ramp(940), "share"),
              _s('websocket_kafka_messages_total{status="error"}', ramp(60), "share")), True),
    Scenario("one gap", "SequenceGapsDetected", WS,
             (_s("dashstream_sequence_gaps_total", [0.0] * 20 + [1.0] * 11, "share"),), True,
             at="22m"),
    Scenario("duplicates 0.15/s", "HighDuplicateRate", WS,
             (_s("dashstream_sequence_duplicates_total", ramp(9), "share"),), True),
    Scenario("reorders 0.15/s", "HighReorderRate", WS,
             (_s("dashstream_sequence_reorders_total", ramp(9), "share"),), True),
    Scenario("DLQ failing", "WebSocketDlqBroken", WS,
             (_s('websocket_dlq_send_failures_total{reason="timeout"}', ramp(2), "share"),), True),
    Scenario("DLQ 0.15/s", "WebSocketDlqHighRate", WS,
             (_s('websocket_dlq_sends_total{error_type="decode"}', ramp(9), "share"),), True),
    Scenario("group lag 12k", "KafkaConsumerLagHigh", WS,
             (_s('websocket_kafka_consumer_lag{partition="0"}', flat(7_000), "partition"),
              _s('websocket_kafka_consumer_lag{partition="1"}', flat(5_000), "share")), True),
    Scenario("group lag 120k", "KafkaConsumerLagCritical", WS,
             (_s('websocket_kafka_consumer_lag{partition="0"}', flat(120_000), "partition"),),
             True),
    Scenario("one replica's broadcast 12k behind", "WebSocketBroadcastLagHigh", WS,
             (_s('websocket_broadcast_lag{partition="0"}', flat(12_000), "own", flat(0)),),
             True, per_replica=True),
    Scenario("stuck partition", "KafkaPartitionStale", WS,
             (_s('websocket_kafka_lag_offset_age_seconds{partition="0"}', flat(150), "partition"),
              _s('websocket_kafka_consumer_lag{partition="0"}', flat(50), "partition")),
             True, per_replica=True, extra_labels={"partition": "0"}),
    Scenario("stuck partition 6m", "KafkaPartitionStaleCritical", WS,
             (_s('websocket_kafka_lag_offset_age_seconds{partition="0"}', flat(400), "partition"),
              _s('websocket_kafka_consumer_lag{partition="0"}', flat(50), "partition")),
             True, per_replica=True, extra_labels={"partition": "0"}),
    Scenario("watermarks failing", "KafkaLagMonitorFailing", WS,
             (_s("websocket_kafka_lag_poll_failures_total", ramp(1), "own", ZERO),),
             True, per_replica=True),
    Scenario("infra errors", "WebSocketInfrastructureErrors", WS,
             (_s("websocket_infrastructure_errors_total", ramp(1), "own", ZERO),),
             True, per_replica=True),
    Scenario("infra errors 0.2/s", "WebSocketInfrastructureErrorsCritical", WS,
             (_s("websocket_infrastructure_errors_total", ramp(12), "own", ZERO),),
             True, per_replica=True),
    Scenario("redis errors", "WebSocketReplayRedisErrors", WS,
             (_s("dashstream_websocket_redis_errors_total", ramp(1), "own", ZERO),),
             True, per_replica=True),
)
WORLDS = ("one", "idle", "split")


def _job(component: str) -> str:
    return f"p-{EX if component == 'quality' else component}"


def _target(component: str, replica: str) -> dict[str, str]:
    port = PORTS[EX if component == "quality" else component]
    return {"namespace": NS, "job": _job(component), "instance": f"{REPLICAS[replica]}:{port}",
            "pod": f"{_job(component)}-{replica.lower()}"}


def _series_text(metric: str, labels: dict[str, str], values: list[float]) -> dict[str, str]:
    name, _, own = metric.partition("{")
    pairs = [f'{k}="{v}"' for k, v in labels.items()]
    if own:
        pairs.append(own.rstrip("}"))
    return {"series": f"{name}{{{', '.join(pairs)}}}", "values": " ".join(f"{v:g}" for v in values)}


def world_series(sc: Scenario, world: str) -> list[dict[str, str]]:
    """The input series of one world (see the module docstring)."""
    a, b = _target(sc.component, "A"), _target(sc.component, "B")
    out: list[dict[str, str]] = []
    for s in sc.series:
        if world == "one":
            out.append(_series_text(s.metric, a, s.values))
            continue
        if world == "split" and s.kind == "share":
            half = [v / 2 for v in s.values]
            out += [_series_text(s.metric, a, half), _series_text(s.metric, b, half)]
        elif world == "split" and s.kind == "partition":
            out.append(_series_text(s.metric, b, s.values))
        elif world == "split" and s.kind == "fresh":
            out += [_series_text(s.metric, a, s.values), _series_text(s.metric, b, s.values)]
        else:
            out.append(_series_text(s.metric, a, s.values))
            idle = ZERO if s.kind == "share" else s.idle
            if idle is not None:
                out.append(_series_text(s.metric, b, idle))
    return out


def expected_labels(sc: Scenario, rule: dict[str, object], world: str) -> dict[str, str]:
    """The alert's labels in ``world``: a per-partition condition follows its partition."""
    labels = {str(k): str(v) for k, v in dict(rule.get("labels") or {}).items()}  # type: ignore[call-overload]
    if labels.get("component", "").startswith("{{"):
        labels["component"] = sc.component
    moved = world == "split" and any(s.kind == "partition" for s in sc.series)
    target = _target(sc.component, "B" if moved else "A")
    labels.update(target if sc.per_replica else {"namespace": NS, "job": target["job"]})
    labels.update(sc.extra_labels)
    return labels


def _rules_without_annotations(tmp: Path) -> dict[str, str]:
    """Each rule file copied without annotations; returns alert name -> copy's name."""
    of_alert = {}
    for path in _rule_files():
        doc = yaml.safe_load(path.read_text())
        for group in doc["groups"]:
            for rule in group["rules"]:
                rule.pop("annotations", None)
                if "alert" in rule:
                    of_alert[rule["alert"]] = path.name
        (tmp / path.name).write_text(yaml.safe_dump(doc, sort_keys=False))
    return of_alert


def _rule(alert: str) -> dict[str, object]:
    return next((r for r in _alerts() if r["alert"] == alert), {})


def test_every_alert_has_a_replica_scenario() -> None:
    missing = sorted({str(r["alert"]) for r in _alerts()} - {sc.alert for sc in SCENARIOS}
                     - LIBRARY_ONLY)
    assert not missing, f"alerts without a replica scenario in {Path(__file__).name}: {missing}"


def test_scenario_series_span_the_timeline() -> None:
    bad = [(sc.name, s.metric) for sc in SCENARIOS for s in sc.series
           if len(s.values) != MINUTES + 1 or (s.idle is not None and len(s.idle) != MINUTES + 1)]
    assert not bad


def test_alerts_are_the_same_with_one_and_two_replicas(tmp_path: Path) -> None:
    """One promtool run: a test group per scenario and world, the same expectation in
    each; one test file per rule file, so each group evaluates only its alert's file."""
    file_of = _rules_without_annotations(tmp_path)
    tests: dict[str, list[dict[str, object]]] = {}
    for sc in SCENARIOS:
        rule = _rule(sc.alert)
        if not rule:
            continue  # test_every_alert_has_a_replica_scenario names it
        for world in WORLDS:
            exp = [{"exp_labels": expected_labels(sc, rule, world)}] if sc.fires else []
            tests.setdefault(file_of[sc.alert], []).append({
                "name": f"{sc.alert}: {sc.name} [{world}]",
                "interval": "1m",
                "input_series": world_series(sc, world),
                "alert_rule_test": [{"eval_time": sc.at, "alertname": sc.alert, "exp_alerts": exp}],
            })
    specs = []
    for rule_file, groups in tests.items():
        spec = tmp_path / f"{rule_file}.replicas.test.yaml"
        spec.write_text(yaml.safe_dump({"rule_files": [rule_file], "evaluation_interval": "1m",
                                        "tests": groups}, sort_keys=False))
        specs.append(spec.name)
    proc = subprocess.run([_promtool(), "test", "rules", *specs], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300, check=False)
    failed = re.findall(r"name: (.*),\n", proc.stdout + proc.stderr)
    assert proc.returncode == 0, (f"{len(failed)} worlds differ: {failed}\n"
                                  + proc.stdout[-6000:] + proc.stderr[-2000:])
    count = sum(map(len, tests.values()))
    assert count == len(SCENARIOS) * len(WORLDS) >= 90, "a scenario names no canonical alert"


@pytest.mark.parametrize("world", WORLDS)
def test_worlds_differ_as_described(world: str) -> None:
    """The idle replica really exports its idle series, the split world really halves."""
    sc = next(s for s in SCENARIOS if s.alert == "ExporterMessageProcessingErrors")
    series = world_series(sc, world)
    assert len(series) == (1 if world == "one" else 2)
    last = [float(x["values"].split()[-1]) for x in series]
    assert sum(last) == sc.series[0].values[-1]
    if world == "idle":
        assert last[1] == 0
