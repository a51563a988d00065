"""Small helpers over the official kubernetes client for tests: apply, get, CRDs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from kubernetes import client
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import NotFoundError

from support.wait import wait_until

TEST_FIELD_MANAGER = "dashstream-tests"

__all__ = ["TEST_FIELD_MANAGER", "apply", "get_or_none", "install_crds", "load_yaml_docs"]


def load_yaml_docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def apply(dyn: DynamicClient, obj: dict[str, Any], namespace: str | None = None) -> Any:
    """Server-side apply as the tests' own field manager (like `kubectl apply --server-side`)."""
    res = dyn.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
    ns = namespace or obj.get("metadata", {}).get("namespace")
    return res.server_side_apply(
        body=obj, name=obj["metadata"]["name"], namespace=ns if res.namespaced else None,
        field_manager=TEST_FIELD_MANAGER, force_conflicts=True,
    )


def get_or_none(dyn: DynamicClient, api_version: str, kind: str, name: str,
                namespace: str | None = None) -> Any:
    res = dyn.resources.get(api_version=api_version, kind=kind)
    try:
        return res.get(name=name, namespace=namespace)
    except NotFoundError:
        return None


def install_crds(dyn: DynamicClient, api: client.ApiClient, paths: list[Path]) -> list[str]:
    """Apply CRDs and wait until each is Established; refresh discovery afterwards."""
    names = []
    for path in paths:
        for doc in load_yaml_docs(path):
            apply(dyn, doc)
            names.append(doc["metadata"]["name"])
    ext = client.ApiextensionsV1Api(api)

    def established() -> bool:
        for name in names:
            conds = ext.read_custom_resource_definition(name).status.conditions or []
            if not any(c.type == "Established" and c.status == "True" for c in conds):
                return False
        return True

    wait_until(established, timeout=60, what=f"CRDs {names} Established")
    dyn.resources.invalidate_cache()  # type: ignore[attr-defined]
    return names
