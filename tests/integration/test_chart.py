"""The delivery artefacts with real helm, kubectl, kube-apiserver and Kafka (issue 8).

- the chart: lint and template clean (default and all-options values), strict values
  schema, CRDs identical to crds/, default CRs built from the canonical rules and
  dashboards; install, upgrade and uninstall in the local control plane;
- least privilege: a `kubectl auth can-i` matrix for the chart's ServiceAccount, and
  the real operator run with exactly that ServiceAccount's token reconciling a
  pipeline (its live objects also go through the Argo CD health checks);
- manifests/: every file passes `kubectl apply --dry-run=server`, examples parse;
- gen_chart.py --check fails on a hand edit.

The CRDs are cluster-scoped and shared with other tests (the crds_installed fixture),
so releases are installed with --skip-crds except one that shows install copes with
CRDs that already exist; helm never deletes CRDs.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from lupa.lua51 import LuaRuntime

from dashstream_operator.models import AlertRuleSetSpec, DashboardSetSpec, DashStreamPipelineSpec
from dashstream_operator.validation.dashboards import validate_dashboard
from dashstream_operator.validation.promql import metric_names
from dashstream_workloads.contract import known_series
from support.env import REPO, require_env
from support.operator import run_operator
from support.pipelines import broker_topic, condition
from support.wait import wait_until

pytestmark = pytest.mark.integration

CHART = REPO / "charts/dashstream-operator"
ALL_OPTIONS = CHART / "ci/all-options-values.yaml"
KUBE_VERSION = "1.29.0"  # Chart.yaml kubeVersion's minimum
SPECS: dict[str, Any] = {"DashStreamPipeline": DashStreamPipelineSpec,
                         "AlertRuleSet": AlertRuleSetSpec, "DashboardSet": DashboardSetSpec}
PLURALS = {"DashStreamPipeline": "dashstreampipelines", "AlertRuleSet": "alertrulesets",
           "DashboardSet": "dashboardsets"}
ARGOCD_MODULE = "github.com/argoproj/argo-cd/v3@v3.5.1"


# --- tools ------------------------------------------------------------------------------

def run(*cmd: str, ok: bool = True, env: dict[str, str] | None = None,
        stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(list(cmd), capture_output=True, text=True, input=stdin,
                         env={**os.environ, **(env or {})}, timeout=300, check=False)
    if ok and res.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} exited {res.returncode}:\n{res.stdout}\n{res.stderr}")
    return res


@pytest.fixture(scope="module")
def helm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = require_env("HELM")
    require_env("KUBECONFIG")
    home = tmp_path_factory.mktemp("helm-home")
    saved = {k: os.environ.get(k) for k in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME",
                                            "HELM_DATA_HOME")}
    # No user state (repositories, plugins) leaks into the tests.
    os.environ.update(HELM_CACHE_HOME=str(home / "cache"), HELM_CONFIG_HOME=str(home / "config"),
                      HELM_DATA_HOME=str(home / "data"))
    yield binary
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="module")
def kubectl() -> str:
    require_env("KUBECONFIG")
    return require_env("KUBECTL")


def template(helm: str, *args: str, namespace: str = "dashstream-system") -> list[dict[str, Any]]:
    res = run(helm, "template", "dashstream-operator", str(CHART), "--namespace", namespace,
              "--kube-version", KUBE_VERSION, *args)
    assert res.stderr == "", f"helm template warned:\n{res.stderr}"
    return [d for d in yaml.safe_load_all(res.stdout) if d]


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = by_kind(docs, kind)
    assert len(found) == 1, f"{len(found)} {kind} objects"
    return found[0]


def as_dict(api: client.ApiClient, obj: Any) -> dict[str, Any]:
    """A client model or raw response as the plain dict the API server sent."""
    out: dict[str, Any] = api.sanitize_for_serialization(obj)
    return out


def get_cr(api: client.ApiClient, kind: str, namespace: str, name: str) -> dict[str, Any]:
    return as_dict(api, client.CustomObjectsApi(api).get_namespaced_custom_object(
        "dashstream.io", "v1alpha1", namespace, PLURALS[kind], name))


def health(obj: dict[str, Any]) -> str:
    """The Argo CD health status our Lua check gives this object (Lua 5.1, as Argo CD)."""
    script = (REPO / "manifests/argocd/health/dashstream.io" / obj["kind"] / "health.lua")
    lua = LuaRuntime(unpack_returned_tuples=True)
    lua.globals().obj = lua.table_from(obj, recursive=True)
    return str(lua.execute(script.read_text())["status"])


# --- lint and template --------------------------------------------------------------------

@pytest.mark.parametrize("values", [[], ["-f", str(ALL_OPTIONS)]], ids=["default", "all-options"])
def test_helm_lint_is_clean(helm: str, values: list[str]) -> None:
    res = run(helm, "lint", str(CHART), "--strict", "--kube-version", KUBE_VERSION, *values)
    findings = [line for line in res.stdout.splitlines() if line.startswith("[")]
    # The only finding allowed: Chart.yaml has no icon (we publish none).
    assert findings == ["[INFO] Chart.yaml: icon is recommended"], res.stdout
    assert "1 chart(s) linted, 0 chart(s) failed" in res.stdout


def test_template_default_values(helm: str) -> None:
    docs = template(helm)
    assert sorted(d["kind"] for d in docs) == sorted([
        "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding",
        "Service", "Deployment", "Pod"])  # Pod: the helm test hook
    dep = one(docs, "Deployment")
    assert dep["spec"]["replicas"] == 1 and dep["spec"]["strategy"] == {"type": "Recreate"}
    pod = dep["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == "dashstream/dashstream-operator:0.1.0"
    assert container["args"][:2] == ["--namespace=dashstream-system",
                                     "--liveness=http://0.0.0.0:8080/healthz"]
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
    role = one(docs, "Role")
    assert role["metadata"]["namespace"] == "dashstream-system"
    crd_role = one(docs, "ClusterRole")
    # Cluster-wide, read-only, and only what kopf needs to observe the cluster.
    assert crd_role["rules"] == [{"apiGroups": ["apiextensions.k8s.io"],
                                  "resources": ["customresourcedefinitions"],
                                  "verbs": ["get", "list", "watch"]},
                                 {"apiGroups": [""], "resources": ["namespaces"],
                                  "verbs": ["list", "watch"]}]
    svc = one(docs, "Service")
    assert svc["spec"]["ports"][0]["targetPort"] == "http"
    assert svc["spec"]["selector"].items() <= dep["spec"]["template"]["metadata"]["labels"].items()


def test_template_all_options(helm: str) -> None:
    docs = template(helm, "-f", str(ALL_OPTIONS))
    kinds = sorted(d["kind"] for d in docs)
    assert kinds == sorted([
        "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "ClusterRole",
        "ClusterRoleBinding", "Service", "Deployment", "ServiceMonitor", "DashStreamPipeline",
        "AlertRuleSet", "DashboardSet", "Pod"]), "watchAllNamespaces: no Roles"
    dep = one(docs, "Deployment")
    (container,) = dep["spec"]["template"]["spec"]["containers"]
    assert container["image"] == ("images.example/dashstream/dashstream-operator@sha256:"
                                  "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
    assert "--all-namespaces" in container["args"] and "--verbose" in container["args"]
    assert not [a for a in container["args"] if a.startswith("--namespace")]
    sm = one(docs, "ServiceMonitor")
    assert sm["metadata"]["labels"]["release"] == "prometheus"
    assert sm["spec"]["endpoints"][0]["port"] == "http"
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
            assert not {"update", "deletecollection", "escalate", "bind",
                        "impersonate"} & set(rule["verbs"])


def test_watch_namespaces_get_a_role_each(helm: str) -> None:
    docs = template(helm, "--set", "watchNamespaces={team-a,team-b}")
    assert sorted(r["metadata"]["namespace"] for r in by_kind(docs, "Role")) == [
        "team-a", "team-b"]
    assert sorted(b["metadata"]["namespace"] for b in by_kind(docs, "RoleBinding")) == [
        "team-a", "team-b"]
    (container,) = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert [a for a in container["args"] if a.startswith("--namespace")] == [
        "--namespace=team-a", "--namespace=team-b"]
    all_ns = template(helm, "--set", "watchAllNamespaces=true")
    assert not by_kind(all_ns, "Role")
    rules = {r["metadata"]["name"]: r["rules"] for r in by_kind(all_ns, "ClusterRole")}
    assert by_kind(docs, "Role")[0]["rules"] in rules.values(), "same rules cluster-wide"


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


def test_notes_say_what_to_do_next(helm: str) -> None:
    # --dry-run=server: the cluster's version passes kubeVersion; nothing is created.
    res = run(helm, "install", "x", str(CHART), "--dry-run=server", "--namespace", "apps",
              "--set", "watchNamespaces={team-a}", "--set", "defaultAlertRules.enabled=true")
    notes = res.stdout.split("NOTES:", 1)[1]
    assert "kubectl get dsp,ars,dbs -n team-a" in notes
    assert "manifests/examples/pipeline-minimal.yaml" in notes
    assert "WARNING: apps is not a watched namespace" in notes


# --- the local control plane ----------------------------------------------------------

def create_namespace(api: client.ApiClient, name: str) -> bool:
    """Create it (restricted Pod Security) unless it exists; True if created here."""
    core = client.CoreV1Api(api)
    try:
        if as_dict(api, core.read_namespace(name)).get("status", {}).get("phase") != "Terminating":
            return False
        # Left over by a previous run and still being deleted: wait, then make it anew.
        wait_until(lambda: not exists(api, "Namespace", name), timeout=120,
                   what=f"namespace {name} deleted")
    except client.ApiException as exc:
        if exc.status != 404:
            raise
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels={
        "dashstream.io/test": "true", "pod-security.kubernetes.io/enforce": "restricted"})))
    return True


@pytest.fixture
def other_namespace(kube_api: client.ApiClient) -> Iterator[str]:
    name = f"t-other-{secrets.token_hex(4)}"
    create_namespace(kube_api, name)
    yield name
    client.CoreV1Api(kube_api).delete_namespace(name)


@pytest.fixture
def release(helm: str, namespace: str) -> Iterator[str]:
    """The release name "dso" in the test namespace, uninstalled afterwards whatever
    happened: its ClusterRoles and bindings outlive the namespace otherwise."""
    yield "dso"
    run(helm, "uninstall", "dso", "--namespace", namespace, "--ignore-not-found", ok=False)


def exists(api: client.ApiClient, kind: str, name: str, namespace: str = "") -> bool:
    calls = {
        "Deployment": lambda: client.AppsV1Api(api).read_namespaced_deployment(name, namespace),
        "ServiceAccount": lambda: client.CoreV1Api(api).read_namespaced_service_account(
            name, namespace),
        "Service": lambda: client.CoreV1Api(api).read_namespaced_service(name, namespace),
        "Role": lambda: client.RbacAuthorizationV1Api(api).read_namespaced_role(name, namespace),
        "ClusterRole": lambda: client.RbacAuthorizationV1Api(api).read_cluster_role(name),
        "CRD": lambda: client.ApiextensionsV1Api(api).read_custom_resource_definition(name),
        "Namespace": lambda: client.CoreV1Api(api).read_namespace(name),
    }
    try:
        calls[kind]()
        return True
    except client.ApiException as exc:
        if exc.status == 404:
            return False
        raise


def operator_container(api: client.ApiClient, ns: str, name: str) -> dict[str, Any]:
    dep = as_dict(api, client.AppsV1Api(api).read_namespaced_deployment(name, ns))
    container: dict[str, Any] = dep["spec"]["template"]["spec"]["containers"][0]
    return container


def deployment_args(api: client.ApiClient, ns: str, name: str) -> list[str]:
    return list(operator_container(api, ns, name)["args"])


def test_install_upgrade_uninstall(helm: str, kube_api: client.ApiClient, namespace: str,
                                   other_namespace: str, crds_installed: list[str],
                                   release: str) -> None:
    # Without --skip-crds: install copes with CRDs that already exist (it leaves them).
    res = run(helm, "install", "dso", str(CHART), "--namespace", namespace)
    assert "kubectl get dsp,ars,dbs" in res.stdout
    assert "PodSecurity" not in res.stderr, res.stderr  # no restricted-policy warnings
    name = "dso-dashstream-operator"
    for crd in crds_installed:
        assert exists(kube_api, "CRD", crd)
    for kind in ("Deployment", "ServiceAccount", "Service", "Role"):
        assert exists(kube_api, kind, name, namespace), kind
    assert exists(kube_api, "ClusterRole", f"{name}-{namespace}-observe")
    # No kubelet here, but the ReplicaSet controller creates the pod: Pod Security
    # admission of the "restricted" namespace accepted the operator's pod.
    core = client.CoreV1Api(kube_api)
    wait_until(lambda: core.list_namespaced_pod(
        namespace, label_selector="app.kubernetes.io/instance=dso").items,
        timeout=60, what="the operator pod to be created")
    assert f"--namespace={namespace}" in deployment_args(kube_api, namespace, name)

    run(helm, "upgrade", "dso", str(CHART), "--namespace", namespace, "--set",
        f"watchNamespaces={{{namespace},{other_namespace}}}", "--set",
        "operator.resyncInterval=45", "--set", "workloadImage.tag=9.9.9")
    args = deployment_args(kube_api, namespace, name)
    assert {f"--namespace={namespace}", f"--namespace={other_namespace}",
            "--resync-interval=45"} <= set(args)
    assert exists(kube_api, "Role", name, other_namespace)
    env = {e["name"]: e.get("value") for e in operator_container(kube_api, namespace, name)["env"]}
    assert env["DASHSTREAM_DEFAULT_IMAGE"] == "dashstream/dashstream-workloads:9.9.9"

    # Back to the defaults (helm reuses the last values unless told not to): the extra
    # namespace's Role is pruned.
    run(helm, "upgrade", "dso", str(CHART), "--namespace", namespace, "--reset-values")
    assert not exists(kube_api, "Role", name, other_namespace), "pruned on upgrade"
    assert f"--namespace={other_namespace}" not in deployment_args(kube_api, namespace, name)

    run(helm, "uninstall", "dso", "--namespace", namespace, "--wait")
    for kind in ("Deployment", "ServiceAccount", "Service", "Role"):
        assert not exists(kube_api, kind, name, namespace), kind
    assert not exists(kube_api, "ClusterRole", f"{name}-{namespace}-observe")
    for crd in crds_installed:
        assert exists(kube_api, "CRD", crd), "helm never deletes CRDs (or the CRs)"


def exists_cr(api: client.ApiClient, kind: str, namespace: str, name: str) -> bool:
    try:
        get_cr(api, kind, namespace, name)
        return True
    except client.ApiException as exc:
        if exc.status == 404:
            return False
        raise


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
    for verb, resource in allowed:
        assert can_i(kubectl, sa, verb, resource, *ns), f"{verb} {resource}"
    for resource in OWN:
        assert can_i(kubectl, sa, "patch", resource, "--subresource=status", *ns), resource
    for verb in ("get", "list", "watch"):
        assert can_i(kubectl, sa, verb, "customresourcedefinitions.apiextensions.k8s.io")
    for verb in ("list", "watch"):
        assert can_i(kubectl, sa, verb, "namespaces")
    denied = [
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
        # Deployments are created (the chart's RBAC allows it); no kubelet runs their pods.
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
                live, _ = wait_until(lambda k=kind, n=name: reached(k, n), timeout=120,
                                     what=f"{kind} {name} Ready (operator on the SA's token)")
                assert health(live) == "Healthy", live["status"]
            assert broker_topic(kafka_admin, events) is not None
            assert broker_topic(kafka_admin, dlq) is not None
            for kind, name, _, status, reason, want in others:
                live, _ = wait_until(lambda k=kind, n=name, s=status: reached(k, n, s),
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
            # Uninstall deletes the chart's CRs; topics stay (topicDeletionPolicy Retain).
            run(helm, "uninstall", "dso", "--namespace", namespace, "--wait")
            wait_until(lambda: not exists_cr(kube_api, "DashStreamPipeline", namespace, "quality"),
                       timeout=30, what="the chart's pipeline deleted")
            assert op.alive(), op.log()[-3000:]
            log = op.log()
        assert broker_topic(kafka_admin, events) is not None, "uninstall kept the topic"
        assert broker_topic(kafka_admin, dlq) is not None
        forbidden = [line for line in log.splitlines() if "forbidden" in line.lower()
                     or " 403" in line]
        assert not forbidden, "\n".join(forbidden[:10])
    finally:
        for f in kafka_admin.delete_topics([events, dlq], operation_timeout=30).values():
            with contextlib.suppress(Exception):  # best effort: the test's own topics
                f.result(timeout=30)


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


# --- manifests/ -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def argocd_application_crd(kube_api: client.ApiClient) -> Iterator[None]:
    """Argo CD's own Application CRD (from its Go module, read from the module cache), so
    our Application is validated against the real schema."""
    go = shutil.which("go")
    if not go:
        pytest.fail("go is not on PATH (needed to read Argo CD's CRD from the module "
                    "cache): run `make env-up`", pytrace=False)
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "dashstream"
    res = run(go, "mod", "download", "-json", ARGOCD_MODULE,
              env={"GOMODCACHE": str(cache / "go/mod"), "GOFLAGS": "-modcacherw",
                   "GOTOOLCHAIN": "local", "GO111MODULE": "on"})
    crd_path = Path(json.loads(res.stdout)["Dir"]) / "manifests/crds/application-crd.yaml"
    ext = client.ApiextensionsV1Api(kube_api)
    name = "applications.argoproj.io"
    if exists(kube_api, "CRD", name) and as_dict(
            kube_api, ext.read_custom_resource_definition(name))["metadata"].get(
                "deletionTimestamp"):
        wait_until(lambda: not exists(kube_api, "CRD", name), timeout=120,
                   what="the previous run's Application CRD deleted")
    created = not exists(kube_api, "CRD", name)
    if created:
        run(require_env("KUBECTL"), "apply", "--server-side", "-f", str(crd_path))
        wait_until(lambda: any(
            c["type"] == "Established" and c["status"] == "True" for c in as_dict(
                kube_api, ext.read_custom_resource_definition(name))["status"]["conditions"]),
            timeout=60, what="Argo CD's Application CRD Established")
    yield
    if created:
        ext.delete_custom_resource_definition(name)


@pytest.fixture(scope="module")
def manifest_namespaces(kube_api: client.ApiClient) -> Iterator[None]:
    """The namespaces manifests/ names (dry runs do not create them)."""
    made = [n for n in ("dashstream-system", "argocd") if create_namespace(kube_api, n)]
    yield
    for name in made:
        client.CoreV1Api(kube_api).delete_namespace(name)


def manifest_targets() -> list[Any]:
    """Each kustomization directory as one target, every other YAML file as one."""
    root = REPO / "manifests"
    kustomized = {p.parent for p in root.rglob("kustomization.yaml")}
    targets = [pytest.param("-k", d, id=str(d.relative_to(root))) for d in sorted(kustomized)]
    for path in sorted(root.rglob("*.yaml")):
        if path.parent not in kustomized:
            targets.append(pytest.param("-f", path, id=str(path.relative_to(root))))
    return targets


@pytest.mark.parametrize(("flag", "target"), manifest_targets())
def test_manifests_pass_server_dry_run(kubectl: str, namespace: str, flag: str, target: Path,
                                       crds_installed: list[str], manifest_namespaces: None,
                                       argocd_application_crd: None) -> None:
    args = [kubectl, "apply", "--dry-run=server", "--server-side", flag, str(target)]
    if target.parent.name == "examples":
        args += ["-n", namespace]  # the examples name no namespace: apply where you like
    res = run(*args)
    assert "Warning" not in res.stderr, res.stderr


def test_every_manifest_file_is_checked() -> None:
    """No YAML under manifests/ escapes the dry run; the rest is Lua and docs."""
    root = REPO / "manifests"
    covered = {p for d in {p.parent for p in root.rglob("kustomization.yaml")}
               for p in d.glob("*.yaml")}
    covered |= {t.values[1] for t in manifest_targets() if t.values[0] == "-f"}
    files = {p for p in root.rglob("*") if p.is_file()}
    assert {p for p in files if p.suffix == ".yaml"} <= covered
    assert {p.suffix for p in files - covered} <= {".lua", ".md"}


def test_install_kustomization_lists_everything() -> None:
    kust = yaml.safe_load((REPO / "manifests/install/kustomization.yaml").read_text())
    assert kust["resources"] == ["namespace.yaml", "dashstream-operator.yaml"]
    ns = yaml.safe_load((REPO / "manifests/install/namespace.yaml").read_text())
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_examples_parse_and_validate() -> None:
    """Each example CR parses with the operator's models; its PromQL reads only known
    metrics and its dashboards pass the operator's dashboard checks."""
    series = dict(known_series())
    kinds: list[str] = []
    for path in sorted((REPO / "manifests/examples").glob("*.yaml")):
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
        configmaps = {d["metadata"]["name"]: d["data"] for d in docs if d["kind"] == "ConfigMap"}
        for doc in docs:
            kinds.append(doc["kind"])
            assert "namespace" not in doc["metadata"], path
            if doc["kind"] in SPECS:
                spec = SPECS[doc["kind"]].from_body(doc)
            if doc["kind"] == "AlertRuleSet":
                groups = spec.groups or yaml.safe_load(configmaps[
                    spec.groups_from.config_map_key_ref.name][
                    spec.groups_from.config_map_key_ref.key])["groups"]
                rules = [r if isinstance(r, dict) else r.model_dump(by_alias=True)
                         for g in groups for r in (g["rules"] if isinstance(g, dict) else g.rules)]
                recorded = {r["record"] for r in rules if r.get("record")}
                for rule in rules:
                    unknown = metric_names(rule["expr"]) - set(series) - recorded
                    assert not unknown, (path.name, rule["expr"])
            if doc["kind"] == "DashboardSet":
                for board in doc["spec"]["dashboards"]:
                    ref = board.get("configMapKeyRef")
                    text = board.get("json") or configmaps[ref["name"]][ref["key"]]
                    report = validate_dashboard(json.loads(text), series)
                    assert report.valid, (board["name"], report.errors, report.unknown_metrics)
    assert {"DashStreamPipeline", "AlertRuleSet", "DashboardSet", "Secret"} <= set(kinds)
    secrets_text = (REPO / "manifests/examples/kafka-secrets.yaml").read_text()
    assert secrets_text.count("FAKE") >= 4, "example secrets must look fake"


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
    install.write_text(install.read_text().replace("replicas: 1", "replicas: 2"))
    res = run(*script, "--check", ok=False)
    assert res.returncode == 1
    assert "charts/dashstream-operator/crds/dashstream.io_dashstreampipelines.yaml" in res.stdout
    assert "files/dashboards/hand-made.json: stale" in res.stdout
    assert "manifests/install/dashstream-operator.yaml" in res.stdout
    assert "differs" in res.stdout and "make generate" in res.stderr
    run(*script)
    assert run(*script, "--check").returncode == 0
    assert not (repo / "charts/dashstream-operator/files/dashboards/hand-made.json").exists()
