"""The only module that talks to the Kubernetes API (official client, sync).

kopf runs our sync handlers in its thread pool, so blocking calls here are fine.
Children are written with server-side apply under one field manager; our own CRs
are only ever written through their status subresource (GitOps: Argo CD owns spec,
labels and annotations).
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Mapping
from typing import Any

from kubernetes import client, config
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import NotFoundError, ResourceNotFoundError

from dashstream_operator.models import GROUP, VERSION, KindInfo, SecretKeyRef

__all__ = ["FIELD_MANAGER", "Kube", "SecretMissing"]

FIELD_MANAGER = "dashstream-operator"


class SecretMissing(Exception):
    """A Secret or key the spec names does not exist (the message names both, no value)."""


class Kube:
    def __init__(self, api: client.ApiClient | None = None) -> None:
        if api is None:
            config.load_config()  # in-cluster service account, else KUBECONFIG
            api = client.ApiClient()
        self.api = api
        self.core = client.CoreV1Api(api)
        self.custom = client.CustomObjectsApi(api)
        self._dyn: DynamicClient | None = None
        self._dyn_lock = threading.Lock()

    @property
    def dyn(self) -> DynamicClient:
        with self._dyn_lock:
            if self._dyn is None:
                self._dyn = DynamicClient(self.api)
            return self._dyn

    # --- our CRs: status only -------------------------------------------------------

    def patch_status(self, kind: KindInfo, namespace: str, name: str,
                     status: Mapping[str, Any]) -> None:
        """Merge-patch the status subresource (lists such as conditions are replaced)."""
        self.custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, namespace, kind.plural, name, {"status": dict(status)})

    def get_cr(self, kind: KindInfo, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            obj = self.custom.get_namespaced_custom_object(
                GROUP, VERSION, namespace, kind.plural, name)
            return dict(obj)  # type: ignore[call-overload]
        except client.ApiException as exc:
            if exc.status == 404:
                return None
            raise

    # --- secrets --------------------------------------------------------------------

    def read_secret(self, namespace: str, ref: SecretKeyRef) -> str:
        try:
            secret = self.core.read_namespaced_secret(ref.name, namespace)
        except client.ApiException as exc:
            if exc.status == 404:
                raise SecretMissing(f"Secret {namespace}/{ref.name} not found") from None
            raise
        data = secret.data or {}
        if ref.key not in data:
            raise SecretMissing(f"Secret {namespace}/{ref.name} has no key {ref.key!r}")
        return base64.b64decode(data[ref.key]).decode()

    # --- children -------------------------------------------------------------------

    def has_kind(self, api_version: str, kind: str) -> bool:
        """Whether the cluster serves this kind now (e.g. the ServiceMonitor CRD)."""
        try:
            self.dyn.resources.get(api_version=api_version, kind=kind)
            return True
        except ResourceNotFoundError:
            # Discovery is cached: look again in case the CRD was installed since.
            self.dyn.resources.invalidate_cache()
            try:
                self.dyn.resources.get(api_version=api_version, kind=kind)
                return True
            except ResourceNotFoundError:
                return False

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> Any:
        res = self.dyn.resources.get(api_version=api_version, kind=kind)
        try:
            return res.get(name=name, namespace=namespace)
        except NotFoundError:
            return None

    def apply(self, obj: Mapping[str, Any]) -> Any:
        """Server-side apply under our one field manager; force takes back fields that a
        hand edit (another manager) took over, which is how drift is put back."""
        res = self.dyn.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
        meta = obj["metadata"]
        return res.server_side_apply(
            body=dict(obj), name=meta["name"], namespace=meta.get("namespace"),
            field_manager=FIELD_MANAGER, force_conflicts=True)

    def list_labelled(self, api_version: str, kind: str, namespace: str,
                      selector: str) -> list[Any]:
        res = self.dyn.resources.get(api_version=api_version, kind=kind)
        return list(res.get(namespace=namespace, label_selector=selector).items)

    def delete(self, api_version: str, kind: str, namespace: str, name: str) -> bool:
        res = self.dyn.resources.get(api_version=api_version, kind=kind)
        try:
            res.delete(name=name, namespace=namespace)
            return True
        except NotFoundError:
            return False
