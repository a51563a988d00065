"""Helpers for tests of DashStreamPipelines: build, read conditions, ask the broker."""

from __future__ import annotations

from typing import Any

from kubernetes import client

from support.kube import get_custom

__all__ = ["broker_topic", "condition", "condition_true", "get_pipeline", "pipeline"]

GROUP, VERSION, PLURAL = "dashstream.io", "v1alpha1", "dashstreampipelines"


def pipeline(name: str, namespace: str, bootstrap: str, topics: list[dict[str, Any]],
             **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "DashStreamPipeline",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"kafka": {"bootstrapServers": bootstrap}, "topics": topics, **spec},
    }


def get_pipeline(api: client.ApiClient, namespace: str, name: str) -> dict[str, Any]:
    return get_custom(client.CustomObjectsApi(api), GROUP, VERSION, namespace, PLURAL, name)


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any] | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond["type"] == type_:
            return dict(cond)
    return None


def condition_true(api: client.ApiClient, namespace: str, name: str, type_: str) -> bool:
    """The pipeline's condition ``type_`` is True right now (for wait_until)."""
    return (condition(get_pipeline(api, namespace, name), type_) or {}).get("status") == "True"


def broker_topic(admin: Any, name: str) -> tuple[int, dict[str, str]] | None:
    """(partitions, configs) as the broker describes the topic, or None if absent."""
    from confluent_kafka.admin import ConfigResource, ResourceType

    md = admin.list_topics(timeout=10)
    if name not in md.topics or md.topics[name].error is not None:
        return None
    res = ConfigResource(ResourceType.TOPIC, name)
    entries = admin.describe_configs([res])[res].result(timeout=10)
    return len(md.topics[name].partitions), {k: e.value for k, e in entries.items()}
