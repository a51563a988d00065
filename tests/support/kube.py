"""Small helpers over the official kubernetes client for tests: apply, get, CRDs, and
typed access to what the client types loosely (Optional fields, `object` results)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, TypeVar, cast

import yaml
from kubernetes import client
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import NotFoundError

from support.wait import wait_until

TEST_FIELD_MANAGER = "dashstream-tests"

__all__ = ["TEST_FIELD_MANAGER", "KubeObject", "apply", "create_test_namespace",
           "delete_test_namespace", "get_custom", "get_or_none", "install_crds", "list_custom",
           "load_yaml_docs", "meta", "name_of", "present"]

OUR_PLURALS = ("dashstreampipelines", "alertrulesets", "dashboardsets")

T = TypeVar("T")


class KubeObject(Protocol):
    """Any kubernetes client model with metadata (V1Pod, V1Deployment, V1Service...)."""

    @property
    def metadata(self) -> client.V1ObjectMeta | None: ...


def present(value: T | None, what: str = "field") -> T:
    """A field the client types Optional (a model built locally may lack it) that the API
    server always sets on what it returns: ``.spec``, ``.status``, ``.metadata``."""
    assert value is not None, f"{what} missing"
    return value


def meta(obj: KubeObject) -> client.V1ObjectMeta:
    return present(obj.metadata, f"metadata of {type(obj).__name__}")


def name_of(obj: KubeObject) -> str:
    return present(meta(obj).name, f"name of {type(obj).__name__}")


# CustomObjectsApi declares ``object`` as the result; it is the decoded JSON object.

def get_custom(custom: client.CustomObjectsApi, group: str, version: str, namespace: str,
               plural: str, name: str) -> dict[str, Any]:
    return cast(dict[str, Any], custom.get_namespaced_custom_object(
        group, version, namespace, plural, name))


def list_custom(custom: client.CustomObjectsApi, group: str, version: str, namespace: str,
                plural: str) -> list[dict[str, Any]]:
    """The ``items`` of list_namespaced_custom_object."""
    listed = cast(dict[str, Any], custom.list_namespaced_custom_object(
        group, version, namespace, plural))
    return cast(list[dict[str, Any]], listed["items"])


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
            crd = ext.read_custom_resource_definition(name)
            conds = present(crd.status, f"status of CRD {name}").conditions or []
            if not any(c.type == "Established" and c.status == "True" for c in conds):
                return False
        return True

    wait_until(established, timeout=60, what=f"CRDs {names} Established")
    dyn.resources.invalidate_cache()
    return names


def create_test_namespace(api: client.ApiClient, name: str) -> str:
    """A namespace for one test (labelled as such, restricted pod security)."""
    client.CoreV1Api(api).create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(
        name=name, labels={"dashstream.io/test": "true",
                           "pod-security.kubernetes.io/enforce": "restricted"})))
    return name


def delete_test_namespace(api: client.ApiClient, namespace: str) -> None:
    """Drop our CRs' finalizers (no operator may be running to release them), then
    delete the namespace in the background."""
    custom = client.CustomObjectsApi(api)
    for plural in OUR_PLURALS:
        try:
            items = list_custom(custom, "dashstream.io", "v1alpha1", namespace, plural)
        except client.ApiException:
            continue  # CRD not installed in this run
        for item in items:
            if item["metadata"].get("finalizers"):
                custom.patch_namespaced_custom_object(
                    "dashstream.io", "v1alpha1", namespace, plural, item["metadata"]["name"],
                    {"metadata": {"finalizers": None}})
    client.CoreV1Api(api).delete_namespace(namespace, propagation_policy="Background")
