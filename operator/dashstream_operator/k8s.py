"""The only module that talks to the Kubernetes API (official client, sync).

kopf runs our sync handlers in its thread pool, so blocking calls here are fine.
Children are written with server-side apply under one field manager; our own CRs
are only ever written through their status subresource (GitOps: Argo CD owns spec,
labels and annotations).
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from kubernetes import client, config
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import NotFoundError, ResourceNotFoundError

from dashstream_operator.models import GROUP, VERSION, KindInfo, SecretKeyRef

__all__ = ["FIELD_MANAGER", "Kube", "SecretMissing", "api_forbidden", "api_unavailable"]

log = logging.getLogger(__name__)

FIELD_MANAGER = "dashstream-operator"
CRD_TTL = 30.0
REQUEST_TIMEOUT_SECONDS = 30.0


def _count_requests(api: client.ApiClient) -> None:
    """Count every request our client sends, by verb: the no-op resync benchmark and
    the operator's /metrics read it (kopf's own watch and patch traffic is not ours)."""
    from dashstream_operator.observability import METRICS

    rest = api.rest_client
    send = rest.request

    def counted(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        METRICS.api_requests.labels(method.upper()).inc()
        if kwargs.get("_request_timeout") is None and len(args) < 4:
            # Never wait forever on a half-open connection: a stuck request would stall a
            # resync pass, and /healthz then has the operator restarted.
            kwargs["_request_timeout"] = REQUEST_TIMEOUT_SECONDS
        return send(method, url, *args, **kwargs)

    rest.request = counted  # type: ignore[method-assign]


def api_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the API server could not be reached or is not serving (being
    restarted, overloaded): a condition of the cluster, retried by the next pass, not a
    bug worth a traceback."""
    import urllib3

    if isinstance(exc, client.ApiException):
        return exc.status in (0, 429, 500, 502, 503, 504)
    return isinstance(exc, (urllib3.exceptions.HTTPError, ConnectionError, TimeoutError))


def api_forbidden(exc: BaseException) -> str | None:
    """The API server's own words when ``exc`` is an authorization refusal (403), else
    None: a missing permission is the cluster's configuration, to be named in one log
    line (which verb on which resource, for whom), not a bug worth a traceback."""
    if not isinstance(exc, client.ApiException) or exc.status != 403:
        return None
    with contextlib.suppress(ValueError, TypeError, AttributeError):
        return str(json.loads(exc.body or "")["message"])
    return str(exc.reason or "Forbidden")


class SecretMissing(Exception):
    """A Secret or key the spec names does not exist (the message names both, no value)."""


class Kube:
    def __init__(self, api: client.ApiClient | None = None) -> None:
        if api is None:
            try:
                config.load_config()  # KUBECONFIG / ~/.kube/config, else in-cluster
            except config.ConfigException as exc:
                raise SystemExit(
                    "dashstream-operator: no cluster credentials: set KUBECONFIG, or run it "
                    f"in a pod with a service account ({exc})") from exc
            cfg = client.Configuration.get_default_copy()
            # One connection per worker thread (kopf's pool and the resync's), or
            # urllib3 opens and discards extra connections under load.
            cfg.connection_pool_maxsize = 32
            api = client.ApiClient(cfg)
        self.api = api
        _count_requests(api)
        self.core = client.CoreV1Api(api)
        self.custom = client.CustomObjectsApi(api)
        self._dyn: DynamicClient | None = None
        self._dyn_lock = threading.RLock()
        self._crd_seen: dict[str, tuple[bool, float]] = {}
        self._ns_labels: dict[str, tuple[dict[str, str] | None, float]] = {}

    @property
    def dyn(self) -> DynamicClient:
        # Only called with _dyn_lock held (see _resource).
        if self._dyn is None:
            self._dyn = DynamicClient(self.api)
        return self._dyn

    # --- our CRs: status only -------------------------------------------------------

    def patch_status(self, kind: KindInfo, namespace: str, name: str,
                     status: Mapping[str, Any]) -> dict[str, Any] | None:
        """Merge-patch the status subresource (lists such as conditions are replaced);
        returns the object as written, or None if it is gone."""
        try:
            obj: Any = self.custom.patch_namespaced_custom_object_status(
                GROUP, VERSION, namespace, kind.plural, name, {"status": dict(status)})
        except client.ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return dict(obj)

    def get_cr(self, kind: KindInfo, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            obj = self.custom.get_namespaced_custom_object(
                GROUP, VERSION, namespace, kind.plural, name)
            return dict(obj)  # type: ignore[call-overload]
        except client.ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def post_event(self, obj: Mapping[str, Any], type_: str, reason: str,
                   message: str) -> None:
        """A core/v1 Event about one of our objects (refusals, repairs; not successes).

        Posted directly rather than through kopf.event(), which needs kopf's handler
        context and so cannot be used from the resync loop.
        """
        meta = obj["metadata"]
        now = datetime.now(UTC)
        try:
            self.core.create_namespaced_event(meta["namespace"], client.CoreV1Event(
                metadata=client.V1ObjectMeta(generate_name=f"{meta['name']}.",
                                             namespace=meta["namespace"]),
                involved_object=client.V1ObjectReference(
                    api_version=obj["apiVersion"], kind=obj["kind"], name=meta["name"],
                    namespace=meta["namespace"], uid=meta.get("uid")),
                type=type_, reason=reason, message=message[:1024], count=1,
                first_timestamp=now, last_timestamp=now,
                source=client.V1EventSource(component=FIELD_MANAGER),
                reporting_component=FIELD_MANAGER, reporting_instance=FIELD_MANAGER))
        except client.ApiException as exc:
            # Events are best effort: a namespace being deleted refuses new ones (403),
            # and a refused Event must never fail, and so repeat, what it reports on.
            log.info("Event %s %s about %s/%s not posted: %s %s", type_, reason,
                     meta["namespace"], meta["name"], exc.status, exc.reason)

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

    def has_crd(self, name: str) -> bool:
        """Whether a CRD (e.g. servicemonitors.monitoring.coreos.com) is installed and
        established; cached for CRD_TTL seconds so a reconcile costs no extra request."""
        now = time.monotonic()
        with self._dyn_lock:
            hit = self._crd_seen.get(name)
            if hit is not None and now - hit[1] < CRD_TTL:
                return hit[0]
        try:
            crd = client.ApiextensionsV1Api(self.api).read_custom_resource_definition(name)
            conds = (crd.status.conditions or []) if crd.status else []
            present = any(c.type == "Established" and c.status == "True" for c in conds)
        except client.ApiException as exc:
            if exc.status != 404:
                raise
            present = False
        with self._dyn_lock:
            self._crd_seen[name] = (present, now)
        return present

    def namespace_labels(self, namespace: str) -> dict[str, str] | None:
        """A namespace's labels (None: not allowed to read them), cached like has_crd.
        Read with a LIST by name: the chart grants list on namespaces, not get."""
        now = time.monotonic()
        with self._dyn_lock:
            hit = self._ns_labels.get(namespace)
            if hit is not None and now - hit[1] < CRD_TTL:
                return hit[0]
        try:
            found = self.core.list_namespace(field_selector=f"metadata.name={namespace}")
            meta = found.items[0].metadata if found.items else None
            labels: dict[str, str] | None = dict((meta.labels if meta else None) or {})
        except client.ApiException as exc:
            if exc.status != 403:
                return None  # undecided this time; asked again by the next reconcile
            labels = None
        with self._dyn_lock:
            self._ns_labels[namespace] = (labels, now)
        return labels

    def has_kind(self, api_version: str, kind: str) -> bool:
        """Whether the cluster serves this kind (by discovery), cached like has_crd."""
        key, now = f"{api_version}/{kind}", time.monotonic()
        with self._dyn_lock:
            hit = self._crd_seen.get(key)
            if hit is not None and now - hit[1] < CRD_TTL:
                return hit[0]
            try:
                self._resource(api_version, kind)
                present = True
            except ResourceNotFoundError:
                present = False
            self._crd_seen[key] = (present, now)
            return present

    def _resource(self, api_version: str, kind: str) -> Any:
        """Discovery lookup; refreshed once when a kind is unknown (a CRD installed
        after we started). The discovery cache is not thread-safe, hence the lock."""
        with self._dyn_lock:
            try:
                return self.dyn.resources.get(api_version=api_version, kind=kind)
            except ResourceNotFoundError:
                self.dyn.resources.invalidate_cache()
                return self.dyn.resources.get(api_version=api_version, kind=kind)

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> Any:
        res = self._resource(api_version, kind)
        try:
            return res.get(name=name, namespace=namespace)
        except NotFoundError:
            return None

    def apply(self, obj: Mapping[str, Any], resource_version: str | None = None) -> Any:
        """Server-side apply under our one field manager; force takes back fields that a
        hand edit (another manager) took over, which is how drift is put back.

        ``resource_version``: apply only onto that version of the object (a 409 Conflict
        otherwise): the version whose ownership the caller checked."""
        res = self._resource(obj["apiVersion"], obj["kind"])
        meta = obj["metadata"]
        body = dict(obj)
        if resource_version is not None:
            body["metadata"] = {**meta, "resourceVersion": resource_version}
        return res.server_side_apply(
            body=body, name=meta["name"], namespace=meta.get("namespace"),
            field_manager=FIELD_MANAGER, force_conflicts=True)

    def list_metadata(self, api_version: str, kind: str, namespace: str | None,
                      selector: str) -> list[dict[str, Any]]:
        """The metadata only (PartialObjectMetadataList) of the objects of one kind that
        match a label selector, in one namespace or (None) all: what a cache refresh
        needs, without moving every ConfigMap's data each pass."""
        res = self._resource(api_version, kind)
        listing = res.get(namespace=namespace, label_selector=selector, header_params={
            "Accept": "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io"})
        return [{"metadata": item["metadata"]}
                for item in listing.to_dict().get("items") or []]

    def delete(self, api_version: str, kind: str, namespace: str, name: str,
               uid: str | None = None) -> bool:
        """Delete; with ``uid``, only that very object (a 409 Conflict if the name now
        belongs to another one), never whatever holds the name by now."""
        res = self._resource(api_version, kind)
        body = {"preconditions": {"uid": uid}} if uid else None
        try:
            res.delete(name=name, namespace=namespace, body=body)
            return True
        except NotFoundError:
            return False
