"""What people do to children by hand: edit a field the operator owns, add one of
their own, delete the child, or make an object with the name a child wants."""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from kubernetes import client
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import NotFoundError

from support.kube import meta

EDIT_MANAGER = "kubectl-edit"
ADDED_ANNOTATION = "example.com/added-by-hand"


def edit_child(dyn: DynamicClient, ns: str, api_version: str, kind: str, name: str,
               how: str) -> tuple[str, str] | None:
    """``how``: owned | added | delete. Returns (uid, annotation) when one was added."""
    res = dyn.resources.get(api_version=api_version, kind=kind)
    try:
        live = res.get(name=name, namespace=ns)
    except NotFoundError:
        return None  # not there in this replay: nothing to edit
    with suppress(NotFoundError):  # the operator replaced it meanwhile: the edit is moot
        if how == "delete":
            res.delete(name=name, namespace=ns)
        elif how == "added":
            res.patch(name=name, namespace=ns, body={"metadata": {"annotations": {
                ADDED_ANNOTATION: "kept"}}}, content_type="application/merge-patch+json",
                field_manager=EDIT_MANAGER)
            return str(live.metadata.uid), ADDED_ANNOTATION
        else:
            res.patch(name=name, namespace=ns, body=owned_edit(kind, live.to_dict()),
                      content_type="application/merge-patch+json", field_manager=EDIT_MANAGER)
    return None


def owned_edit(kind: str, live: dict[str, Any]) -> dict[str, Any]:
    """A merge patch changing a field the operator owns on this kind of child."""
    if kind == "ConfigMap":
        data = live.get("data") or {}
        key = sorted(data)[0] if data else "edited"
        return {"data": {key: "edited by hand"}}
    if kind == "Deployment":
        return {"spec": {"replicas": (live["spec"].get("replicas") or 0) + 3}}
    if kind == "Service":
        selector = live["spec"].get("selector") or {"edited": ""}
        return {"spec": {"selector": {sorted(selector)[0]: "edited-by-hand"}}}
    if kind == "ServiceMonitor":
        return {"spec": {"endpoints": []}}
    if kind == "PrometheusRule":
        return {"spec": {"groups": []}}
    return {"spec": {"json": "{}"}}  # GrafanaDashboard


def make_foreign(api: client.ApiClient, ns: str, name: str) -> str | None:
    """A ConfigMap made by someone else with the name a child may want; its
    resourceVersion, or None when a child has the name already."""
    try:
        cm = client.CoreV1Api(api).create_namespaced_config_map(ns, client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name=name), data={"owner": "someone else"}))
    except client.ApiException as exc:
        if exc.status == 409:
            return None
        raise
    return str(meta(cm).resource_version)
