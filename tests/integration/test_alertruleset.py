"""AlertRuleSet -> rule ConfigMaps / PrometheusRule, with the real operator process, a real
API server, real promtool and a real Prometheus."""

from __future__ import annotations

import copy
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.dynamic import DynamicClient

from support.env import REPO, require_env
from support.events import wait_for_events
from support.kube import apply, get_or_none
from support.operator import OperatorProcess, run_operator
from support.scenario import process
from support.wait import wait_until

RESYNC = 3.0
GROUP, VERSION, PLURAL = "dashstream.io", "v1alpha1", "alertrulesets"
CM_ONLY = {"configMap": {"name": "dashstream-rules", "key": "dashstream.rules.yaml",
                         "labels": {"prometheus": "main"}}}
BROKEN_GROUP: dict[str, Any] = {"name": "broken", "rules": [
    {"alert": "BrokenExpression", "expr": "sum(rate(websocket_kafka_messages_total[5m]) > 0",
     "labels": {"severity": "warning"}},
    {"alert": "GhostMetric", "expr": "rate(nonexistent_metric_total[5m]) > 0",
     "labels": {"severity": "warning"}}]}


def canonical_groups() -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = []
    for path in sorted((REPO / "alert-rules").glob("*.yaml")):  # top level: not optional/
        groups += yaml.safe_load(path.read_text())["groups"]
    return groups


CANONICAL_RULES = sum(len(g["rules"]) for g in canonical_groups())


def ruleset(name: str, namespace: str, groups: list[dict[str, Any]] | None = None,
            **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"targets": CM_ONLY, **spec}
    if "groupsFrom" not in spec:
        body["groups"] = groups if groups is not None else canonical_groups()
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "AlertRuleSet",
            "metadata": {"name": name, "namespace": namespace,
                         # Must never be copied to the children (Argo CD would prune them).
                         "labels": {"argocd.argoproj.io/instance": "rules-app"}},
            "spec": body}


def get_ars(api: client.ApiClient, ns: str, name: str) -> dict[str, Any]:
    obj: Any = client.CustomObjectsApi(api).get_namespaced_custom_object(
        GROUP, VERSION, ns, PLURAL, name)
    return dict(obj)


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond["type"] == type_:
            return dict(cond)
    return {}


def observed(api: client.ApiClient, ns: str, name: str, ready: str | None = "True"
             ) -> dict[str, Any]:
    """The set once its current generation is reconciled (and Ready is ``ready``)."""
    obj = get_ars(api, ns, name)
    status = obj.get("status") or {}
    if status.get("observedGeneration") != obj["metadata"]["generation"]:
        return {}
    return obj if ready is None or condition(obj, "Ready").get("status") == ready else {}


def cm_data(core: client.CoreV1Api, ns: str, name: str) -> dict[str, str]:
    return dict(core.read_namespaced_config_map(name, ns).data or {})


def cm_meta(core: client.CoreV1Api, ns: str, name: str) -> client.V1ObjectMeta:
    meta = core.read_namespaced_config_map(name, ns).metadata
    assert meta is not None
    return meta


def promtool_check(path: Path) -> str:
    promtool = os.environ.get("PROMTOOL") or shutil.which("promtool") or "promtool"
    proc = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def prometheus(rule_dir: Path, work: Path, log_dir: Path) -> Iterator[str]:
    """A real Prometheus evaluating every rule file in ``rule_dir`` each second."""
    exe = require_env("PROMETHEUS")
    port = free_port()
    config = work / "prometheus.yml"
    config.write_text(yaml.safe_dump({"global": {"evaluation_interval": "1s"},
                                      "rule_files": [str(rule_dir / "*.yaml")]}))
    log_dir.mkdir(parents=True, exist_ok=True)
    with process([exe, f"--config.file={config}", f"--storage.tsdb.path={work / 'tsdb'}",
                  f"--web.listen-address=127.0.0.1:{port}"], dict(os.environ),
                 log_dir / f"prometheus-{port}.log"):
        yield f"http://127.0.0.1:{port}"


def rules_api(url: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{url}/api/v1/rules", timeout=5) as resp:
        groups = json.load(resp)["data"]["groups"]
    return [rule for group in groups for rule in group["rules"]]


@pytest.fixture
def operator(namespace: str, crds_installed: list[str], artifacts_dir: Path
             ) -> Iterator[OperatorProcess]:
    with run_operator([namespace], artifacts_dir / "logs", resync=RESYNC) as op:
        yield op


@pytest.fixture
def core(kube_api: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(kube_api)


def test_canonical_rules_sync_and_every_rule_is_ok_in_prometheus(
        kube_api: client.ApiClient, dyn: DynamicClient, core: client.CoreV1Api, namespace: str,
        operator: OperatorProcess, tmp_path: Path, artifacts_dir: Path) -> None:
    apply(dyn, ruleset("canonical", namespace))
    obj, waited = wait_until(lambda: observed(kube_api, namespace, "canonical"), timeout=60,
                             what="AlertRuleSet Ready")
    print(f"canonical AlertRuleSet ({CANONICAL_RULES} rules) Ready after {waited:.2f}s")
    status = obj["status"]
    assert status["rules"] == CANONICAL_RULES
    assert status["rulesValid"] == f"{CANONICAL_RULES}/{CANONICAL_RULES}"
    assert status["configMaps"] == ["dashstream-rules"]
    assert "invalidRules" not in status and "unknownMetrics" not in status
    for type_ in ("Valid", "MetricsResolved", "Synced", "Ready"):
        assert condition(obj, type_)["status"] == "True", condition(obj, type_)
    meta = cm_meta(core, namespace, "dashstream-rules")
    assert meta.labels == {
        "prometheus": "main", "app.kubernetes.io/managed-by": "dashstream-operator",
        "app.kubernetes.io/part-of": "dashstream", "dashstream.io/alertruleset": "canonical"}
    (owner,) = meta.owner_references or []
    assert (owner.kind, owner.uid, owner.controller) == (
        "AlertRuleSet", obj["metadata"]["uid"], True)

    rule_dir = tmp_path / "rules"
    rule_dir.mkdir()
    path = rule_dir / "dashstream.rules.yaml"
    path.write_text(cm_data(core, namespace, "dashstream-rules")["dashstream.rules.yaml"])
    out = promtool_check(path)
    assert f"SUCCESS: {CANONICAL_RULES} rules found" in out
    assert yaml.safe_load(path.read_text())["groups"] == yaml.safe_load(
        yaml.safe_dump(canonical_groups()))  # same content, nothing lost or added

    start = time.monotonic()
    with prometheus(rule_dir, tmp_path, artifacts_dir / "logs") as url:
        def all_ok() -> list[dict[str, Any]]:
            rules = rules_api(url)
            bad = [(r["name"], r["health"], r.get("lastError")) for r in rules
                   if r["health"] != "ok"]
            return rules if len(rules) == CANONICAL_RULES and not bad else []

        rules, waited = wait_until(all_ok, timeout=60, what="every rule health ok")
    print(f"Prometheus: {len(rules)} rules loaded, all health=ok after {waited:.1f}s "
          f"(total {time.monotonic() - start:.1f}s)")


def test_invalid_rule_keeps_last_valid_content(
        kube_api: client.ApiClient, dyn: DynamicClient, core: client.CoreV1Api, namespace: str,
        operator: OperatorProcess) -> None:
    apply(dyn, ruleset("rules", namespace))
    wait_until(lambda: observed(kube_api, namespace, "rules"), timeout=60, what="Ready")
    before, before_rv = cm_data(core, namespace, "dashstream-rules"), cm_meta(
        core, namespace, "dashstream-rules").resource_version

    apply(dyn, ruleset("rules", namespace, [*canonical_groups(), BROKEN_GROUP]))
    obj, _ = wait_until(lambda: observed(kube_api, namespace, "rules", ready="False"),
                        timeout=60, what="generation 2 observed, Ready=False")
    status = obj["status"]
    print(json.dumps({k: v for k, v in status.items() if k != "conditions"}, indent=1))
    assert [(r["group"], r["rule"]) for r in status["invalidRules"]] == [
        ("broken", "BrokenExpression")]
    assert "unclosed left parenthesis" in status["invalidRules"][0]["reason"]
    assert status["unknownMetrics"] == [
        {"group": "broken", "rule": "GhostMetric", "metric": "nonexistent_metric_total"}]
    assert status["rulesValid"] == f"{CANONICAL_RULES}/{CANONICAL_RULES + 2}"
    assert condition(obj, "Valid")["reason"] == "InvalidRules"
    assert condition(obj, "MetricsResolved")["reason"] == "UnknownMetrics"
    synced = condition(obj, "Synced")
    assert synced["status"] == "False" and "kept generation 1" in synced["message"]
    # The previous valid content stays, untouched: Prometheus keeps every rule.
    assert cm_data(core, namespace, "dashstream-rules") == before
    assert cm_meta(core, namespace, "dashstream-rules").resource_version == before_rv
    wait_for_events(kube_api, namespace, "rules", ("Warning", "InvalidRules"),
                    ("Warning", "UnknownMetrics"))
    assert operator.alive()

    apply(dyn, ruleset("rules", namespace))  # fixed: generation 3 syncs again
    obj, _ = wait_until(lambda: observed(kube_api, namespace, "rules"), timeout=60,
                        what="Ready again")
    assert "invalidRules" not in obj["status"]
    assert cm_data(core, namespace, "dashstream-rules") == before


def test_unknown_metrics_warn_syncs_anyway(
        kube_api: client.ApiClient, dyn: DynamicClient, core: client.CoreV1Api, namespace: str,
        operator: OperatorProcess) -> None:
    ghost = {"name": "ghost", "rules": [BROKEN_GROUP["rules"][1]]}
    apply(dyn, ruleset("warn", namespace, [ghost], validation={"unknownMetrics": "Warn"}))
    obj, _ = wait_until(lambda: observed(kube_api, namespace, "warn"), timeout=60,
                        what="Ready with warnings")
    assert condition(obj, "Ready")["reason"] == "SyncedWithWarnings"
    assert condition(obj, "MetricsResolved")["status"] == "False"
    assert "GhostMetric" in cm_data(core, namespace, "dashstream-rules")["dashstream.rules.yaml"]


def test_prometheusrule_with_requested_labels(
        kube_api: client.ApiClient, dyn: DynamicClient, core: client.CoreV1Api, namespace: str,
        thirdparty_crds: list[str], operator: OperatorProcess) -> None:
    targets = {**CM_ONLY, "prometheusRule": {"name": "dashstream", "labels": {"release": "kps"}}}
    apply(dyn, ruleset("both", namespace, targets=targets))
    obj, _ = wait_until(lambda: observed(kube_api, namespace, "both"), timeout=60,
                        what="Ready with a PrometheusRule")
    assert obj["status"]["prometheusRule"] == "dashstream"
    pr = get_or_none(dyn, "monitoring.coreos.com/v1", "PrometheusRule", "dashstream",
                     namespace).to_dict()
    assert pr["metadata"]["labels"]["release"] == "kps"
    assert pr["metadata"]["labels"]["dashstream.io/alertruleset"] == "both"
    assert "argocd.argoproj.io/instance" not in pr["metadata"]["labels"]
    text = cm_data(core, namespace, "dashstream-rules")["dashstream.rules.yaml"]
    assert pr["spec"]["groups"] == yaml.safe_load(text)["groups"]

    res = dyn.resources.get(api_version="monitoring.coreos.com/v1", kind="PrometheusRule")
    edited = copy.deepcopy(pr["spec"])
    edited["groups"][0]["rules"][0]["expr"] = "vector(1)"
    res.patch(name="dashstream", namespace=namespace, body={"spec": edited},
              content_type="application/merge-patch+json")
    _, waited = wait_until(
        lambda: res.get(name="dashstream", namespace=namespace).to_dict()["spec"] == pr["spec"],
        timeout=10, interval=0.05, what="PrometheusRule put back")
    print(f"PrometheusRule hand edit put back after {waited:.2f}s")


def test_hand_edits_are_put_back_and_reapply_writes_nothing(
        kube_api: client.ApiClient, dyn: DynamicClient, core: client.CoreV1Api, namespace: str,
        operator: OperatorProcess) -> None:
    apply(dyn, ruleset("drift", namespace))
    wait_until(lambda: observed(kube_api, namespace, "drift"), timeout=60, what="Ready")
    good = cm_data(core, namespace, "dashstream-rules")

    core.patch_namespaced_config_map("dashstream-rules", namespace,
                                     {"data": {"dashstream.rules.yaml": "groups: []\n"}})
    _, edit_s = wait_until(lambda: cm_data(core, namespace, "dashstream-rules") == good,
                           timeout=10, interval=0.05, what="hand edit put back")
    core.delete_namespaced_config_map("dashstream-rules", namespace)
    _, delete_s = wait_until(lambda: cm_data(core, namespace, "dashstream-rules") == good,
                             timeout=10, interval=0.05, what="deleted ConfigMap re-created")
    print(f"ConfigMap hand edit put back after {edit_s:.2f}s; deletion repaired after "
          f"{delete_s:.2f}s")
    wait_for_events(kube_api, namespace, "drift", ("Normal", "DriftRepaired"))

    wait_until(lambda: observed(kube_api, namespace, "drift"), timeout=30, what="settled")
    operator.wait_passes(2)  # the repairs' own watch events have passed
    cr_rv = get_ars(kube_api, namespace, "drift")["metadata"]["resourceVersion"]
    cm_rv = cm_meta(core, namespace, "dashstream-rules").resource_version
    apply(dyn, ruleset("drift", namespace))  # unchanged
    operator.wait_passes(2)  # two passes that started after the re-apply
    assert get_ars(kube_api, namespace, "drift")["metadata"]["resourceVersion"] == cr_rv
    assert cm_meta(core, namespace, "dashstream-rules").resource_version == cm_rv


def test_groups_from_a_configmap(
        kube_api: client.ApiClient, dyn: DynamicClient, core: client.CoreV1Api, namespace: str,
        operator: OperatorProcess) -> None:
    groups = canonical_groups()
    source: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap",
              "metadata": {"name": "rules-source", "namespace": namespace},
              "data": {"rules.yaml": yaml.safe_dump({"groups": groups[:1]})}}
    apply(dyn, source)
    apply(dyn, ruleset("from-cm", namespace, groupsFrom={
        "configMapKeyRef": {"name": "rules-source", "key": "rules.yaml"}}))
    obj, _ = wait_until(lambda: observed(kube_api, namespace, "from-cm"), timeout=60,
                        what="Ready from a ConfigMap")
    assert obj["status"]["rules"] == len(groups[0]["rules"])

    source["data"]["rules.yaml"] = yaml.safe_dump({"groups": groups})
    apply(dyn, source)
    _, waited = wait_until(lambda: get_ars(kube_api, namespace, "from-cm")["status"].get(
        "rules") == CANONICAL_RULES, timeout=30, interval=0.1, what="source change picked up")
    print(f"source ConfigMap change synced after {waited:.2f}s")
    synced = yaml.safe_load(cm_data(core, namespace, "dashstream-rules")["dashstream.rules.yaml"])
    assert len(synced["groups"]) == len(groups)

    core.delete_namespaced_config_map("rules-source", namespace)
    wait_until(lambda: condition(get_ars(kube_api, namespace, "from-cm"), "Valid")
               .get("reason") == "SourceNotFound", timeout=30, what="SourceNotFound")
    assert yaml.safe_load(cm_data(core, namespace, "dashstream-rules")["dashstream.rules.yaml"]
                          ) == synced


def test_rules_too_big_for_one_configmap_are_split(
        kube_api: client.ApiClient, dyn: DynamicClient, core: client.CoreV1Api, namespace: str,
        operator: OperatorProcess, tmp_path: Path) -> None:
    text = "x" * 16000
    groups = [{"name": f"big-{g}", "rules": [
        {"alert": f"Big{g}x{r}", "expr": "up == 0", "labels": {"severity": "info"},
         "annotations": {"description": text}} for r in range(10)]} for g in range(8)]
    apply(dyn, ruleset("big", namespace, groups))  # ~1.3 MB of rules
    obj, waited = wait_until(lambda: observed(kube_api, namespace, "big"), timeout=90,
                             what="Ready, split")
    names = obj["status"]["configMaps"]
    print(f"1.3 MB of rules synced to {names} after {waited:.1f}s")
    assert names == ["dashstream-rules", "dashstream-rules-1"]
    found = []
    for n, name in enumerate(names):
        ((key, content),) = cm_data(core, namespace, name).items()
        assert key == ("dashstream.rules.yaml" if n == 0 else "dashstream-1.rules.yaml")
        assert len(content.encode()) < 1024 * 1024
        path = tmp_path / key
        path.write_text(content)
        promtool_check(path)
        found += [g["name"] for g in yaml.safe_load(content)["groups"]]
    assert found == [g["name"] for g in groups]

    apply(dyn, ruleset("big", namespace, groups[:2]))  # shrinks: the extra part is pruned
    wait_until(lambda: observed(kube_api, namespace, "big") and len(
        core.list_namespaced_config_map(
            namespace, label_selector="dashstream.io/alertruleset=big").items) == 1,
        timeout=30, what="stale part pruned")
    assert get_ars(kube_api, namespace, "big")["status"]["configMaps"] == ["dashstream-rules"]
