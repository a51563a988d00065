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
from support.kube import apply, get_or_none, install_crds, meta, name_of, present
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
            api_version="v1", kind="ConfigMap", name="owner", uid=present(meta(owner).uid))]),
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


NODE_TAINT = "dashstream.dev/node"


def _pod(name: str, ns: str, tolerate: bool) -> client.V1Pod:
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, namespace=ns),
        spec=client.V1PodSpec(
            automount_service_account_token=False,
            tolerations=[client.V1Toleration(key=NODE_TAINT, operator="Exists")]
            if tolerate else None,
            # The test namespace enforces Pod Security "restricted".
            security_context=client.V1PodSecurityContext(
                run_as_non_root=True, run_as_user=65535,
                seccomp_profile=client.V1SeccompProfile(type="RuntimeDefault")),
            # The sandbox image: always on the node, so this pod needs nothing else.
            containers=[client.V1Container(
                name="c", image="dashstream.local/pause:dev", image_pull_policy="Never",
                security_context=client.V1SecurityContext(
                    allow_privilege_escalation=False,
                    capabilities=client.V1Capabilities(drop=["ALL"])))]))


def test_local_node_runs_only_pods_that_tolerate_its_taint(kube_api: client.ApiClient,
                                                           namespace: str) -> None:
    """The kubelet registered a Ready node (same version as the control plane) tainted
    so that the other tests' Deployments never start pods; a tolerating pod runs."""
    core = client.CoreV1Api(kube_api)
    lines = (REPO / "scripts/env/versions.env").read_text().splitlines()
    versions = dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))
    nodes = core.list_node().items
    assert len(nodes) == 1, f"expected the one local node, found {len(nodes)}"
    node = nodes[0]
    node_info = present(present(node.status).node_info)
    assert node_info.kubelet_version == versions["KUBERNETES_VERSION"]
    assert node_info.container_runtime_version.startswith("containerd://")
    taints = present(node.spec).taints
    assert [(t.key, t.effect) for t in taints or []] == [(NODE_TAINT, "NoSchedule")]
    core.create_namespaced_pod(namespace, _pod("runs", namespace, tolerate=True))
    core.create_namespaced_pod(namespace, _pod("stays-pending", namespace, tolerate=False))
    _, took = wait_until(
        lambda: present(core.read_namespaced_pod("runs", namespace).status).phase == "Running",
        timeout=60, what="the tolerating pod Running")
    running = core.read_namespaced_pod("runs", namespace)
    pod_ip = present(running.status).pod_ip
    assert present(running.spec).node_name == name_of(node) and pod_ip
    wait_until(lambda: any(
        (e.reason == "FailedScheduling" and NODE_TAINT in (e.message or "")) or
        (e.reason == "FailedScheduling" and "untolerated taint" in (e.message or ""))
        for e in core.list_namespaced_event(
            namespace, field_selector="involvedObject.name=stays-pending").items),
        timeout=30, what="FailedScheduling for the pod without the toleration")
    pending = core.read_namespaced_pod("stays-pending", namespace)
    assert present(pending.status).phase == "Pending" and not present(pending.spec).node_name
    print(f"node {name_of(node)}: pod Running at {pod_ip} after "
          f"{took:.1f}s; the pod without the toleration stays Pending")
