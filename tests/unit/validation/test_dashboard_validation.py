"""validate_dashboard on crafted dashboards: each defect yields its own clear report entry."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from dashstream_operator.validation.dashboards import (
    DashboardReport,
    canonical_json,
    substitute_template_variables,
    validate_dashboard,
)

KNOWN = {"requests_total", "queue_depth", "latency_ms_bucket"}
RECORDED = {"job:requests:rate5m"}
DS = {"type": "prometheus", "uid": "${datasource}"}


def panel(pid: int, x: int = 0, y: int = 0, w: int = 12, h: int = 8,
          expr: str = "sum(rate(requests_total[$__rate_interval]))", **extra: Any
          ) -> dict[str, Any]:
    return {"id": pid, "type": "timeseries", "title": f"p{pid}", "datasource": DS,
            "gridPos": {"x": x, "y": y, "w": w, "h": h},
            "targets": [{"refId": "A", "datasource": DS, "expr": expr}], **extra}


def good() -> dict[str, Any]:
    return {
        "uid": "good-dash", "title": "Good", "schemaVersion": 39,
        "annotations": {"list": [{"builtIn": 1, "name": "Annotations & Alerts",
                                  "datasource": {"type": "grafana", "uid": "-- Grafana --"}}]},
        "templating": {"list": [
            {"name": "datasource", "type": "datasource", "query": "prometheus"},
            {"name": "namespace", "type": "query", "datasource": DS,
             "query": {"query": "label_values(queue_depth, namespace)", "refId": "v"}},
        ]},
        "panels": [
            {"id": 1, "type": "row", "title": "Row", "collapsed": False, "panels": [],
             "gridPos": {"x": 0, "y": 0, "w": 24, "h": 1}},
            panel(2, 0, 1, expr='sum by (le) (rate(latency_ms_bucket{namespace=~"$namespace"}'
                                '[$__rate_interval]))'),
            panel(3, 12, 1, expr='max(queue_depth{namespace=~"${namespace:regex}"})'),
        ],
    }


def check(d: Any, known: Any = KNOWN) -> DashboardReport:
    return validate_dashboard(d, known, RECORDED)


def only_error(d: Any) -> str:
    report = check(d)
    assert len(report.errors) == 1, report.errors
    assert not report.valid
    return report.errors[0]


def test_good_dashboard_passes() -> None:
    d = good()
    report = check(d)
    assert report.errors == [] and report.unknown_metrics == []
    assert report.valid and report.metrics_resolved
    assert (report.uid, report.title) == ("good-dash", "Good")
    assert report.panels == 2  # the row header is layout, not a panel
    assert report.bytes == len(canonical_json(d).encode())
    assert report.to_status() == {"uid": "good-dash", "title": "Good", "panels": 2,
                                  "bytes": report.bytes, "valid": True, "errors": [],
                                  "unknownMetrics": []}


def test_known_series_may_be_a_mapping() -> None:
    assert check(good(), dict.fromkeys(KNOWN, object())).valid


# --- structure ---------------------------------------------------------------------------


@pytest.mark.parametrize("obj", [[], "{}", None, 3])
def test_not_an_object(obj: Any) -> None:
    assert "must be a JSON object" in only_error(obj)


@pytest.mark.parametrize(("uid", "message"), [
    (None, "missing uid"),
    ("", "missing uid"),
    ("a" * 41, "1-40 characters"),
    ("has space", "1-40 characters"),
    ("dots.are.out", "1-40 characters"),
])
def test_uid_rules(uid: Any, message: str) -> None:
    d = good()
    if uid is None:
        del d["uid"]
    else:
        d["uid"] = uid
    assert message in only_error(d)


def test_uid_of_40_characters_is_fine() -> None:
    d = good()
    d["uid"] = "a-Z_9" * 8
    assert check(d).valid


def test_missing_title() -> None:
    d = good()
    d["title"] = "  "
    assert only_error(d) == "missing title"


def test_panels_must_be_a_list() -> None:
    d = good()
    del d["panels"]
    d["rows"] = []
    assert "'panels' must be a list (found legacy 'rows'" in only_error(d)


def test_duplicate_panel_ids() -> None:
    d = good()
    d["panels"][2]["id"] = 2
    assert only_error(d) == "panel 2 'p3': duplicate panel id 2 (also panel 2 'p2')"


def test_panel_id_must_be_an_integer() -> None:
    d = good()
    d["panels"][1]["id"] = "2"
    assert "id must be an integer" in only_error(d)


def test_overlapping_grid_pos() -> None:
    d = good()
    d["panels"][2]["gridPos"]["x"] = 6  # p2 spans x 0..12, p3 now 6..18 on the same rows
    assert only_error(d) == "panel 3 'p3': gridPos overlaps panel 2 'p2'"


def test_touching_panels_do_not_overlap() -> None:
    d = good()
    d["panels"].append(panel(4, 0, 9, w=24))  # starts right below p2/p3 (y 1 + h 8)
    assert check(d).valid


@pytest.mark.parametrize("pos", [
    {"x": 13, "y": 1, "w": 12, "h": 8},
    {"x": -1, "y": 1, "w": 12, "h": 8},
    {"x": 0, "y": 1, "w": 0, "h": 8},
    {"x": 0, "y": 1, "w": 12, "h": 0},
    {"x": 0, "y": -1, "w": 12, "h": 8},
])
def test_grid_pos_outside_the_grid(pos: dict[str, int]) -> None:
    d = good()
    d["panels"][2]["gridPos"] = pos
    assert "outside the grid" in only_error(d)


@pytest.mark.parametrize("pos", [None, {"x": 0, "y": 0, "w": "12", "h": 8}, {"x": 0}])
def test_grid_pos_malformed(pos: Any) -> None:
    d = good()
    d["panels"][2]["gridPos"] = pos
    assert "gridPos" in only_error(d)


def test_collapsed_row_children_form_their_own_layer() -> None:
    d = good()
    # Children of a collapsed row are laid out when it expands: their y may repeat
    # the top level's without overlapping it, but they must not overlap each other.
    d["panels"].append({"id": 4, "type": "row", "title": "More", "collapsed": True,
                        "gridPos": {"x": 0, "y": 9, "w": 24, "h": 1},
                        "panels": [panel(5, 0, 1), panel(6, 12, 1)]})
    report = check(d)
    assert report.valid and report.panels == 4
    d["panels"][3]["panels"][1]["gridPos"]["x"] = 0
    d["panels"][3]["panels"][1]["id"] = 2
    errors = check(d).errors
    assert "panel 2 'p6': duplicate panel id 2 (also panel 2 'p2')" in errors
    assert any("gridPos overlaps panel 5 'p5'" in e for e in errors)


# --- datasources -------------------------------------------------------------------------


def test_hard_coded_datasource_uid_on_a_panel() -> None:
    d = good()
    d["panels"][1]["datasource"] = {"type": "prometheus", "uid": "P1809F7CD0C75ACF3"}
    assert only_error(d) == ("panel 2 'p2': hard-coded datasource 'P1809F7CD0C75ACF3'; "
                             "use a datasource template variable such as ${datasource}")


def test_hard_coded_datasource_on_a_target_or_by_name() -> None:
    d = good()
    d["panels"][1]["targets"][0]["datasource"] = {"type": "prometheus", "uid": "abc"}
    d["panels"][2]["datasource"] = "Prometheus"  # the pre-8.0 "by name" form
    errors = check(d).errors
    assert errors == [
        "panel 2 'p2' target A: hard-coded datasource 'abc'; use a datasource template "
        "variable such as ${datasource}",
        "panel 3 'p3': hard-coded datasource 'Prometheus'; use a datasource template "
        "variable such as ${datasource}",
    ]


@pytest.mark.parametrize("ref", ["$datasource", "${datasource}", "[[datasource]]",
                                 "-- Mixed --", None])
def test_variable_and_builtin_datasources_are_fine(ref: Any) -> None:
    d = good()
    d["panels"][1]["datasource"] = {"type": "prometheus", "uid": ref}
    assert check(d).valid


def test_unresolved_inputs() -> None:
    d = good()
    d["__inputs"] = [{"name": "DS_PROMETHEUS", "type": "datasource",
                      "pluginId": "prometheus"}]
    d["panels"][1]["datasource"] = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
    errors = check(d).errors
    assert len(errors) == 2
    assert errors[0].startswith("unresolved __inputs ['DS_PROMETHEUS']")
    assert errors[1] == ("panel 2 'p2': datasource '${DS_PROMETHEUS}' refers to an "
                         "undefined template variable")


# --- queries and metrics -----------------------------------------------------------------


def test_broken_promql() -> None:
    d = good()
    d["panels"][1]["targets"][0]["expr"] = "sum(rate(requests_total[5m])"
    message = only_error(d)
    assert message.startswith("panel 2 'p2' target A: invalid PromQL")


@pytest.mark.parametrize("expr", ["", 42])
def test_missing_or_non_string_expr(expr: Any) -> None:
    d = good()
    d["panels"][1]["targets"][0]["expr"] = expr
    assert only_error(d).startswith("panel 2 'p2' target A: ")


def test_unknown_metric_is_reported_separately_from_errors() -> None:
    d = good()
    d["panels"][1]["targets"][0]["expr"] = "rate(nope_total[5m]) / rate(requests_total[5m])"
    report = check(d)
    assert report.errors == []
    assert report.unknown_metrics == ["nope_total"]
    assert not report.metrics_resolved and not report.valid
    assert report.to_status()["unknownMetrics"] == ["nope_total"]


def test_unknown_metrics_are_sorted_and_unique() -> None:
    d = good()
    d["panels"][1]["targets"][0]["expr"] = "zz + aa + zz"
    d["panels"][2]["targets"][0]["expr"] = "aa"
    assert check(d).unknown_metrics == ["aa", "zz"]


def test_recording_rules_count_as_known() -> None:
    d = good()
    d["panels"][1]["targets"][0]["expr"] = 'sum(job:requests:rate5m{namespace=~"$namespace"})'
    assert check(d).valid


def test_regex_metric_name_cannot_be_resolved() -> None:
    d = good()
    d["panels"][1]["targets"][0]["expr"] = 'count({__name__=~"requests_.*"})'
    assert check(d).unknown_metrics == ['{__name__=~"requests_.*"}']


def test_variable_queries_are_checked() -> None:
    d = good()
    d["templating"]["list"][1]["query"] = {"query": "label_values(gone_metric, namespace)"}
    assert check(d).unknown_metrics == ["gone_metric"]
    d["templating"]["list"][1]["query"] = "query_result(sum(rate(requests_total[5m]))"
    assert check(d).errors[0].startswith("variable 'namespace': invalid PromQL")


def test_non_prometheus_targets_are_not_parsed_as_promql() -> None:
    d = good()
    d["templating"]["list"].append({"name": "logs", "type": "datasource", "query": "loki"})
    d["panels"][1]["targets"][0].update(
        datasource={"type": "loki", "uid": "${logs}"}, expr='{app="ws"} |= "error"')
    assert check(d).valid


@pytest.mark.parametrize("garbage", [
    {"panels": [1, None, "x"]},
    {"panels": [{"id": 1, "targets": "rate(x[5m])", "gridPos": {}}]},
    {"panels": [], "templating": {"list": "nope"}, "annotations": ["x"]},
    {"panels": [], "templating": [], "__inputs": {"DS": 1}},
    {"panels": [{"id": 1, "targets": [None, {"expr": None}], "datasource": 7}]},
])
def test_garbage_is_reported_never_raised(garbage: dict[str, Any]) -> None:
    report = check({"uid": "g", "title": "G", **garbage})
    assert report.errors and not report.valid


def test_large_dashboard_is_checked() -> None:
    d = good()
    d["panels"] += [panel(i, (i % 2) * 12, 10 + (i // 2) * 8) for i in range(4, 3004)]
    report = check(copy.deepcopy(d))
    assert report.valid and report.panels == 3002


# --- template variable substitution ------------------------------------------------------


@pytest.mark.parametrize(("expr", "expected"), [
    ("rate(x[$__rate_interval])", "rate(x[5m])"),
    ("rate(x[${__interval}])", "rate(x[5m])"),
    ("increase(x[$__range])", "increase(x[5m])"),
    ("rate(x[${__range_s}s])", "rate(x[300s])"),
    ('x{ns=~"$namespace", pod="${pod:regex}", job=~"[[job]]"}', 'x{ns=~".*", pod=".*", job=~".*"}'),
    ("max_over_time(x[$window:$__interval])", "max_over_time(x[5m:5m])"),
    ("x offset $shift", "x offset 5m"),
    ("sum by ($label) (x)", "sum by (label) (x)"),
    ("histogram_quantile($q, rate(${metric}_bucket[5m]))",
     "histogram_quantile(1, rate(metric_bucket[5m]))"),
    ('label_replace(up, "dst", "$1", "src", "(.*)")',  # a regex back-reference, not a variable
     'label_replace(up, "dst", "$1", "src", "(.*)")'),
    (r'x{a="say \"$v\""}', r'x{a="say \".*\""}'),
    ("plain_metric", "plain_metric"),
])
def test_substitute_template_variables(expr: str, expected: str) -> None:
    assert substitute_template_variables(expr) == expected
