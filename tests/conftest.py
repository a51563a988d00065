"""Shared fixtures: a real API server bound to a fresh namespace, a real Kafka broker.

A missing real part fails the test with the command that provides it (`make env-up`);
nothing is skipped quietly.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.dynamic import DynamicClient

from support.env import HINT, REPO, require_env
from support.kube import (
    create_test_namespace,
    delete_test_namespace,
    install_crds,
)
from support.wait import wait_until

# Fixtures of the chart tests (helm, kubectl, release, other_namespace), shared by the
# three test_chart_* modules without importing them into each.
pytest_plugins = ["support.chart"]


def random_name(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


# --- markers --------------------------------------------------------------------------

TESTS = Path(__file__).resolve().parent
LEVELS = ("unit", "integration", "e2e")  # folders of tests/, each its marker's name


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test by its folder: tests/unit/** unit, tests/integration/**
    integration, tests/e2e/** e2e (so `-m "not e2e"` selects by level)."""
    for item in items:
        try:
            level = item.path.resolve().relative_to(TESTS).parts[0]
        except ValueError:
            continue
        if level in LEVELS:
            item.add_marker(level)


# --- Kubernetes -----------------------------------------------------------------------

@pytest.fixture(scope="session")
def kube_api() -> Iterator[client.ApiClient]:
    """An API client for the cluster in KUBECONFIG (the local control plane by default)."""
    kubeconfig = require_env("KUBECONFIG")
    try:
        api = config.new_client_from_config(config_file=kubeconfig)
        client.VersionApi(api).get_code(_request_timeout=5)
    except Exception as exc:
        pytest.fail(f"Kubernetes API server in {kubeconfig} unreachable ({exc}): {HINT}",
                    pytrace=False)
    yield api
    api.close()


@pytest.fixture(scope="session")
def dyn(kube_api: client.ApiClient) -> DynamicClient:
    return DynamicClient(kube_api)


@pytest.fixture(scope="session")
def crds_installed(dyn: DynamicClient, kube_api: client.ApiClient) -> list[str]:
    """Every CRD of crds/ applied (server-side) and Established."""
    paths = sorted((REPO / "crds").glob("*.yaml"))
    if not paths:
        pytest.fail("crds/ holds no CRD: run `make generate`", pytrace=False)
    return install_crds(dyn, kube_api, paths)


@pytest.fixture(scope="session")
def thirdparty_crds(dyn: DynamicClient, kube_api: client.ApiClient) -> list[str]:
    """The ServiceMonitor, PrometheusRule and GrafanaDashboard CRDs, from the
    prometheus-operator and grafana-operator Go modules (fetched by `make env-up`)."""
    folder = Path(require_env("DASHSTREAM_THIRDPARTY_CRDS"))
    paths = sorted(folder.glob("*.yaml"))
    if len(paths) < 3:
        pytest.fail(f"third-party CRDs missing in {folder}: {HINT}", pytrace=False)
    return install_crds(dyn, kube_api, paths)


def _optional_part(part: str, variable: str, path: str) -> str:
    """The base URL of an optional part of the environment, once it answers at ``path``;
    missing: fail with the command that provides it."""
    fix = f"run `make env-up ENV_PARTS={part}` (the test targets do)"
    url = require_env(variable, fix)
    try:
        with urllib.request.urlopen(f"{url}{path}", timeout=5):
            pass
    except OSError as exc:
        pytest.fail(f"{part} at {url} does not answer ({exc}): {fix}", pytrace=False)
    return url


@pytest.fixture(scope="session")
def prometheus_operator(kube_api: client.ApiClient) -> str:
    """A real prometheus-operator watching the cluster (with all of its CRDs): its URL."""
    return _optional_part("prometheus-operator", "DASHSTREAM_PROMETHEUS_OPERATOR_URL",
                          "/healthz")


@pytest.fixture(scope="session")
def grafana_operator(kube_api: client.ApiClient) -> str:
    """A real grafana-operator v5 watching the cluster (with all of its CRDs): its
    version."""
    _optional_part("grafana-operator", "DASHSTREAM_GRAFANA_OPERATOR_METRICS", "/metrics")
    return require_env("DASHSTREAM_GRAFANA_OPERATOR_VERSION")


@pytest.fixture
def namespace(kube_api: client.ApiClient) -> Iterator[str]:
    """A fresh random namespace for one test, deleted afterwards."""
    name = create_test_namespace(kube_api, random_name("t"))
    yield name
    delete_test_namespace(kube_api, name)


# --- Kafka ----------------------------------------------------------------------------

@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    return require_env("KAFKA_BOOTSTRAP_SERVERS")


@pytest.fixture(scope="session")
def kafka_admin(kafka_bootstrap: str) -> Any:
    from confluent_kafka.admin import AdminClient

    # log_level 0: the broker is stopped on purpose by some tests; its connection errors
    # would flood the test output (the operator routes its own through its logger).
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap, "socket.timeout.ms": 5000,
                         "log_level": 0})
    try:
        admin.list_topics(timeout=10)
    except Exception as exc:
        pytest.fail(f"Kafka broker at {kafka_bootstrap} unreachable ({exc}): {HINT}",
                    pytrace=False)
    return admin


@pytest.fixture
def topic_factory(kafka_admin: Any) -> Iterator[Callable[..., str]]:
    """create(suffix, partitions=1, config=None) -> a uniquely named real topic.

    Every topic made here is deleted at the end of the test.
    """
    from confluent_kafka.admin import NewTopic

    made: list[str] = []

    def create(suffix: str = "topic", partitions: int = 1,
               config: dict[str, str] | None = None) -> str:
        name = random_name(f"t-{suffix}")
        futures = kafka_admin.create_topics(
            [NewTopic(name, num_partitions=partitions, replication_factor=1,
                      config=config or {})], operation_timeout=30)
        futures[name].result(timeout=30)
        made.append(name)
        return name

    yield create
    if made:
        for f in kafka_admin.delete_topics(made, operation_timeout=30).values():
            with contextlib.suppress(Exception):  # the test may have deleted it already
                f.result(timeout=30)


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where tests save screenshots and logs for a person to look at."""
    path = Path(os.environ.get("DASHSTREAM_TEST_ARTIFACTS", REPO / "test-artifacts"))
    path.mkdir(parents=True, exist_ok=True)
    return path


__all__ = ["random_name", "wait_until"]
