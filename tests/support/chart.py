"""Shared by the chart tests (tests/integration/test_chart_*.py): the chart's paths,
helm and kubectl (module fixtures), rendering and small API-server helpers, a second
namespace and the release that is always uninstalled.

The fixtures (helm, kubectl, other_namespace, release) are requested by those names;
a test module imports the *_fixture functions it needs so that pytest sees them.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from kubernetes import client

from dashstream_operator.models import AlertRuleSetSpec, DashboardSetSpec, DashStreamPipelineSpec
from support.env import REPO, require_env
from support.wait import wait_until

__all__ = ["ALL_OPTIONS", "CHART", "KUBE_VERSION", "PLURALS", "SPECS", "as_dict", "by_kind",
           "create_namespace", "exists", "exists_cr", "get_cr", "helm_fixture",
           "kubectl_fixture", "one", "other_namespace_fixture", "release_fixture", "run",
           "template"]

CHART = REPO / "charts/dashstream-operator"
ALL_OPTIONS = CHART / "ci/all-options-values.yaml"
KUBE_VERSION = "1.29.0"  # Chart.yaml kubeVersion's minimum
SPECS: dict[str, Any] = {"DashStreamPipeline": DashStreamPipelineSpec,
                         "AlertRuleSet": AlertRuleSetSpec, "DashboardSet": DashboardSetSpec}
PLURALS = {"DashStreamPipeline": "dashstreampipelines", "AlertRuleSet": "alertrulesets",
           "DashboardSet": "dashboardsets"}


# --- tools ------------------------------------------------------------------------------

def run(*cmd: str, ok: bool = True, env: dict[str, str] | None = None,
        stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(list(cmd), capture_output=True, text=True, input=stdin,
                         env={**os.environ, **(env or {})}, timeout=300, check=False)
    if ok and res.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} exited {res.returncode}:\n{res.stdout}\n{res.stderr}")
    return res


@pytest.fixture(scope="module", name="helm")
def helm_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
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


@pytest.fixture(scope="module", name="kubectl")
def kubectl_fixture() -> str:
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


@pytest.fixture(name="other_namespace")
def other_namespace_fixture(kube_api: client.ApiClient) -> Iterator[str]:
    name = f"t-other-{secrets.token_hex(4)}"
    create_namespace(kube_api, name)
    yield name
    client.CoreV1Api(kube_api).delete_namespace(name)


@pytest.fixture(name="release")
def release_fixture(helm: str, namespace: str) -> Iterator[str]:
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


def exists_cr(api: client.ApiClient, kind: str, namespace: str, name: str) -> bool:
    try:
        get_cr(api, kind, namespace, name)
        return True
    except client.ApiException as exc:
        if exc.status == 404:
            return False
        raise
