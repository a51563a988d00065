"""The chart rendered, with real helm: lint and template clean (default and
all-options values), RBAC without wildcards, strict values schema, CRDs identical to
crds/, default CRs built from the canonical rules and dashboards, the Argo CD
Application's sync waves; gen_chart.py --check fails on a hand edit.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from dashstream_operator.models import AlertRuleSetSpec, DashboardSetSpec
from support.chart import (
    ALL_OPTIONS,
    CHART,
    KUBE_VERSION,
    SPECS,
    by_kind,
    one,
    run,
    template,
)
from support.env import REPO, require_env

# --- lint and template --------------------------------------------------------------------

@pytest.mark.parametrize("values", [[], ["-f", str(ALL_OPTIONS)]], ids=["default", "all-options"])
def test_helm_lint_is_clean(helm: str, values: list[str]) -> None:
    res = run(helm, "lint", str(CHART), "--strict", "--kube-version", KUBE_VERSION, *values)
    findings = [line for line in res.stdout.splitlines() if line.startswith("[")]
    # The only finding allowed: Chart.yaml has no icon (we publish none).
    assert findings == ["[INFO] Chart.yaml: icon is recommended"], res.stdout
    assert "1 chart(s) linted, 0 chart(s) failed" in res.stdout


def watched_roles(docs: list[dict[str, Any]], kind: str = "Role") -> list[dict[str, Any]]:
    """The Roles (or bindings) of watched namespaces: all but the leader Lease's."""
    return [d for d in by_kind(docs, kind) if not d["metadata"]["name"].endswith("-leader")]


def test_template_default_values(helm: str) -> None:
    docs = template(helm)
    assert sorted(d["kind"] for d in docs) == sorted([
        "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding",
        "Role", "RoleBinding",  # the leader-election Lease's
        "PodDisruptionBudget", "Service", "Deployment", "Pod"])  # Pod: the helm test hook
    dep = one(docs, "Deployment")
    assert dep["spec"]["replicas"] == 2 and dep["spec"]["strategy"] == {
        "type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
    assert one(docs, "PodDisruptionBudget")["spec"]["minAvailable"] == 1
    pod = dep["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == "dashstream/dashstream-operator:0.1.0"
    assert container["args"][:2] == ["--namespace=dashstream-system",
                                     "--liveness=http://0.0.0.0:8080/healthz"]
    assert "--leader-elect" in container["args"]
    assert "--leader-elect-lease=dashstream-operator" in container["args"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["DASHSTREAM_DEFAULT_IMAGE"] == "dashstream/dashstream-workloads:0.1.0"
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert container["resources"]["requests"] and container["resources"]["limits"]
    # Pod Security "restricted", and a writable /tmp on a read-only root filesystem.
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = container["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    (role,) = watched_roles(docs)
    assert role["metadata"]["namespace"] == "dashstream-system"
    (lease_role,) = [r for r in by_kind(docs, "Role") if r not in watched_roles(docs)]
    assert lease_role["rules"] == [
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
         "resourceNames": ["dashstream-operator"], "verbs": ["get", "patch"]}]
    crd_role = one(docs, "ClusterRole")
    # Cluster-wide, read-only: what kopf needs to observe the cluster, and the
    # Prometheus objects whose selectors decide whether our monitors are scraped.
    assert crd_role["rules"] == [{"apiGroups": ["apiextensions.k8s.io"],
                                  "resources": ["customresourcedefinitions"],
                                  "verbs": ["get", "list", "watch"]},
                                 {"apiGroups": [""], "resources": ["namespaces"],
                                  "verbs": ["list", "watch"]},
                                 {"apiGroups": ["monitoring.coreos.com"],
                                  "resources": ["prometheuses", "prometheusagents",
                                                "thanosrulers"],
                                  "verbs": ["get", "list", "watch"]}]
    svc = one(docs, "Service")
    assert svc["spec"]["ports"][0]["targetPort"] == "http"
    assert svc["spec"]["selector"].items() <= dep["spec"]["template"]["metadata"]["labels"].items()


def test_template_all_options(helm: str) -> None:
    docs = template(helm, "-f", str(ALL_OPTIONS))
    kinds = sorted(d["kind"] for d in docs)
    assert kinds == sorted([
        "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "ClusterRole",
        "ClusterRoleBinding", "Role", "RoleBinding", "PodDisruptionBudget", "Service",
        "Deployment", "ServiceMonitor", "DashStreamPipeline", "AlertRuleSet", "DashboardSet",
        "Pod"]), "watchAllNamespaces: no Roles but the Lease's"
    assert one(docs, "Deployment")["spec"]["replicas"] == 3
    dep = one(docs, "Deployment")
    (container,) = dep["spec"]["template"]["spec"]["containers"]
    assert container["image"] == ("images.example/dashstream/dashstream-operator@sha256:"
                                  "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
    assert "--all-namespaces" in container["args"] and "--verbose" in container["args"]
    assert not [a for a in container["args"] if a.startswith("--namespace")]
    sm = one(docs, "ServiceMonitor")
    assert sm["metadata"]["labels"]["release"] == "prometheus"
    assert sm["spec"]["endpoints"][0]["port"] == "http"
    pipeline = one(docs, "DashStreamPipeline")["spec"]
    assert pipeline["scheduling"]["tolerations"][0]["key"] == "dashstream.dev/node"
    for kind in SPECS:
        cr = one(docs, kind)
        SPECS[kind].from_body(cr)
        assert cr["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"] == "2"


@pytest.mark.parametrize("values", [[], ["-f", str(ALL_OPTIONS)]], ids=["default", "all-options"])
def test_rbac_has_no_wildcards_and_reads_secrets_only_by_name(helm: str,
                                                              values: list[str]) -> None:
    docs = template(helm, *values)
    roles = by_kind(docs, "Role") + by_kind(docs, "ClusterRole")
    assert roles
    for role in roles:
        for rule in role["rules"]:
            for key in ("apiGroups", "resources", "verbs"):
                assert "*" not in rule[key], (role["metadata"]["name"], rule)
            if "secrets" in rule["resources"]:
                assert rule["verbs"] == ["get"], "no list/watch of Secrets"
            if all(r.endswith("/finalizers") for r in rule["resources"]):
                # Required to set blockOwnerDeletion on children's ownerReferences.
                assert rule["verbs"] == ["update"], rule
                continue
            assert not {"update", "deletecollection", "escalate", "bind",
                        "impersonate"} & set(rule["verbs"])


def test_watch_namespaces_get_a_role_each(helm: str) -> None:
    docs = template(helm, "--set", "watchNamespaces={team-a,team-b}")
    assert sorted(r["metadata"]["namespace"] for r in watched_roles(docs)) == [
        "team-a", "team-b"]
    assert sorted(b["metadata"]["namespace"] for b in watched_roles(docs, "RoleBinding")) == [
        "team-a", "team-b"]
    (container,) = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert [a for a in container["args"] if a.startswith("--namespace")] == [
        "--namespace=team-a", "--namespace=team-b"]
    all_ns = template(helm, "--set", "watchAllNamespaces=true")
    assert not watched_roles(all_ns)
    rules = {r["metadata"]["name"]: r["rules"] for r in by_kind(all_ns, "ClusterRole")}
    assert watched_roles(docs)[0]["rules"] in rules.values(), "same rules cluster-wide"


@pytest.mark.parametrize(("args", "complaint"), [
    (["--set", "bogus=1"], "additional properties 'bogus' not allowed"),
    (["--set", "image.pullPolicy=Sometimes"], "pullPolicy"),
    (["--set", "watchNamespaces={Not_A_Namespace}"], "watchNamespaces"),
    (["--set", "defaultPipeline.enabled=true"], "kafka"),
    (["--set", "defaultPipeline.enabled=true", "--set", "kafka.bootstrapServers=no-port"],
     "bootstrapServers"),
    (["--set", "kafka.securityProtocol=SASL_MD5"], "securityProtocol"),
    (["--set-json", 'defaultPipeline.topics=[{"name":"t","partitions":"3"}]'], "partitions"),
    (["--set", "defaultAlertRules.validation.unknownMetrics=Ignore"], "unknownMetrics"),
    (["--set", "defaultDashboards.targets.sidecar.colour=blue"], "colour"),
], ids=["unknown-key", "pull-policy", "namespace-name", "pipeline-without-kafka",
        "bad-bootstrap", "bad-protocol", "partitions-type", "bad-policy", "unknown-cr-field"])
def test_values_schema_is_strict(helm: str, args: list[str], complaint: str) -> None:
    res = run(helm, "template", "x", str(CHART), "--kube-version", KUBE_VERSION, *args, ok=False)
    assert res.returncode != 0, "accepted"
    assert complaint in res.stderr, res.stderr


def test_chart_crds_are_the_generated_crds(helm: str) -> None:
    for path in sorted((REPO / "crds").glob("*.yaml")):
        assert (CHART / "crds" / path.name).read_bytes() == path.read_bytes(), path.name
    rendered = by_kind(template(helm, "--include-crds"), "CustomResourceDefinition")
    want = [yaml.safe_load(p.read_text()) for p in sorted((REPO / "crds").glob("*.yaml"))]
    key = lambda d: d["metadata"]["name"]  # noqa: E731
    assert sorted(rendered, key=key) == sorted(want, key=key)


def test_default_crs_come_from_the_canonical_files(helm: str) -> None:
    docs = template(helm, "-f", str(ALL_OPTIONS))
    rules = one(docs, "AlertRuleSet")
    files = sorted(p for p in (REPO / "alert-rules").glob("*.yaml"))
    assert files, "alert-rules/ is empty"
    groups = [g for p in files for g in yaml.safe_load(p.read_text())["groups"]]
    assert rules["spec"]["groups"] == groups
    AlertRuleSetSpec.from_body(rules)
    boards = one(docs, "DashboardSet")
    want = {p.stem: p.read_text() for p in sorted((REPO / "dashboards").glob("*.json"))}
    assert {d["name"]: d["json"] for d in boards["spec"]["dashboards"]} == want
    assert boards["spec"]["folder"] == "DashStream"
    DashboardSetSpec.from_body(boards)


def test_argocd_application_orders_crds_operator_crs(helm: str) -> None:
    app = yaml.safe_load((REPO / "manifests/argocd/application.yaml").read_text())
    crds_src, chart_src = app["spec"]["sources"]
    assert set(app["spec"]["syncPolicy"]["syncOptions"]) >= {
        "ServerSideApply=true", "SkipDryRunOnMissingResource=true"}
    kust = yaml.safe_load((REPO / crds_src["path"] / "kustomization.yaml").read_text())
    assert kust["commonAnnotations"] == {"argocd.argoproj.io/sync-wave": "-1",
                                         "argocd.argoproj.io/sync-options":
                                         "Prune=false,Delete=false"}
    assert chart_src["path"] == "charts/dashstream-operator" and chart_src["helm"]["skipCrds"]
    values = yaml.safe_dump(chart_src["helm"]["valuesObject"])
    docs = [d for d in yaml.safe_load_all(run(
        helm, "template", "dashstream-operator", str(REPO / chart_src["path"]), "--namespace",
        app["spec"]["destination"]["namespace"], "--kube-version", KUBE_VERSION,
        "--skip-tests", "-f", "-", stdin=values).stdout) if d]
    waves = {d["kind"]: (d["metadata"].get("annotations") or {}).get(
        "argocd.argoproj.io/sync-wave", "0") for d in docs}
    assert {waves[k] for k in SPECS} == {"1"}
    assert {w for k, w in waves.items() if k not in SPECS} == {"0"}


# --- generated copies ---------------------------------------------------------------------

def test_gen_chart_check_fails_after_a_hand_edit(tmp_path: Path) -> None:
    require_env("HELM")
    repo = tmp_path / "repo"
    for part in ("scripts", "alert-rules", "dashboards", "charts", "manifests", "crds"):
        shutil.copytree(REPO / part, repo / part)
    script = [sys.executable, str(repo / "scripts/gen_chart.py")]
    assert run(*script, "--check").returncode == 0
    crd = repo / "charts/dashstream-operator/crds/dashstream.io_dashstreampipelines.yaml"
    crd.write_text(crd.read_text().replace("shortNames:", "shortNames:\n    - pipe"))
    (repo / "charts/dashstream-operator/files/dashboards/hand-made.json").write_text("{}")
    install = repo / "manifests/install/dashstream-operator.yaml"
    install.write_text(install.read_text().replace("replicas: 2", "replicas: 3"))
    res = run(*script, "--check", ok=False)
    assert res.returncode == 1
    assert "charts/dashstream-operator/crds/dashstream.io_dashstreampipelines.yaml" in res.stdout
    assert "files/dashboards/hand-made.json: stale" in res.stdout
    assert "manifests/install/dashstream-operator.yaml" in res.stdout
    assert "differs" in res.stdout and "make generate" in res.stderr
    run(*script)
    assert run(*script, "--check").returncode == 0
    assert not (repo / "charts/dashstream-operator/files/dashboards/hand-made.json").exists()
