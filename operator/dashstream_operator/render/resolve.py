"""What environment a rendered container would really see. Pure.

Kubernetes applies ``envFrom`` first and ``env`` after it (an explicit entry wins),
expanding ``valueFrom`` references. The e2e suite starts the servers as local
processes "with the env, args and ports taken from the rendered Deployments"; this is
the one place that knows those rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["resolve_container_env"]


def resolve_container_env(
    container: Mapping[str, Any],
    configmaps: Mapping[str, Mapping[str, str]],
    secrets: Mapping[str, Mapping[str, str]] | None = None,
) -> dict[str, str]:
    """The environment of ``container`` given ConfigMap data and Secret data by name.

    Raises KeyError naming the missing ConfigMap, Secret or key (non-optional refs),
    as the kubelet would refuse to start the container.
    """
    secrets = secrets or {}
    out: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix", "")
        if "configMapRef" in source:
            ref, store, what = source["configMapRef"], configmaps, "ConfigMap"
        else:
            ref, store, what = source["secretRef"], secrets, "Secret"
        if ref["name"] not in store:
            if ref.get("optional"):
                continue
            raise KeyError(f"{what} {ref['name']} not found")
        out.update({prefix + k: v for k, v in store[ref["name"]].items()})
    for entry in container.get("env") or []:
        if "value" in entry or "valueFrom" not in entry:
            out[entry["name"]] = entry.get("value", "")
            continue
        vf = entry["valueFrom"]
        if "secretKeyRef" in vf:
            ref, store, what = vf["secretKeyRef"], secrets, "Secret"
        elif "configMapKeyRef" in vf:
            ref, store, what = vf["configMapKeyRef"], configmaps, "ConfigMap"
        else:
            raise KeyError(f"{entry['name']}: only secretKeyRef/configMapKeyRef are resolved")
        data = store.get(ref["name"])
        if data is None or ref["key"] not in data:
            if ref.get("optional"):
                continue
            raise KeyError(f"{entry['name']}: {what} {ref['name']} key {ref['key']} not found")
        out[entry["name"]] = data[ref["key"]]
    return out
