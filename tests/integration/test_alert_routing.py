"""The shipped Alertmanager routing (alertmanager/alertmanager.yml) in a real Alertmanager:
severity decides the receiver, a critical alert suppresses its warning twin of the same
pipeline and nothing else; the same routing as an AlertmanagerConfig is accepted by
prometheus-operator's CRD."""

from __future__ import annotations

import subprocess
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import yaml
from kubernetes.dynamic import DynamicClient

from support.alerting import (
    FIX,
    ROUTING,
    am_alerts,
    post_alerts,
    routing_for,
    start_alertmanager,
    webhook_receiver,
)
from support.env import REPO, require_env
from support.wait import wait_until

RULES = REPO / "alert-rules"


def rule(name: str) -> dict[str, Any]:
    return next(r for f in sorted(RULES.glob("*.rules.yaml"))
                for g in yaml.safe_load(f.read_text())["groups"] for r in g["rules"]
                if r.get("alert") == name)


def firing(name: str, job: str) -> dict[str, Any]:
    """The alert Prometheus would send for this canonical rule and pipeline."""
    r = rule(name)
    return {"labels": {"alertname": name, "namespace": "team", "job": job, **r["labels"]},
            "annotations": {"summary": r["annotations"]["summary"],
                            "runbook_url": r["annotations"]["runbook_url"]}}


def test_amtool_accepts_the_routing() -> None:
    out = subprocess.run([require_env("AMTOOL", FIX), "check-config", str(ROUTING)],
                         capture_output=True, text=True)
    print(out.stdout)
    assert out.returncode == 0, out.stdout + out.stderr
    assert " - 2 inhibit rules" not in out.stdout and " - 1 inhibit rules" in out.stdout


def test_alertmanagerconfig_is_accepted_by_the_crd(dyn: DynamicClient, namespace: str,
                                                    prometheus_operator: str) -> None:
    doc = yaml.safe_load((REPO / "manifests/examples/alertmanagerconfig.yaml").read_text())
    res = dyn.resources.get(api_version=doc["apiVersion"], kind=doc["kind"])
    created = res.server_side_apply(body=doc, name=doc["metadata"]["name"],
                                    namespace=namespace, field_manager="test",
                                    dry_run="All").to_dict()
    assert created["spec"]["inhibitRules"] == doc["spec"]["inhibitRules"]


def test_severity_routes_and_a_critical_twin_inhibits_its_warning(tmp_path: Path,
                                                                  artifacts_dir: Path) -> None:
    logs = artifacts_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        hooks = stack.enter_context(webhook_receiver())
        port = start_alertmanager(stack, routing_for(hooks, tmp_path), logs)
        lag_warning, lag_critical = (firing("KafkaConsumerLagHigh", "a-websocket-server"),
                                     firing("KafkaConsumerLagCritical", "a-websocket-server"))
        others = [firing("KafkaConsumerLagHigh", "b-websocket-server"),  # another pipeline
                  firing("HighDuplicateRate", "a-websocket-server")]     # no twin
        post_alerts(port, [lag_warning, lag_critical, *others])

        delivered, took = wait_until(lambda: hooks.alerts("/critical"), timeout=60,
                                     what="the critical alert delivered")
        assert [a["labels"]["alertname"] for a in delivered] == ["KafkaConsumerLagCritical"]
        assert delivered[0]["labels"]["severity"] == "critical"
        print(f"KafkaConsumerLagCritical at the critical receiver after {took:.1f}s")

        def states() -> dict[tuple[str, str], tuple[str, int]] | None:
            seen = {(a["labels"]["alertname"], a["labels"]["job"]):
                    (a["status"]["state"], len(a["status"]["inhibitedBy"]))
                    for a in am_alerts(port)}
            return seen if len(seen) == 4 else None

        seen, _ = wait_until(states, timeout=30, what="Alertmanager's view of the 4 alerts")
        print(f"Alertmanager states: {seen}")
        assert seen == {
            ("KafkaConsumerLagHigh", "a-websocket-server"): ("suppressed", 1),
            ("KafkaConsumerLagCritical", "a-websocket-server"): ("active", 0),
            ("KafkaConsumerLagHigh", "b-websocket-server"): ("active", 0),
            ("HighDuplicateRate", "a-websocket-server"): ("active", 0)}
        # The two warnings nothing suppresses are delivered; the suppressed one is not
        # among them (its group was sent).
        warned, _ = wait_until(
            lambda: len(w := {(a["labels"]["alertname"], a["labels"]["job"])
                              for a in hooks.alerts("/warnings")}) >= 2 and w,
            timeout=30, what="the two unsuppressed warnings delivered")
        assert warned == {("KafkaConsumerLagHigh", "b-websocket-server"),
                          ("HighDuplicateRate", "a-websocket-server")}, warned
