"""Least privilege, with real helm, kubectl, kube-apiserver and Kafka: a
`kubectl auth can-i` matrix for the chart's ServiceAccount, and the real operator run
with exactly that ServiceAccount's token reconciling a pipeline (its live objects also
go through the Argo CD health checks, whose fixtures the API server must keep).
"""

from __future__ import annotations

import base64
import contextlib
import json
import secrets
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from lupa.lua51 import LuaRuntime

from support.chart import (
    CHART,
    PLURALS,
    SPECS,
    exists_cr,
    get_cr,
    run,
)
from support.env import REPO
from support.operator import run_operator
from support.pipelines import broker_topic, condition
from support.wait import wait_until


def health(obj: dict[str, Any]) -> str:
    """The Argo CD health status our Lua check gives this object (Lua 5.1, as Argo CD)."""
    script = (REPO / "manifests/argocd/health/dashstream.io" / obj["kind"] / "health.lua")
    lua = LuaRuntime(unpack_returned_tuples=True)
    lua.globals().obj = lua.table_from(obj, recursive=True)
    return str(lua.execute(script.read_text())["status"])


# --- can-i matrix ----------------------------------------------------------------------

def can_i(kubectl: str, sa: str, verb: str, resource: str, *args: str) -> bool:
    res = run(kubectl, "auth", "can-i", verb, resource, f"--as={sa}", *args, ok=False)
    answer = res.stdout.strip().split()[0] if res.stdout.strip() else ""
    assert answer in ("yes", "no"), res.stdout + res.stderr
    return answer == "yes"


OWN = ("dashstreampipelines.dashstream.io", "alertrulesets.dashstream.io",
       "dashboardsets.dashstream.io")
CHILDREN = ("configmaps", "services", "deployments.apps", "servicemonitors.monitoring.coreos.com",
            "prometheusrules.monitoring.coreos.com", "grafanadashboards.grafana.integreatly.org")


def test_rbac_matrix(helm: str, kubectl: str, namespace: str, other_namespace: str,
                     crds_installed: list[str], release: str) -> None:
    run(helm, "install", "dso", str(CHART), "--namespace", namespace, "--skip-crds")
    sa = f"system:serviceaccount:{namespace}:dso-dashstream-operator"
    ns = ["-n", namespace]
    allowed = [(v, r) for r in OWN for v in ("get", "list", "watch", "patch")]
    allowed += [(v, r) for r in CHILDREN for v in ("get", "list", "watch", "create", "patch",
                                                   "delete")]
    allowed += [("create", "events"), ("patch", "events"), ("get", "secrets")]
    lease = "leases.coordination.k8s.io"
    allowed += [("create", lease), ("get", f"{lease}/dso-dashstream-operator"),
                ("patch", f"{lease}/dso-dashstream-operator")]
    for verb, resource in allowed:
        assert can_i(kubectl, sa, verb, resource, *ns), f"{verb} {resource}"
    for resource in OWN:
        assert can_i(kubectl, sa, "patch", resource, "--subresource=status", *ns), resource
    for verb in ("get", "list", "watch"):
        assert can_i(kubectl, sa, verb, "customresourcedefinitions.apiextensions.k8s.io")
    for verb in ("list", "watch"):
        assert can_i(kubectl, sa, verb, "namespaces")
    prometheuses = "prometheuses.monitoring.coreos.com"
    for verb in ("get", "list", "watch"):  # read-only, to judge selection (readPrometheuses)
        assert can_i(kubectl, sa, verb, prometheuses, "--all-namespaces")
    denied = [
        ("patch", prometheuses, "--all-namespaces"),
        ("create", prometheuses, *ns),
        ("get", "secrets", "-n", other_namespace),   # another namespace's Secrets
        ("list", "secrets", *ns),                     # Secrets only by name
        ("watch", "secrets", *ns),
        ("list", "secrets", "--all-namespaces"),     # cluster-wide Secret reads
        ("get", "configmaps", "-n", other_namespace),
        ("list", OWN[0], "--all-namespaces"),
        ("update", OWN[0], *ns),                      # never writes spec wholesale
        ("delete", OWN[0], *ns),
        ("create", OWN[0], *ns),
        ("delete", "customresourcedefinitions.apiextensions.k8s.io"),
        ("create", "customresourcedefinitions.apiextensions.k8s.io"),
        ("patch", "customresourcedefinitions.apiextensions.k8s.io"),
        ("*", "*", *ns),
        ("*", "*", "--all-namespaces"),
        ("create", "pods", *ns),
        ("create", "roles.rbac.authorization.k8s.io", *ns),
        ("create", "rolebindings.rbac.authorization.k8s.io", *ns),
        ("create", "namespaces"),
        ("delete", "namespaces"),
        ("patch", "namespaces"),
        ("impersonate", "serviceaccounts", *ns),
        ("get", f"{lease}/kube-controller-manager", *ns),  # only its own Lease
        ("update", f"{lease}/dso-dashstream-operator", *ns),
        ("delete", f"{lease}/dso-dashstream-operator", *ns),
        ("create", lease, "-n", other_namespace),
    ]
    for verb, resource, *extra in denied:
        assert not can_i(kubectl, sa, verb, resource, *extra), f"{verb} {resource} {extra}"

    # watchAllNamespaces: the same rules everywhere, still no Secret listing, no CRD writes.
    run(helm, "upgrade", "dso", str(CHART), "--namespace", namespace, "--skip-crds",
        "--set", "watchAllNamespaces=true")
    assert can_i(kubectl, sa, "get", "secrets", "-n", other_namespace)
    assert can_i(kubectl, sa, "patch", OWN[0], "-n", other_namespace)
    assert can_i(kubectl, sa, "list", OWN[0], "--all-namespaces")
    for verb, resource, *extra in [("list", "secrets", "--all-namespaces"),
                                   ("delete", "customresourcedefinitions.apiextensions.k8s.io"),
                                   ("*", "*", "--all-namespaces"),
                                   ("create", "pods", "-n", other_namespace)]:
        assert not can_i(kubectl, sa, verb, resource, *extra), f"{verb} {resource} {extra}"
    run(helm, "upgrade", "dso", str(CHART), "--namespace", namespace, "--skip-crds",
        "--set", "rbac.readPrometheuses=false")
    assert not can_i(kubectl, sa, "list", prometheuses, "--all-namespaces")
    run(helm, "uninstall", "dso", "--namespace", namespace, "--wait")


# --- the real operator under the chart's ServiceAccount -----------------------------

def service_account_kubeconfig(kubectl: str, namespace: str, sa: str, path: Path) -> Path:
    """A kubeconfig for the same API server that authenticates as the ServiceAccount."""
    token = run(kubectl, "create", "token", sa, "-n", namespace, "--duration=1h").stdout.strip()
    admin = json.loads(run(kubectl, "config", "view", "--raw", "--minify", "-o", "json").stdout)
    cluster = admin["clusters"][0]["cluster"]
    if "certificate-authority" in cluster:  # embed, so the file stands on its own
        ca = Path(cluster.pop("certificate-authority")).read_bytes()
        cluster["certificate-authority-data"] = base64.b64encode(ca).decode()
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "local", "cluster": cluster}],
        "users": [{"name": sa, "user": {"token": token}}],
        "contexts": [{"name": "sa", "context": {"cluster": "local", "user": sa,
                                               "namespace": namespace}}],
        "current-context": "sa"}))
    return path


def ready_for_generation(obj: dict[str, Any], status: str = "True") -> bool:
    cond = condition(obj, "Ready")
    return bool(cond and cond["status"] == status and cond.get("observedGeneration")
                == obj["metadata"]["generation"])


NO_COMPONENTS = {"websocketServer": {"enabled": False}, "prometheusExporter": {"enabled": False},
                 "qualityMonitor": {"enabled": False}}


def test_operator_works_with_exactly_the_charts_permissions(
        helm: str, kubectl: str, kube_api: client.ApiClient, namespace: str, kafka_admin: Any,
        kafka_bootstrap: str, crds_installed: list[str], artifacts_dir: Path,
        tmp_path: Path, release: str) -> None:
    events, dlq = f"t-chart-{secrets.token_hex(3)}", f"t-chart-{secrets.token_hex(3)}-dlq"
    values = {"kafka": {"bootstrapServers": kafka_bootstrap},
              "defaultPipeline": {"enabled": True, "name": "quality", "components": NO_COMPONENTS,
                                  "topics": [{"name": events, "role": "events", "partitions": 2},
                                             {"name": dlq, "role": "dlq"}]},
              "defaultAlertRules": {"enabled": True}, "defaultDashboards": {"enabled": True}}
    (tmp_path / "values.yaml").write_text(yaml.safe_dump(values))
    run(helm, "install", "dso", str(CHART), "--namespace", namespace, "--skip-crds",
        "-f", str(tmp_path / "values.yaml"))
    custom = client.CustomObjectsApi(kube_api)
    for plural, name in (("alertrulesets", "dashstream"), ("dashboardsets", "dashstream")):
        custom.get_namespaced_custom_object("dashstream.io", "v1alpha1", namespace, plural, name)
    kubeconfig = service_account_kubeconfig(kubectl, namespace, "dso-dashstream-operator",
                                            tmp_path / "sa.kubeconfig")
    sasl = {"mechanism": "PLAIN", "usernameSecretRef": {"name": "absent", "key": "u"},
            "passwordSecretRef": {"name": "absent", "key": "p"}}
    # More objects in every state: (kind, name, spec, Ready status, Ready reason, health).
    others: list[tuple[str, str, dict[str, Any], str, str, str]] = [
        ("DashStreamPipeline", "no-secret",
         {"kafka": {"bootstrapServers": kafka_bootstrap, "securityProtocol": "SASL_PLAINTEXT",
                    "sasl": sasl},
          "topics": [{"name": f"{events}-x", "role": "events"}], "components": NO_COMPONENTS},
         "False", "KafkaSecretMissing", "Degraded"),
        ("DashStreamPipeline", "no-kafka",
         {"kafka": {"bootstrapServers": "127.0.0.1:9"},
          "topics": [{"name": f"{events}-y", "role": "events"}], "components": NO_COMPONENTS},
         "False", "KafkaUnavailable", "Progressing"),
        # Deployments are created (the chart's RBAC allows it); their pods never run
        # (they do not tolerate the local node's taint).
        ("DashStreamPipeline", "no-pods",
         {"kafka": {"bootstrapServers": kafka_bootstrap},
          "topics": [{"name": f"{events}-z", "role": "events"}]},
         "False", "ReplicasUnavailable", "Progressing"),
        ("AlertRuleSet", "no-source",
         {"groupsFrom": {"configMapKeyRef": {"name": "absent", "key": "rules.yaml"}}},
         "False", "SourceNotFound", "Degraded"),
        ("DashboardSet", "no-uid",
         {"dashboards": [{"name": "bad", "json": '{"title": "no uid", "panels": []}'}]},
         "False", "InvalidDashboard", "Degraded"),
    ]

    def reached(kind: str, name: str, status: str = "True") -> dict[str, Any]:
        obj = get_cr(kube_api, kind, namespace, name)
        return obj if ready_for_generation(obj, status) else {}

    try:
        with run_operator([namespace], artifacts_dir / "logs", resync=3.0,
                          env={"KUBECONFIG": str(kubeconfig)}) as op:
            for kind, name, spec, *_ in others:
                custom.create_namespaced_custom_object(
                    "dashstream.io", "v1alpha1", namespace, PLURALS[kind],
                    {"apiVersion": "dashstream.io/v1alpha1", "kind": kind,
                     "metadata": {"name": name}, "spec": spec})
            # The chart's own CRs: the pipeline, the canonical rules and dashboards.
            for kind, name in (("DashStreamPipeline", "quality"), ("AlertRuleSet", "dashstream"),
                               ("DashboardSet", "dashstream")):
                live, _ = wait_until(partial(reached, kind, name), timeout=120,
                                     what=f"{kind} {name} Ready (operator on the SA's token)")
                assert health(live) == "Healthy", live["status"]
            assert broker_topic(kafka_admin, events) is not None
            assert broker_topic(kafka_admin, dlq) is not None
            for kind, name, _, status, reason, want in others:
                live, _ = wait_until(partial(reached, kind, name, status),
                                     timeout=90, what=f"{kind} {name} Ready={status}")
                assert (condition(live, "Ready") or {}).get("reason") == reason, live["status"]
                assert health(live) == want, (name, live["status"])
            # GitOps: the operator wrote status only; Helm's manifest still matches.
            manifest = run(helm, "get", "manifest", "dso", "--namespace", namespace).stdout
            ours = [d for d in yaml.safe_load_all(manifest)
                    if d and d["kind"] in SPECS]
            for doc in ours:
                got = get_cr(kube_api, doc["kind"], namespace, doc["metadata"]["name"])
                assert got["spec"] == doc["spec"]
                assert got["metadata"].get("labels") == doc["metadata"]["labels"]
                helm_own = {k: v for k, v in got["metadata"]["annotations"].items()
                            if not k.startswith("meta.helm.sh/")}  # release bookkeeping
                assert helm_own == doc["metadata"]["annotations"]
            diff = run(kubectl, "diff", "--server-side", "--force-conflicts", "-n", namespace,
                       "-f", "-", stdin=yaml.safe_dump_all(ours), ok=False)
            assert diff.returncode == 0, diff.stdout + diff.stderr
            # Everything the operator did with the chart's permissions, up to uninstall:
            # uninstall removes its Role too, so requests after that may rightly be refused.
            log = op.log()
            op.expect_errors(r"(?i)forbidden|\b403\b")
            # Uninstall deletes the chart's CRs; topics stay (topicDeletionPolicy Retain).
            run(helm, "uninstall", "dso", "--namespace", namespace, "--wait")
            wait_until(lambda: not exists_cr(kube_api, "DashStreamPipeline", namespace, "quality"),
                       timeout=30, what="the chart's pipeline deleted")
            assert op.alive(), op.log()[-3000:]
        assert broker_topic(kafka_admin, events) is not None, "uninstall kept the topic"
        assert broker_topic(kafka_admin, dlq) is not None
        forbidden = [line for line in log.splitlines() if "forbidden" in line.lower()
                     or " 403" in line]
        assert not forbidden, "\n".join(forbidden[:10])
    finally:
        for f in kafka_admin.delete_topics([events, dlq], operation_timeout=30).values():
            with contextlib.suppress(Exception):  # best effort: the test's own topics
                f.result(timeout=30)


def test_without_read_access_to_prometheuses_selection_is_unknown_not_fatal(
        helm: str, kubectl: str, kube_api: client.ApiClient, namespace: str,
        crds_installed: list[str], thirdparty_crds: list[str], prometheus_operator: str,
        artifacts_dir: Path, tmp_path: Path, release: str) -> None:
    """rbac.readPrometheuses=false: the operator may not watch Prometheus objects (kopf
    would stop on a refused watch); it runs on and says it cannot tell."""
    run(helm, "install", "dso", str(CHART), "--namespace", namespace, "--skip-crds",
        "--set", "rbac.readPrometheuses=false", "--set", "defaultAlertRules.enabled=true")
    sa = f"system:serviceaccount:{namespace}:dso-dashstream-operator"
    assert not can_i(kubectl, sa, "list", "prometheuses.monitoring.coreos.com", "-A")
    kubeconfig = service_account_kubeconfig(kubectl, namespace, "dso-dashstream-operator",
                                            tmp_path / "sa.kubeconfig")
    with run_operator([namespace], artifacts_dir / "logs", resync=1.0,
                      env={"KUBECONFIG": str(kubeconfig)}) as op:
        def selected() -> dict[str, Any] | None:
            cond = condition(get_cr(kube_api, "AlertRuleSet", namespace, "dashstream"),
                             "Selected")
            return cond if cond and cond["reason"] == "SelectionUnknown" else None

        cond, _ = wait_until(selected, timeout=60, what="Selected SelectionUnknown")
        assert cond["status"] == "True"
        assert "not allowed to list Prometheus objects" in cond["message"], cond
        op.wait_passes(2)
        assert op.alive(), op.log()[-3000:]
    run(helm, "uninstall", "dso", "--namespace", namespace, "--wait")


@pytest.mark.parametrize("fixture", sorted(
    (REPO / "tests/data/argocd/dashstream.io").glob("*/testdata/*.yaml")),
    ids=lambda p: f"{p.parent.parent.name}-{p.stem}")
def test_health_fixtures_are_objects_the_api_server_keeps(
        kube_api: client.ApiClient, namespace: str, crds_installed: list[str],
        fixture: Path) -> None:
    """The Argo CD fixtures are real objects: created, their status written through
    /status, read back unchanged (nothing pruned or refused by the CRD schema)."""
    obj = yaml.safe_load(fixture.read_text())
    plural = PLURALS[obj["kind"]]
    custom = client.CustomObjectsApi(kube_api)
    body = {"apiVersion": obj["apiVersion"], "kind": obj["kind"],
            "metadata": {"name": obj["metadata"]["name"]}, "spec": obj["spec"]}
    custom.create_namespaced_custom_object("dashstream.io", "v1alpha1", namespace, plural, body)
    if "status" in obj:
        custom.patch_namespaced_custom_object_status(
            "dashstream.io", "v1alpha1", namespace, plural, obj["metadata"]["name"],
            {"status": obj["status"]})
    got = get_cr(kube_api, obj["kind"], namespace, obj["metadata"]["name"])
    assert got.get("status") == obj.get("status")
    assert got["spec"] == obj["spec"]
