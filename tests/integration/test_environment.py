"""The foundation: the local environment's parts are real and behave like a cluster.

These prove what every later test relies on: a kube-apiserver that serves CRDs, a
kube-controller-manager that garbage-collects owned objects, a Kafka broker that
creates and describes topics, and the pinned tool versions.
"""

from __future__ import annotations

import os
import subprocess
from typing import Any

from kubernetes import client
from kubernetes.dynamic import DynamicClient

from support.env import REPO
from support.kube import apply, get_or_none, install_crds
from support.wait import wait_until

WIDGET_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.envtest.dashstream.io"},
    "spec": {
        "group": "envtest.dashstream.io",
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
        "versions": [{
            "name": "v1", "served": True, "storage": True,
            "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                "spec": {"type": "object", "properties": {
                    "size": {"type": "integer", "minimum": 1},
                    "colour": {"type": "string"}}}}}},
        }],
    },
}


def test_crd_and_object_round_trip(kube_api: client.ApiClient, dyn: DynamicClient,
                                   namespace: str, tmp_path: Any) -> None:
    import yaml

    crd_file = tmp_path / "widget.yaml"
    crd_file.write_text(yaml.safe_dump(WIDGET_CRD))
    install_crds(dyn, kube_api, [crd_file])
    apply(dyn, {"apiVersion": "envtest.dashstream.io/v1", "kind": "Widget",
                "metadata": {"name": "w1", "namespace": namespace},
                "spec": {"size": 3, "colour": "teal"}})
    got = get_or_none(dyn, "envtest.dashstream.io/v1", "Widget", "w1", namespace)
    assert got is not None
    assert got.spec.size == 3 and got.spec.colour == "teal"
    assert got.metadata.uid and got.metadata.generation == 1


def test_invalid_object_is_rejected_by_the_schema(kube_api: client.ApiClient,
                                                  dyn: DynamicClient, namespace: str,
                                                  tmp_path: Any) -> None:
    import yaml
    from kubernetes.dynamic.exceptions import UnprocessibleEntityError

    crd_file = tmp_path / "widget.yaml"
    crd_file.write_text(yaml.safe_dump(WIDGET_CRD))
    install_crds(dyn, kube_api, [crd_file])
    try:
        apply(dyn, {"apiVersion": "envtest.dashstream.io/v1", "kind": "Widget",
                    "metadata": {"name": "bad", "namespace": namespace},
                    "spec": {"size": 0}})
    except UnprocessibleEntityError as exc:
        assert "spec.size" in str(exc.body)
    else:
        raise AssertionError("size 0 violates minimum 1 but the API server accepted it")


def test_garbage_collector_deletes_owned_objects(kube_api: client.ApiClient,
                                                 namespace: str) -> None:
    core = client.CoreV1Api(kube_api)
    owner = core.create_namespaced_config_map(namespace, client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="owner"), data={"role": "owner"}))
    core.create_namespaced_config_map(namespace, client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="owned", owner_references=[client.V1OwnerReference(
            api_version="v1", kind="ConfigMap", name="owner", uid=owner.metadata.uid)]),
        data={"role": "owned"}))
    core.delete_namespaced_config_map("owner", namespace)

    def owned_gone() -> bool:
        try:
            core.read_namespaced_config_map("owned", namespace)
            return False
        except client.ApiException as exc:
            return exc.status == 404

    _, waited = wait_until(owned_gone, timeout=60, what="garbage collection of 'owned'")
    print(f"garbage collector removed the owned ConfigMap after {waited:.2f}s")


def test_namespace_gets_default_service_account(kube_api: client.ApiClient,
                                                namespace: str) -> None:
    core = client.CoreV1Api(kube_api)
    wait_until(lambda: core.read_namespaced_service_account("default", namespace),
               timeout=30, what="default ServiceAccount")


def test_kafka_topic_with_three_partitions(kafka_admin: Any, topic_factory: Any) -> None:
    from confluent_kafka.admin import ConfigResource, ResourceType

    name = topic_factory("env", partitions=3, config={"retention.ms": "3600000"})
    meta = kafka_admin.list_topics(topic=name, timeout=10)
    topic = meta.topics[name]
    assert topic.error is None
    assert sorted(topic.partitions) == [0, 1, 2]
    res = ConfigResource(ResourceType.TOPIC, name)
    configs = kafka_admin.describe_configs([res])[res].result(timeout=10)
    assert configs["retention.ms"].value == "3600000"


def test_pinned_tool_versions() -> None:
    lines = (REPO / "scripts/env/versions.env").read_text().splitlines()
    versions = dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))
    kubectl = os.environ.get("KUBECTL", "kubectl")
    out = subprocess.run([kubectl, "version", "-o", "json"], capture_output=True, text=True,
                         check=True).stdout
    assert f'"gitVersion": "{versions["KUBERNETES_VERSION"]}"' in out  # client and server
    assert out.count(versions["KUBERNETES_VERSION"]) >= 2
    helm = subprocess.run([os.environ.get("HELM", "helm"), "version", "--short"],
                          capture_output=True, text=True, check=True).stdout
    assert helm.startswith(versions["HELM_VERSION"])
    promtool = subprocess.run([os.environ.get("PROMTOOL", "promtool"), "--version"],
                              capture_output=True, text=True, check=True)
    assert "promtool, version 2." in promtool.stdout + promtool.stderr
