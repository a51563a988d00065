"""DashboardSet test helpers: sample objects, reading what the operator synced."""

from __future__ import annotations

import base64
import gzip
import json
import os
from pathlib import Path
from typing import Any, cast

from kubernetes import client
from kubernetes.dynamic import DynamicClient

from support.kube import get_custom, get_or_none, list_custom
from support.pipelines import condition
from support.wait import wait_until

REPO = Path(__file__).resolve().parents[2]
CANONICAL = sorted((REPO / "dashboards").glob("*.json"))
DATA = REPO / "tests/data/dashboards"
GROUP, VERSION, PLURAL = "dashstream.io", "v1alpha1", "dashboardsets"
GD = ("grafana.integreatly.org/v1beta1", "GrafanaDashboard")
RESYNC = 1.5
LIMIT = 900 * 1024



def dashboard_set(name: str, ns: str, dashboards: list[dict[str, Any]],
                  **spec: Any) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "DashboardSet",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"dashboards": dashboards, **spec}}


def inline(path: Path, name: str | None = None) -> dict[str, Any]:
    return {"name": name or path.stem, "json": path.read_text(encoding="utf-8")}


def get_set(api: client.ApiClient, ns: str, name: str) -> dict[str, Any]:
    return get_custom(client.CustomObjectsApi(api), GROUP, VERSION, ns, PLURAL, name)


def entries(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {d["name"]: d for d in (obj.get("status") or {}).get("dashboards") or []}


def settled(api: client.ApiClient, ns: str, name: str) -> dict[str, Any]:
    """The set once the operator reported on its current generation."""
    obj = get_set(api, ns, name)
    status = obj.get("status") or {}
    current = status.get("observedGeneration") == obj["metadata"]["generation"]
    return obj if current and condition(obj, "Ready") else {}


def wait_settled(api: client.ApiClient, ns: str, name: str, ready: str | None = None,
                 timeout: float = 60) -> dict[str, Any]:
    def check() -> dict[str, Any]:
        obj = settled(api, ns, name)
        if obj and ready is not None and condition(obj, "Ready")["status"] != ready:  # type: ignore[index]
            return {}
        return obj

    obj, waited = wait_until(check, timeout=timeout, what=f"DashboardSet {name} settled")
    print(f"{name}: settled after {waited:.1f}s")
    return obj


def configmap(dyn: DynamicClient, ns: str, name: str) -> dict[str, Any] | None:
    found = get_or_none(dyn, "v1", "ConfigMap", name, ns)
    return cast(dict[str, Any], found.to_dict()) if found is not None else None


def stored_json(dyn: DynamicClient, ns: str, name: str) -> bytes | None:
    """What Grafana's sidecar would read: data <uid>.json, or binaryData gunzipped."""
    cm = configmap(dyn, ns, name)
    if cm is None:
        return None
    if cm.get("data"):
        return str(next(iter(cm["data"].values()))).encode("utf-8")
    return gzip.decompress(base64.b64decode(next(iter(cm["binaryData"].values()))))


def grafana_dashboard(dyn: DynamicClient, ns: str, name: str) -> dict[str, Any] | None:
    found = get_or_none(dyn, *GD, name, ns)
    return cast(dict[str, Any], found.to_dict()) if found is not None else None


def gd_json(dyn: DynamicClient, ns: str, name: str) -> bytes | None:
    obj = grafana_dashboard(dyn, ns, name)
    if obj is None:
        return None
    spec = obj["spec"]
    if "json" in spec:
        return str(spec["json"]).encode("utf-8")
    return gzip.decompress(base64.b64decode(spec["gzipJson"]))


def versions(api: client.ApiClient, dyn: DynamicClient, ns: str) -> dict[str, str]:
    """resourceVersion of the sets and ConfigMaps; of each GrafanaDashboard, what our
    field manager last wrote (a grafana-operator running in the cluster writes their
    status, which is no write of ours)."""
    sets = list_custom(client.CustomObjectsApi(api), GROUP, VERSION, ns, PLURAL)
    out = {f"dbs/{o['metadata']['name']}": o["metadata"]["resourceVersion"] for o in sets}
    items = dyn.resources.get(api_version="v1", kind="ConfigMap").get(namespace=ns).items
    out |= {f"cm/{i.metadata.name}": i.metadata.resourceVersion for i in items}
    for gd in dyn.resources.get(api_version=GD[0], kind=GD[1]).get(namespace=ns).to_dict()[
            "items"]:
        meta = gd["metadata"]
        ours = [f"{m.get('operation')}@{m.get('time')}" for m in meta.get("managedFields") or []
                if m.get("manager") == "dashstream-operator" and not m.get("subresource")]
        out[f"gd/{meta['name']}"] = f"generation {meta.get('generation')} {sorted(ours)}"
    return out


def sized_dashboard(uid: str, target: int, incompressible: bool = False) -> bytes:
    """A valid dashboard of about ``target`` bytes: repeated panels, or random text."""
    doc = json.loads((DATA / "small-valid.json").read_text())
    doc["uid"] = uid
    if incompressible:
        doc["description"] = base64.b64encode(os.urandom(target * 3 // 4)).decode()
    else:
        template = doc["panels"][0]

        def panels(n: int) -> list[dict[str, Any]]:
            return [{**template, "id": i + 1, "title": f"Events {i}",
                     "gridPos": {"h": 8, "w": 12, "x": 12 * (i % 2), "y": 8 * (i // 2)}}
                    for i in range(n)]

        doc["panels"] = panels(100)
        per_panel = len(json.dumps(doc, indent=2)) / 100
        doc["panels"] = panels(int(target / per_panel) + 1)
    return (json.dumps(doc, indent=2) + "\n").encode()


