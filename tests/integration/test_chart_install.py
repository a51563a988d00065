"""The chart installed, with real helm, kubectl and kube-apiserver: NOTES,
install, upgrade and uninstall in the local control plane; manifests/: every file
passes `kubectl apply --dry-run=server`, examples parse and validate.

The CRDs are cluster-scoped and shared with other tests (the crds_installed fixture),
so releases are installed with --skip-crds except one that shows install copes with
CRDs that already exist; helm never deletes CRDs.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from dashstream_operator.validation.dashboards import validate_dashboard
from dashstream_operator.validation.promql import metric_names
from dashstream_workloads.contract import known_series
from support.chart import (
    CHART,
    SPECS,
    as_dict,
    create_namespace,
    exists,
    run,
)
from support.env import REPO, require_env
from support.wait import wait_until

ARGOCD_MODULE = "github.com/argoproj/argo-cd/v3@v3.5.1"


# --- install, upgrade, uninstall -------------------------------------------------------

def test_notes_say_what_to_do_next(helm: str) -> None:
    # --dry-run=server: the cluster's version passes kubeVersion; nothing is created.
    res = run(helm, "install", "x", str(CHART), "--dry-run=server", "--namespace", "apps",
              "--set", "watchNamespaces={team-a}", "--set", "defaultAlertRules.enabled=true")
    notes = res.stdout.split("NOTES:", 1)[1]
    assert "kubectl get dsp,ars,dbs -n team-a" in notes
    assert "manifests/examples/pipeline-minimal.yaml" in notes
    assert "WARNING: apps is not a watched namespace" in notes


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
    # The pod never runs (it does not tolerate the local node's taint), but the
    # ReplicaSet controller creates it: Pod Security
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
    """No YAML under manifests/ escapes the dry run; the rest is Lua (and the template
    the health checks are generated from) and docs."""
    root = REPO / "manifests"
    covered = {p for d in {p.parent for p in root.rglob("kustomization.yaml")}
               for p in d.glob("*.yaml")}
    covered |= {t.values[1] for t in manifest_targets() if t.values[0] == "-f"}
    files = {p for p in root.rglob("*") if p.is_file()}
    assert {p for p in files if p.suffix == ".yaml"} <= covered
    assert {p.suffix for p in files - covered} <= {".lua", ".in", ".md"}


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
