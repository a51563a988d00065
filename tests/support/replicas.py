"""websocket-server replicas in the cluster: a viewer on each pod (reached at its own
address, not through the Service), and what "every event" means for a live stream
that started before the viewer connected."""

from __future__ import annotations

import itertools
from typing import Any

from kubernetes import client

from integration.workloads.clients import WsClient
from support.kube import name_of, present

__all__ = ["holes", "pod_urls", "span", "viewers"]


def pod_urls(core: client.CoreV1Api, ns: str, pipeline: str) -> dict[str, str]:
    """The /ws URL of each running websocket-server pod of ``pipeline``, by pod name."""
    pods = core.list_namespaced_pod(ns, label_selector=(
        f"app.kubernetes.io/instance={pipeline},"
        "app.kubernetes.io/component=websocket-server")).items
    out = {}
    for pod in pods:
        if present(pod.status).phase != "Running" or present(pod.metadata).deletion_timestamp:
            continue
        port = (present(pod.spec).containers[0].ports or [])[0].container_port
        out[name_of(pod)] = f"ws://{present(pod.status).pod_ip}:{port}/ws"
    return out


def viewers(urls: dict[str, str], query: str = "") -> dict[str, WsClient]:
    """One WebSocket client per URL (close them when done)."""
    return {pod: WsClient(url + query) for pod, url in urls.items()}


def span(events: list[dict[str, Any]]) -> dict[int, tuple[int, int]]:
    """(first, last) offset received per partition."""
    out: dict[int, tuple[int, int]] = {}
    for e in events:
        p, o = e["partition"], e["offset"]
        first, last = out.get(p, (o, o))
        out[p] = (min(first, o), max(last, o))
    return out


def holes(events: list[dict[str, Any]]) -> dict[int, list[int]]:
    """Per partition, the offsets missing between the first and the last received, and
    any received twice or out of order (as negative numbers): empty when the viewer got
    every event of every partition since it connected, once, in order."""
    seen: dict[int, list[int]] = {}
    for e in events:
        seen.setdefault(e["partition"], []).append(e["offset"])
    out: dict[int, list[int]] = {}
    for p, offs in seen.items():
        # Offsets of a compacted or transactional topic may skip; ours are dense.
        bad = [-o for a, o in itertools.pairwise(offs) if o <= a]
        bad += sorted(set(range(offs[0], max(offs) + 1)) - set(offs))
        if bad:
            out[p] = bad
    return out
