"""A corpus of bad input across CRs, Kafka messages, rule files and dashboards.

Each case must get a clear error (an API rejection naming the field, a status reason,
a decode error type, or a validation message), nothing may crash, and the valid
objects applied before the corpus must still be served afterwards.
"""

from __future__ import annotations

import copy
import json
import zlib
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import DynamicApiError

from dashstream_operator.cli import main as dashstream_cli
from dashstream_workloads import wire
from dashstream_workloads.proto import dashstream_pb2 as pb
from support.env import REPO
from support.kube import apply
from support.operator import run_operator
from support.pipelines import condition, condition_true, get_pipeline, pipeline
from support.wait import wait_until

GOOD_RULE = {"alert": "Down", "expr": "up == 0", "for": "1m",
             "labels": {"severity": "critical"}, "annotations": {"summary": "down"}}


def _cr_cases(ns: str, bootstrap: str) -> list[tuple[str, dict[str, Any], str]]:
    """(case, object, text the API server's message must contain)."""
    def dsp(**spec: Any) -> dict[str, Any]:
        body = pipeline("bad", ns, bootstrap, [{"name": "ev", "role": "events"}])
        body["spec"].update(spec)
        return body

    def topics(*items: dict[str, Any]) -> dict[str, Any]:
        return dsp(topics=list(items))

    ars = {"apiVersion": "dashstream.io/v1alpha1", "kind": "AlertRuleSet",
           "metadata": {"name": "bad", "namespace": ns}}
    dbs = {"apiVersion": "dashstream.io/v1alpha1", "kind": "DashboardSet",
           "metadata": {"name": "bad", "namespace": ns}}
    return [
        ("partitions 0", topics({"name": "a", "role": "events", "partitions": 0}), "partitions"),
        ("partitions a string", topics({"name": "a", "role": "events", "partitions": "3"}),
         "partitions"),
        ("replication 0", topics({"name": "a", "role": "events", "replicationFactor": 0}),
         "replicationFactor"),
        ("topic name with a slash", topics({"name": "a/b", "role": "events"}), "name"),
        ("topic name of 250 chars", topics({"name": "a" * 250, "role": "events"}), "name"),
        ("topic name '..'", topics({"name": "..", "role": "events"}), "name"),
        ("duplicate topic names", topics({"name": "a", "role": "events"}, {"name": "a"}),
         "topics"),
        ("two events topics", topics({"name": "a", "role": "events"},
                                     {"name": "b", "role": "events"}), "events"),
        ("no events topic", topics({"name": "a", "role": "dlq"}), "events"),
        ("unknown role", topics({"name": "a", "role": "audit"}), "role"),
        ("empty topic list", dsp(topics=[]), "topics"),
        ("bootstrap without port", dsp(kafka={"bootstrapServers": "kafka"}),
         "bootstrapServers"),
        ("no kafka", {**dsp(), "spec": {"topics": [{"name": "a", "role": "events"}]}}, "kafka"),
        ("SASL protocol without sasl",
         dsp(kafka={"bootstrapServers": bootstrap, "securityProtocol": "SASL_SSL"}), "sasl"),
        ("unknown security protocol",
         dsp(kafka={"bootstrapServers": bootstrap, "securityProtocol": "TLS"}),
         "securityProtocol"),
        ("unknown deletion policy", dsp(topicDeletionPolicy="Purge"), "topicDeletionPolicy"),
        ("negative replicas", dsp(components={"websocketServer": {"replicas": -1}}),
         "replicas"),
        ("unknown component", dsp(components={"grafana": {"enabled": True}}), "grafana"),
        ("unknown top-level field", dsp(colour="blue"), "colour"),
        ("unknown toleration operator",
         dsp(scheduling={"tolerations": [{"key": "k", "operator": "Sometimes"}]}), "operator"),
        ("bad scrape interval", dsp(monitoring={"serviceMonitor": {"interval": "soon"}}),
         "interval"),
        ("rules from two sources", {**ars, "spec": {
            "groups": [{"name": "g", "rules": [GOOD_RULE]}],
            "groupsFrom": {"configMapKeyRef": {"name": "x", "key": "y"}}}}, "groupsFrom"),
        ("rule both alert and record", {**ars, "spec": {"groups": [{"name": "g", "rules": [
            {"alert": "A", "record": "b:c", "expr": "up"}]}]}}, "record"),
        ("rule without expr", {**ars, "spec": {"groups": [{"name": "g", "rules": [
            {"alert": "A"}]}]}}, "expr"),
        ("dashboard with two sources", {**dbs, "spec": {"dashboards": [
            {"name": "d", "json": "{}", "gzipBase64": "H4sI"}]}}, "dashboards"),
        ("dashboard without a name", {**dbs, "spec": {"dashboards": [{"json": "{}"}]}},
         "name"),
    ]


def _message_cases() -> list[tuple[str, bytes, str]]:
    msg = pb.DashStreamMessage()
    msg.header.thread_id, msg.header.sequence = "t", 1
    msg.header.schema_version = wire.SCHEMA_VERSION
    msg.quality.model = "m"
    good = wire.encode(msg, compress_threshold=None)
    future = copy.deepcopy(msg)
    future.header.schema_version = wire.SCHEMA_VERSION + 5
    return [
        ("empty frame", b"", "buffer_underflow"),
        ("flag byte, no payload", b"\x00", "buffer_underflow"),
        ("truncated message", good[: len(good) // 2], "buffer_underflow"),
        ("garbage bytes", b"\x00\xff\xfe\xfd garbage \x07\x08", "invalid_protobuf"),
        ("oversized payload", b"\x00" + b"\x01" * 4096, "payload_too_large"),
        ("future schema version", wire.encode(future, compress_threshold=None),
         "schema_version_mismatch"),
        ("corrupt zstd", bytes([wire.FLAG_ZSTD]) + b"\x28\xb5\x2f\xfd garbage",
         "decompression_failure"),
        ("reserved flag bits", bytes([0x80]) + good[1:], "unknown_decode_error"),
        ("deflate instead of zstd", bytes([wire.FLAG_ZSTD]) + zlib.compress(good[1:]),
         "decompression_failure"),
    ]


def _rule_and_dashboard_cases(tmp: Path) -> list[tuple[str, Path, str]]:
    def rules(name: str, text: str) -> Path:
        path = tmp / f"{name}.rules.yaml"
        path.write_text(text)
        return path

    def dash(name: str, obj: Any) -> Path:
        path = tmp / f"{name}.json"
        path.write_text(obj if isinstance(obj, str) else json.dumps(obj))
        return path

    base = json.loads((REPO / "dashboards/dashstream-exporter.json").read_text())

    def variant(change: Any) -> dict[str, Any]:
        d = copy.deepcopy(base)
        change(d)
        return d

    def first_target(d: dict[str, Any]) -> dict[str, Any]:
        return next(p for p in d["panels"] if p.get("targets"))["targets"][0]

    return [
        ("rules: not YAML", rules("notyaml", "groups: [unclosed"), "notyaml"),
        ("rules: broken PromQL", rules("promql", "groups: [{name: g, rules: [{alert: A, "
                                       "expr: 'rate(up[5m]', labels: {severity: x}}]}]"), "PromQL"),
        ("rules: bad duration", rules("dur", "groups: [{name: g, rules: [{alert: A, expr: up, "
                                      "for: 5 minutes, labels: {severity: x}}]}]"), "for"),
        ("rules: bad template", rules("tmpl", "groups: [{name: g, rules: [{alert: A, expr: up, "
                                      "labels: {severity: x}, annotations: {summary: '{{ $value "
                                      "'}}]}]"), "template"),
        ("rules: duplicate alert", rules("dupe", "groups: [{name: g, rules: [{alert: A, expr: "
                                         "up, labels: {severity: x}}, {alert: A, expr: up, "
                                         "labels: {severity: x}}]}]"), "duplicate"),
        ("rules: missing severity", rules("sev", "groups: [{name: g, rules: [{alert: A, "
                                          "expr: up}]}]"), "severity"),
        ("rules: unknown metric", rules("ghost", "groups: [{name: g, rules: [{alert: A, expr: "
                                        "'ghost_metric_total > 0', labels: {severity: x}}]}]"),
         "ghost_metric_total"),
        ("dashboard: not JSON", dash("notjson", "{ nope"), "notjson"),
        ("dashboard: no uid", dash("nouid", variant(lambda d: d.pop("uid"))), "uid"),
        ("dashboard: duplicate panel ids", dash("dupid", variant(
            lambda d: d["panels"][1].update(id=d["panels"][0]["id"]))), "id"),
        ("dashboard: broken query", dash("badq", variant(
            lambda d: first_target(d).update(expr="sum(rate(x[5m])"))), "PromQL"),
        ("dashboard: unknown metric", dash("ghostdash", variant(
            lambda d: first_target(d).update(expr="rate(ghost_metric_total[5m])"))),
         "ghost_metric_total"),
        ("dashboard: hard-coded datasource", dash("ds", variant(
            lambda d: first_target(d).update(datasource={"type": "prometheus",
                                                         "uid": "P1234"}))), "datasource"),
    ]


def test_bad_input_corpus(kube_api: client.ApiClient, dyn: DynamicClient, namespace: str,
                          kafka_bootstrap: str, crds_installed: list[str], artifacts_dir: Path,
                          tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = 0
    lines: list[str] = []  # printed at the end: capsys captures the CLI's output
    with run_operator([namespace], artifacts_dir / "logs", resync=3.0) as op:
        good_topic = f"{namespace}-good"
        apply(dyn, pipeline("good", namespace, kafka_bootstrap,
                            [{"name": good_topic, "role": "events"}]))
        wait_until(lambda: condition_true(kube_api, namespace, "good", "TopicsReady"),
                   timeout=60, what="good pipeline")

        for case, obj, field in _cr_cases(namespace, kafka_bootstrap):
            with pytest.raises(DynamicApiError) as err:
                apply(dyn, obj)
            body = str(err.value.body)
            # 422 from validation; a wrong type fails server-side apply's typed patch
            # first, which the API server reports as 500 (upstream behaviour), still
            # naming the field.
            assert err.value.status in (400, 422, 500), f"{case}: {err.value.status} {body[:300]}"
            assert field in body, f"{case}: message does not name {field!r}: {body[:400]}"
            lines.append(f"CR   {case:34s} -> {err.value.status} naming {field}")
            cases += 1

        # Accepted by the API server, refused by the operator with a status reason.
        apply(dyn, pipeline("nosecret", namespace, kafka_bootstrap,
                            [{"name": f"{namespace}-ns", "role": "events"}]) | {"spec": {
            "kafka": {"bootstrapServers": kafka_bootstrap, "securityProtocol": "SASL_PLAINTEXT",
                      "sasl": {"mechanism": "PLAIN",
                               "usernameSecretRef": {"name": "absent", "key": "u"},
                               "passwordSecretRef": {"name": "absent", "key": "p"}}},
            "topics": [{"name": f"{namespace}-ns", "role": "events"}]}})
        apply(dyn, pipeline("badconfig", namespace, kafka_bootstrap, [
            {"name": f"{namespace}-bc", "role": "events",
             "config": {"cleanup.policy": "shred"}}]))

        def topics_reason_is(name: str, reason: str) -> bool:
            cond = condition(get_pipeline(kube_api, namespace, name), "TopicsReady") or {}
            return cond.get("reason") == reason

        for name, reason in (("nosecret", "KafkaSecretMissing"),
                             ("badconfig", "InvalidTopicConfig")):
            wait_until(partial(topics_reason_is, name, reason), timeout=60,
                       what=f"{name}: {reason}")
            lines.append(f"CR   {name:34s} -> status reason {reason}")
            cases += 1
        assert op.alive(), "the operator crashed on bad input"
        good = get_pipeline(kube_api, namespace, "good")
        assert (condition(good, "TopicsReady") or {}).get("status") == "True", "valid pipeline lost"

    for case, frame, error_type in _message_cases():
        with pytest.raises(wire.DecodeError) as refused:
            wire.decode(frame, max_payload_bytes=1024)
        assert refused.value.error_type == error_type, f"{case}: {refused.value.error_type}"
        lines.append(f"msg  {case:34s} -> {error_type}")
        cases += 1

    for case, path, text in _rule_and_dashboard_cases(tmp_path):
        code = dashstream_cli(["validate", str(path)])
        out = capsys.readouterr()
        report = out.out + out.err
        assert code == 1, f"{case}: exit {code}\n{report}"
        assert text.lower() in report.lower(), f"{case}: report lacks {text!r}:\n{report}"
        lines.append(f"file {case:34s} -> exit 1, names {text}")
        cases += 1
    with capsys.disabled():
        print("\n".join(lines))
        print(f"bad-input corpus: {cases} cases, each refused with a clear error; "
              "the operator stayed up and the valid pipeline stayed Ready")
    assert cases >= 40
