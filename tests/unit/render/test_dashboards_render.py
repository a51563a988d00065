"""Pure renderers of a DashboardSet's children: decode, bind, size, render.

Golden-ish: whatever the source form, the payload stored in a child decodes to the
source bytes exactly.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
from pathlib import Path
from typing import Any

import pytest

from dashstream_operator.models import DashboardSetSpec, DashboardSpec
from dashstream_operator.render.dashboards import (
    SET_LABEL,
    SIZE_LIMIT,
    UID_ANNOTATION,
    DashboardPayload,
    Owner,
    SourceError,
    bind_datasource,
    child_name,
    decode_source,
    gzip_bytes,
    parse_dashboard,
    payload_of_child,
    render_configmap,
    render_dashboard_children,
    render_grafana_dashboard,
    size_problem,
)

REPO = Path(__file__).resolve().parents[3]
CANONICAL = sorted((REPO / "dashboards").glob("*.json"))
SMALL = REPO / "tests/data/dashboards/small-valid.json"
OWNER = Owner("team-a", "monitoring", "0b5e-uid")


def spec_of(**spec: Any) -> DashboardSetSpec:
    spec.setdefault("dashboards", [{"name": "x", "json": "{}"}])
    return DashboardSetSpec.from_body({"spec": spec})


def targets(**t: Any) -> Any:
    return spec_of(**({"targets": t} if t else {})).resolved_targets()


def stored(obj: dict[str, Any]) -> bytes:
    """The dashboard bytes a child holds, decoded the way Grafana's side would."""
    if obj["kind"] == "ConfigMap":
        if obj.get("data"):
            return next(iter(obj["data"].values())).encode("utf-8")
        return gzip.decompress(base64.b64decode(next(iter(obj["binaryData"].values()))))
    if "json" in obj["spec"]:
        return obj["spec"]["json"].encode("utf-8")
    return gzip.decompress(base64.b64decode(obj["spec"]["gzipJson"]))


def big_dashboard(target_bytes: int, incompressible: bool = False) -> bytes:
    """A valid dashboard of at least ``target_bytes``: panels repeated (compressible) or
    one random description (incompressible)."""
    doc = json.loads(SMALL.read_text())
    if incompressible:
        doc["description"] = base64.b64encode(os.urandom(target_bytes)).decode()
    else:
        template = doc["panels"][0]
        per_panel = len(json.dumps(template, indent=2)) + 20
        doc["panels"] = [
            {**template, "id": i + 1, "title": f"Events {i}",
             "gridPos": {"h": 8, "w": 12, "x": 12 * (i % 2), "y": 8 * (i // 2)}}
            for i in range(target_bytes // per_panel + 1)]
    return (json.dumps(doc, indent=2) + "\n").encode()


# --- decoding: every source form gives the source bytes back -------------------------


@pytest.mark.parametrize("path", CANONICAL, ids=lambda p: p.name)
def test_every_source_form_decodes_to_the_exact_bytes(path: Path) -> None:
    raw = path.read_bytes()
    gz64 = base64.encodebytes(gzip.compress(raw)).decode()  # with line breaks, as in YAML
    cm_gz = {"binaryData": {"k": base64.b64encode(gzip.compress(raw)).decode()}}
    cases: list[tuple[dict[str, Any], dict[str, Any] | None]] = [
        ({"json": raw.decode()}, None),
        ({"gzipBase64": gz64}, None),
        ({"configMapKeyRef": {"name": "src", "key": "k"}}, {"data": {"k": raw.decode()}}),
        ({"configMapKeyRef": {"name": "src", "key": "k"}}, cm_gz),
        ({"configMapKeyRef": {"name": "src", "key": "k"}},
         {"binaryData": {"k": base64.b64encode(raw).decode()}}),
    ]
    for source, configmap in cases:
        d = DashboardSpec.model_validate({"name": "d", **source})
        assert decode_source(d, configmap) == raw, d.source


@pytest.mark.parametrize(("source", "configmap", "message"), [
    ({"gzipBase64": "AAAAA"}, None, "not valid base64"),
    ({"gzipBase64": base64.b64encode(b"plain text").decode()}, None, "not valid gzip"),
    ({"gzipBase64": base64.b64encode(gzip.compress(b"{}")[:-6]).decode()}, None, "truncated"),
    ({"configMapKeyRef": {"name": "src", "key": "k"}}, None, "ConfigMap 'src' not found"),
    ({"configMapKeyRef": {"name": "src", "key": "k"}}, {"data": {"other": "{}"}},
     "has no key 'k'"),
])
def test_bad_sources_say_why(source: dict[str, Any], configmap: Any, message: str) -> None:
    d = DashboardSpec.model_validate({"name": "d", **source})
    with pytest.raises(SourceError, match=message):
        decode_source(d, configmap)


def test_a_zip_bomb_is_refused() -> None:
    bomb = base64.b64encode(gzip.compress(b"\0" * (33 * 1024 * 1024))).decode()
    assert len(bomb) < 100_000
    with pytest.raises(SourceError, match="inflates to more than"):
        decode_source(DashboardSpec.model_validate({"name": "d", "gzipBase64": bomb}))


@pytest.mark.parametrize(("raw", "message"), [
    (b"{not json", "not valid JSON"), (b"\xff\xfe{}", "not UTF-8")])
def test_parse_errors_are_source_errors(raw: bytes, message: str) -> None:
    with pytest.raises(SourceError, match=message):
        parse_dashboard(raw)


# --- datasource binding ---------------------------------------------------------------


def test_datasource_binding_sets_the_variable_default_and_nothing_else() -> None:
    raw = SMALL.read_bytes()
    doc = parse_dashboard(raw)
    assert bind_datasource(raw, doc, None) is raw  # byte for byte without spec.datasource
    bound = bind_datasource(raw, doc, "Prometheus EU")
    assert doc == parse_dashboard(raw), "the caller's object must not change"
    new = json.loads(bound)
    assert new["templating"]["list"][0]["current"] == {
        "selected": True, "text": "Prometheus EU", "value": "Prometheus EU"}
    new["templating"]["list"][0]["current"] = {}
    assert new == doc and bound.endswith(b"\n")
    assert bind_datasource(bound, json.loads(bound), "Prometheus EU") == bound  # idempotent


def test_datasource_binding_leaves_dashboards_without_the_variable_alone() -> None:
    raw = b'{"uid": "a", "templating": {"list": [{"name": "ns", "type": "query"}]}}'
    assert bind_datasource(raw, json.loads(raw), "Prometheus") is raw


# --- ConfigMaps for the sidecar --------------------------------------------------------


@pytest.mark.parametrize("path", CANONICAL, ids=lambda p: p.name)
def test_sidecar_configmap_holds_the_source_byte_for_byte(path: Path) -> None:
    raw = path.read_bytes()
    uid = json.loads(raw)["uid"]
    cm = render_configmap(OWNER, DashboardPayload(path.stem, uid, raw), targets(), "DashStream")
    assert list(cm["data"]) == [f"{uid}.json"] and "binaryData" not in cm
    assert stored(cm) == raw
    meta = cm["metadata"]
    assert meta["name"] == f"team-a-{path.stem}" and meta["namespace"] == "monitoring"
    assert meta["labels"]["grafana_dashboard"] == "1"
    assert meta["labels"]["app.kubernetes.io/managed-by"] == "dashstream-operator"
    assert meta["labels"]["app.kubernetes.io/part-of"] == "dashstream"
    assert meta["labels"][SET_LABEL] == "team-a"
    assert meta["annotations"] == {"grafana_folder": "DashStream", UID_ANNOTATION: uid}
    assert meta["ownerReferences"] == [{
        "apiVersion": "dashstream.io/v1alpha1", "kind": "DashboardSet", "name": "team-a",
        "uid": "0b5e-uid", "controller": True, "blockOwnerDeletion": True}]


def test_sidecar_label_and_folder_annotation_are_configurable() -> None:
    t = targets(sidecar={"labelKey": "dashboards", "labelValue": "dashstream",
                         "folderAnnotation": "k8s-sidecar-target-directory"})
    cm = render_configmap(OWNER, DashboardPayload("d", "u", b"{}"), t, "Team A")
    assert cm["metadata"]["labels"]["dashboards"] == "dashstream"
    assert "grafana_dashboard" not in cm["metadata"]["labels"]
    assert cm["metadata"]["annotations"]["k8s-sidecar-target-directory"] == "Team A"
    no_folder = render_configmap(OWNER, DashboardPayload("d", "u", b"{}"), t, None)
    assert no_folder["metadata"]["annotations"] == {UID_ANNOTATION: "u"}


def test_our_labels_win_over_a_configured_label_key() -> None:
    t = targets(sidecar={"labelKey": "app.kubernetes.io/managed-by", "labelValue": "helm"})
    cm = render_configmap(OWNER, DashboardPayload("d", "u", b"{}"), t, None)
    assert cm["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "dashstream-operator"


def test_a_large_dashboard_is_stored_gzipped_deterministically() -> None:
    raw = big_dashboard(2 * 1024 * 1024)
    assert len(raw) >= 2 * 1024 * 1024
    dash = DashboardPayload("big", "dbs-test-small", raw)
    cm = render_configmap(OWNER, dash, targets(), None)
    assert "data" not in cm and list(cm["binaryData"]) == ["dbs-test-small.json.gz"]
    assert stored(cm) == raw
    assert len(base64.b64decode(cm["binaryData"]["dbs-test-small.json.gz"])) <= SIZE_LIMIT
    assert render_configmap(OWNER, dash, targets(), None) == cm  # no spurious re-apply
    print(f"2 MiB dashboard: {len(raw)} bytes -> {len(gzip_bytes(raw))} gzipped")


# --- GrafanaDashboards for grafana-operator ------------------------------------------------


def test_grafana_dashboard_json_or_gzip_json() -> None:
    t = targets(grafanaOperator={"instanceSelector": {"matchLabels": {"dashboards": "grafana"}},
                                 "allowCrossNamespaceImport": True})
    raw = CANONICAL[0].read_bytes()
    gd = render_grafana_dashboard(OWNER, DashboardPayload("d", "u", raw), t, "DashStream")
    assert (gd["apiVersion"], gd["kind"]) == ("grafana.integreatly.org/v1beta1",
                                              "GrafanaDashboard")
    assert gd["spec"] == {"instanceSelector": {"matchLabels": {"dashboards": "grafana"}},
                          "allowCrossNamespaceImport": True, "folder": "DashStream",
                          "json": raw.decode()}
    assert "grafana_dashboard" not in gd["metadata"]["labels"]
    big = big_dashboard(2 * 1024 * 1024)
    gz = render_grafana_dashboard(OWNER, DashboardPayload("d", "u", big), targets(), None)
    assert "json" not in gz["spec"] and stored(gz) == big
    assert gz["spec"]["allowCrossNamespaceImport"] is False  # explicit, never defaulted
    assert gz["spec"]["instanceSelector"] == {} and "folder" not in gz["spec"]


def test_children_follow_targets_and_the_crd() -> None:
    dashes = [DashboardPayload("a", "ua", b"{}"), DashboardPayload("b", "ub", b"{}")]
    kinds = [c["kind"] for c in render_dashboard_children(OWNER, dashes, targets(), None, True)]
    assert kinds == ["ConfigMap", "GrafanaDashboard", "ConfigMap", "GrafanaDashboard"]
    no_crd = render_dashboard_children(OWNER, dashes, targets(), None, False)
    assert [c["kind"] for c in no_crd] == ["ConfigMap", "ConfigMap"]
    go_only = targets(sidecar={"enabled": False}, grafanaOperator={})
    assert [c["kind"] for c in render_dashboard_children(OWNER, dashes, go_only, None, True)] \
        == ["GrafanaDashboard", "GrafanaDashboard"]
    sidecar_only = targets(sidecar={})
    assert [c["kind"] for c in render_dashboard_children(
        OWNER, dashes, sidecar_only, None, True)] == ["ConfigMap", "ConfigMap"]


# --- size limits ------------------------------------------------------------------------


def test_size_problem_allows_compressible_and_refuses_incompressible() -> None:
    assert size_problem(SMALL.read_bytes(), targets(), True) is None
    assert size_problem(big_dashboard(2 * 1024 * 1024), targets(), True) is None
    noise = big_dashboard(1_000_000, incompressible=True)  # base64 text: ~1.33 MB
    problem = size_problem(noise, targets(), True)
    assert problem is not None and problem.startswith("TooLarge:")
    assert f"{len(noise)} bytes" in problem
    print(f"incompressible dashboard: {len(noise)} bytes -> {len(gzip_bytes(noise))} gzipped")


def test_gzip_json_counts_its_base64_size() -> None:
    # gzip output between limit*3/4 and limit fits a ConfigMap but not a gzipJson field.
    raw = big_dashboard(950_000, incompressible=True)
    gz = len(gzip_bytes(raw))
    limit = gz + 1000
    assert len(raw) > limit and 4 * ((gz + 2) // 3) > limit
    assert size_problem(raw, targets(sidecar={}), True, limit) is None
    assert size_problem(raw, targets(), True, limit) is not None
    assert size_problem(raw, targets(), False, limit) is None  # no CRD: sidecar only


# --- names and the keep-last-version path ---------------------------------------------------


def test_child_names_fit_and_stay_distinct() -> None:
    assert child_name("team-a", "quality") == "team-a-quality"
    long_a, long_b = "a" * 240 + ".x", "a" * 240 + ".y"
    na, nb = child_name(long_a, "quality"), child_name(long_b, "quality")
    assert len(na) <= 253 and na.endswith("-quality") and na != nb
    assert child_name(long_a, "quality") == na


def test_payload_of_child_round_trips_every_form() -> None:
    raw, big = SMALL.read_bytes(), big_dashboard(2 * 1024 * 1024)
    t = targets()
    for payload in (raw, big):
        dash = DashboardPayload("d", "dbs-test-small", payload)
        for child in (render_configmap(OWNER, dash, t, None),
                      render_grafana_dashboard(OWNER, dash, t, None)):
            assert payload_of_child(child) == ("dbs-test-small", payload)
    assert payload_of_child({"kind": "ConfigMap", "data": {"other": "x"}}) is None
    assert payload_of_child({"kind": "ConfigMap", "binaryData": {"u.json.gz": "bad!"}}) is None
