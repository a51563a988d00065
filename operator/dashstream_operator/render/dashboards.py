"""Pure renderers of a DashboardSet's children: sources in, manifest dicts out.

A dashboard's source (inline ``json``, ``gzipBase64`` or a ConfigMap key, whose
content the caller passes in) is decoded to the exact bytes the user wrote; those
bytes are what is synced, so the stored JSON equals the source byte for byte
(unless ``spec.datasource`` is set: then the ``datasource`` variable's default is
bound and the JSON re-serialised). Targets:

- the Grafana sidecar: one ConfigMap per dashboard, key ``<uid>.json`` in ``data``;
  a payload over :data:`SIZE_LIMIT` goes gzipped to ``binaryData`` as
  ``<uid>.json.gz`` (the stock k8s-sidecar writes that file as is and Grafana's file
  provider ignores ``.gz`` files: see docs/dashboardsets.md);
- grafana-operator v5: one ``GrafanaDashboard`` per dashboard, ``spec.json``, or
  ``spec.gzipJson`` above :data:`SIZE_LIMIT`.

A payload that does not fit even gzipped is refused (:func:`size_problem`) before
anything is rendered, so an apply never fails on size. No I/O, no clock.
"""

from __future__ import annotations

import base64
import binascii
import copy
import gzip
import hashlib
import json
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from dashstream_operator.models.dashboardset import DashboardSpec, ResolvedDashboardTargets
from dashstream_operator.models.kinds import DASHBOARD_SET

from .names import MANAGED_BY, PART_OF, dns_label

__all__ = [
    "GRAFANA_DASHBOARD",
    "SET_LABEL",
    "SIZE_LIMIT",
    "UID_ANNOTATION",
    "DashboardPayload",
    "Owner",
    "SourceError",
    "bind_datasource",
    "child_name",
    "decode_source",
    "gzip_bytes",
    "parse_dashboard",
    "payload_of_child",
    "render_configmap",
    "render_dashboard_children",
    "render_grafana_dashboard",
    "size_problem",
]

#: Largest payload written into one object, as stored (JSON text, gzip bytes, or the
#: base64 of gzipJson). ConfigMaps hold at most 1 MiB of data; etcd refuses requests
#: over 1.5 MiB; the rest is headroom for metadata and JSON escaping.
SIZE_LIMIT: Final = 900 * 1024
#: A gzip source may not inflate beyond this (a 1.5 MB CR field could hold a zip bomb).
MAX_DECOMPRESSED: Final = 32 * 1024 * 1024
GRAFANA_DASHBOARD: Final = ("grafana.integreatly.org/v1beta1", "GrafanaDashboard")
SET_LABEL: Final = "dashstream.io/dashboardset"
UID_ANNOTATION: Final = "dashstream.io/dashboard-uid"
_MAX_NAME = 253
_GZIP_MAGIC = b"\x1f\x8b"


class SourceError(ValueError):
    """A dashboard source that cannot be read or decoded; the message says why."""


@dataclass(frozen=True)
class Owner:
    """The DashboardSet the children belong to."""

    name: str
    namespace: str
    uid: str


@dataclass(frozen=True)
class DashboardPayload:
    """One dashboard ready to sync: its name in the set, its uid, the JSON bytes."""

    name: str
    uid: str
    payload: bytes


def _gunzip(data: bytes, what: str) -> bytes:
    inflater = zlib.decompressobj(wbits=31)  # gzip container only
    try:
        out = inflater.decompress(data, MAX_DECOMPRESSED)
    except zlib.error as exc:
        raise SourceError(f"{what} is not valid gzip data: {exc}") from None
    if inflater.unconsumed_tail:
        raise SourceError(f"{what} inflates to more than {MAX_DECOMPRESSED} bytes")
    if not inflater.eof:
        raise SourceError(f"{what} is a truncated gzip stream")
    return out


def _b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SourceError(f"{what} is not valid base64: {exc}") from None


def decode_source(dashboard: DashboardSpec, configmap: Mapping[str, Any] | None = None) -> bytes:
    """The dashboard JSON exactly as the user wrote it.

    ``configmap`` is the referenced ConfigMap as the API returns it (``data`` text,
    ``binaryData`` base64, optionally gzipped), or None when it does not exist.
    """
    if dashboard.json_ is not None:
        return dashboard.json_.encode("utf-8")
    if dashboard.gzip_base64 is not None:
        return _gunzip(_b64(dashboard.gzip_base64, "gzipBase64"), "gzipBase64")
    ref = dashboard.config_map_key_ref
    assert ref is not None  # the model guarantees exactly one source
    if configmap is None:
        raise SourceError(f"ConfigMap {ref.name!r} not found")
    data, binary = configmap.get("data") or {}, configmap.get("binaryData") or {}
    if ref.key in data:
        return str(data[ref.key]).encode("utf-8")
    if ref.key in binary:
        raw = _b64(str(binary[ref.key]), f"ConfigMap {ref.name!r} key {ref.key!r}")
        return _gunzip(raw, f"ConfigMap {ref.name!r} key {ref.key!r}") \
            if raw[:2] == _GZIP_MAGIC else raw
    raise SourceError(f"ConfigMap {ref.name!r} has no key {ref.key!r}")


def parse_dashboard(raw: bytes) -> Any:
    """The parsed JSON; :class:`SourceError` when it is not UTF-8 JSON."""
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise SourceError(f"dashboard is not UTF-8 text: {exc}") from None
    except json.JSONDecodeError as exc:
        raise SourceError(f"dashboard is not valid JSON: {exc}") from None


def bind_datasource(raw: bytes, dashboard: Any, datasource: str | None) -> bytes:
    """Make ``datasource`` the default of the dashboard's Prometheus datasource variables.

    Unchanged bytes when no datasource is given or no such variable exists; otherwise
    the JSON is re-serialised (2-space indent, trailing newline kept).
    """
    if not datasource or not isinstance(dashboard, dict):
        return raw
    dashboard = copy.deepcopy(dashboard)  # pure: the caller's object stays as parsed
    templating = dashboard.get("templating")
    items = templating.get("list") if isinstance(templating, dict) else None
    changed = False
    for var in items if isinstance(items, list) else []:
        if isinstance(var, dict) and var.get("type") == "datasource" and \
                var.get("query") in ("prometheus", None):
            current = {"selected": True, "text": datasource, "value": datasource}
            if var.get("current") != current:
                var["current"] = current
                changed = True
    if not changed:
        return raw
    text = json.dumps(dashboard, indent=2, ensure_ascii=False)
    return (text + "\n" if raw.endswith(b"\n") else text).encode("utf-8")


def gzip_bytes(data: bytes) -> bytes:
    """Deterministic gzip (mtime 0): an unchanged dashboard renders identical bytes, so a
    no-op reconcile finds nothing to apply."""
    return gzip.compress(data, compresslevel=9, mtime=0)


def _b64_len(n: int) -> int:
    return 4 * ((n + 2) // 3)


def size_problem(payload: bytes, targets: ResolvedDashboardTargets, grafana_crd: bool,
                 limit: int = SIZE_LIMIT) -> str | None:
    """Why ``payload`` cannot be stored in some enabled target, or None when it fits."""
    if len(payload) <= limit:
        return None
    gz = len(gzip_bytes(payload))
    sizes = []
    if targets.sidecar:
        sizes.append(gz)
    if targets.grafana_operator and grafana_crd:
        sizes.append(_b64_len(gz))  # gzipJson is base64 text in the object
    if all(s <= limit for s in sizes):
        return None
    return (f"TooLarge: dashboard JSON is {len(payload)} bytes, {gz} gzipped; an object "
            f"holds at most {limit} bytes of dashboard (ConfigMap 1 MiB, etcd 1.5 MiB): "
            "split the dashboard")


def child_name(set_name: str, dashboard: str) -> str:
    """``<set>-<dashboard>``; a set name too long for that is shortened with a hash."""
    name = f"{set_name}-{dashboard}"
    if len(name) <= _MAX_NAME:
        return name
    digest = hashlib.sha256(set_name.encode()).hexdigest()[:8]
    head = set_name[: _MAX_NAME - len(dashboard) - 10].rstrip("-.")
    return f"{head}-{digest}-{dashboard}"


def _metadata(owner: Owner, dashboard: DashboardPayload, labels: Mapping[str, str],
              annotations: Mapping[str, str]) -> dict[str, Any]:
    # Labels are ours only, never copied from the DashboardSet (Argo CD's tracking label
    # would make it prune or flag the children); ours win over configurable ones.
    return {
        "name": child_name(owner.name, dashboard.name),
        "namespace": owner.namespace,
        "labels": {**labels, "app.kubernetes.io/name": "dashstream-dashboard",
                   "app.kubernetes.io/instance": dns_label(owner.name),
                   "app.kubernetes.io/part-of": PART_OF,
                   "app.kubernetes.io/managed-by": MANAGED_BY,
                   SET_LABEL: dns_label(owner.name)},
        "annotations": {**annotations, UID_ANNOTATION: dashboard.uid},
        "ownerReferences": [{
            "apiVersion": DASHBOARD_SET.api_version, "kind": DASHBOARD_SET.kind,
            "name": owner.name, "uid": owner.uid, "controller": True,
            "blockOwnerDeletion": True}],
    }


def render_configmap(owner: Owner, dashboard: DashboardPayload,
                     targets: ResolvedDashboardTargets, folder: str | None,
                     limit: int = SIZE_LIMIT) -> dict[str, Any]:
    """The sidecar ConfigMap: ``data.<uid>.json``, or gzipped ``binaryData`` when large."""
    annotations = {targets.folder_annotation: folder} if folder else {}
    obj: dict[str, Any] = {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": _metadata(owner, dashboard, {targets.label_key: targets.label_value},
                              annotations)}
    if len(dashboard.payload) <= limit:
        obj["data"] = {f"{dashboard.uid}.json": dashboard.payload.decode("utf-8")}
    else:
        gz = base64.b64encode(gzip_bytes(dashboard.payload)).decode("ascii")
        obj["binaryData"] = {f"{dashboard.uid}.json.gz": gz}
    return obj


def render_grafana_dashboard(owner: Owner, dashboard: DashboardPayload,
                             targets: ResolvedDashboardTargets, folder: str | None,
                             limit: int = SIZE_LIMIT) -> dict[str, Any]:
    """The grafana-operator v5 GrafanaDashboard: ``json``, or ``gzipJson`` when large."""
    spec: dict[str, Any] = {
        "instanceSelector": dict(targets.instance_selector),
        # Always explicit: the CRD defaults it to false, and its CEL rule compares it
        # with the old value.
        "allowCrossNamespaceImport": targets.allow_cross_namespace_import,
    }
    if folder:
        spec["folder"] = folder
    if len(dashboard.payload) <= limit:
        spec["json"] = dashboard.payload.decode("utf-8")
    else:
        spec["gzipJson"] = base64.b64encode(gzip_bytes(dashboard.payload)).decode("ascii")
    api_version, kind = GRAFANA_DASHBOARD
    return {"apiVersion": api_version, "kind": kind,
            "metadata": _metadata(owner, dashboard, {}, {}), "spec": spec}


def render_dashboard_children(owner: Owner, dashboards: Sequence[DashboardPayload],
                              targets: ResolvedDashboardTargets, folder: str | None,
                              grafana_crd: bool) -> list[dict[str, Any]]:
    """Every child for ``dashboards`` (already validated and size-checked), in order:
    per dashboard its ConfigMap, then its GrafanaDashboard when that CRD exists."""
    out: list[dict[str, Any]] = []
    for dashboard in dashboards:
        if targets.sidecar:
            out.append(render_configmap(owner, dashboard, targets, folder))
        if targets.grafana_operator and grafana_crd:
            out.append(render_grafana_dashboard(owner, dashboard, targets, folder))
    return out


def payload_of_child(obj: Mapping[str, Any]) -> tuple[str, bytes] | None:
    """(uid, JSON bytes) held by a child we rendered, to keep the last synced version of a
    dashboard whose current source is invalid; None when it holds none."""
    try:
        if obj.get("kind") == "ConfigMap":
            for key, text in (obj.get("data") or {}).items():
                if key.endswith(".json"):
                    return key[: -len(".json")], str(text).encode("utf-8")
            for key, b64 in (obj.get("binaryData") or {}).items():
                if key.endswith(".json.gz"):
                    return key[: -len(".json.gz")], _gunzip(_b64(str(b64), key), key)
            return None
        spec = obj.get("spec") or {}
        uid = str((obj.get("metadata", {}).get("annotations") or {}).get(UID_ANNOTATION, ""))
        if isinstance(spec.get("json"), str):
            return uid, spec["json"].encode("utf-8")
        if isinstance(spec.get("gzipJson"), str):
            return uid, _gunzip(_b64(spec["gzipJson"], "gzipJson"), "gzipJson")
    except SourceError:
        return None
    return None
