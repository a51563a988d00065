"""The GrafanaDashboards a DashboardSet renders, read by a real grafana-operator v5.

No Grafana server can run here, so "no matching instances" is the best outcome there
is: grafana-operator reaches it only after it has decoded the dashboard (plain ``json``
or ``gzipJson``); a dashboard it cannot decode is ``InvalidSpec`` instead, as the
control object at the end shows."""

from __future__ import annotations

import base64
import gzip
import json
import secrets
from typing import Any

from kubernetes import client
from kubernetes.dynamic import DynamicClient

from support.dashboardsets import CANONICAL, GD, dashboard_set, inline, wait_settled
from support.kube import apply, list_custom
from support.operator import OperatorProcess
from support.wait import wait_until


def _padded(limit: int = 950 * 1024) -> dict[str, Any]:
    """A canonical dashboard over the operator's size limit: it goes out as gzipJson."""
    dashboard = json.loads(CANONICAL[0].read_text())
    dashboard["uid"], dashboard["title"] = "dashstream-padded", "DashStream padded"
    dashboard["description"] = secrets.token_hex(limit // 2)
    raw = gzip.compress(json.dumps(dashboard).encode())
    return {"name": "padded", "gzipBase64": base64.b64encode(raw).decode()}


def _verdicts(custom: client.CustomObjectsApi, ns: str) -> dict[str, dict[str, str]] | None:
    """grafana-operator's conditions on each GrafanaDashboard, once it has judged all."""
    out = {}
    for gd in list_custom(custom, "grafana.integreatly.org", "v1beta1", ns,
                          "grafanadashboards"):
        conditions = {c["type"]: c.get("message", "")
                      for c in (gd.get("status") or {}).get("conditions") or []}
        if not conditions:
            return None
        out[gd["metadata"]["name"]] = conditions
    return out or None


def test_grafana_operator_decodes_every_rendered_dashboard(
        kube_api: client.ApiClient, dyn: DynamicClient, namespace: str, grafana_operator: str,
        operator: OperatorProcess) -> None:
    custom = client.CustomObjectsApi(kube_api)
    sources = [inline(p) for p in CANONICAL] + [_padded()]
    apply(dyn, dashboard_set("all", namespace, sources))
    wait_settled(kube_api, namespace, "all", ready="True", timeout=90)
    rendered = list_custom(custom, "grafana.integreatly.org", "v1beta1", namespace,
                           "grafanadashboards")
    forms = sorted("gzipJson" if "gzipJson" in g["spec"] else "json" for g in rendered)
    assert forms == ["gzipJson", "json", "json", "json"], forms

    seen, took = wait_until(lambda: (v := _verdicts(custom, namespace)) and len(v) == 4 and v,
                            timeout=60, what="grafana-operator judged the 4 dashboards")
    print(f"grafana-operator {grafana_operator} after {took:.1f}s: " + "; ".join(
        f"{name}: {sorted(conds)}" for name, conds in sorted(seen.items())))
    for name, conditions in seen.items():
        assert "InvalidSpec" not in conditions, (name, conditions)
        assert set(conditions) == {"NoMatchingInstance"}, (name, conditions)

    # The control: what grafana-operator says of a dashboard it cannot decode.
    apply(dyn, {"apiVersion": f"{GD[0]}", "kind": GD[1],
                "metadata": {"name": "control", "namespace": namespace},
                "spec": {"instanceSelector": {}, "json": "{not json"}})
    def control() -> dict[str, str] | None:
        return (_verdicts(custom, namespace) or {}).get("control")

    judged, _ = wait_until(control, timeout=60, what="grafana-operator judged the control")
    assert "InvalidSpec" in judged, judged
