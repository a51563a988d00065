"""Offline checks of a Grafana dashboard before it is synced (pure: no network, no Grafana).

Used by the DashboardSet controller (per-dashboard status), ``dashstream
validate`` and the tests guarding ``dashboards/``. A dashboard passes when it is
a JSON object with a ``title`` and a ``uid`` Grafana accepts (<= 40 chars of
``[a-zA-Z0-9_-]``); panel ids are unique integers; every ``gridPos`` fits the
24-column grid and no two panels of one layer overlap (the top level, and each
collapsed row's children); no datasource is hard-coded (a uid must reference a
template variable the dashboard defines, Grafana built-ins excepted) and there
is no ``__inputs`` block, which nothing would resolve; every Prometheus target
and ``label_values``/``query_result`` variable query parses as PromQL after
Grafana variables are substituted (:func:`substitute_template_variables`); and
every metric read is a known series or a recording rule.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..dashboards.grafana import (
    BUILTIN_DATASOURCES,
    GRID_WIDTH,
    substitute_template_variables,
    variable_reference,
)
from .promql import PromQLError, parse_expr, selectors

__all__ = [
    "DashboardReport",
    "canonical_json",
    "iter_panels",
    "substitute_template_variables",
    "validate_dashboard",
]

_UID = re.compile(r"[a-zA-Z0-9_-]{1,40}")
_LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(.+?)\s*,\s*\w+\s*\)\s*$", re.S)
_QUERY_RESULT = re.compile(r"^\s*query_result\(\s*(.+)\s*\)\s*$", re.S)


@dataclass
class DashboardReport:
    """The outcome for one dashboard, shaped for ``DashboardSet.status``.

    ``panels`` counts visualisation panels, including those nested in collapsed
    rows; row headers are layout, not panels. ``bytes`` is the size of
    :func:`canonical_json`. Structural and PromQL problems go to ``errors``;
    metrics that neither the contract nor a recording rule provides go to
    ``unknown_metrics`` (the ``MetricsResolved`` condition), so the two causes
    stay distinguishable. Either one makes the dashboard not ``valid``.
    """

    uid: str = ""
    title: str = ""
    panels: int = 0
    bytes: int = 0
    errors: list[str] = field(default_factory=list)
    unknown_metrics: list[str] = field(default_factory=list)

    @property
    def metrics_resolved(self) -> bool:
        return not self.unknown_metrics

    @property
    def valid(self) -> bool:
        return not self.errors and not self.unknown_metrics

    def to_status(self) -> dict[str, Any]:
        """camelCase dict for a CR status entry."""
        return {"uid": self.uid, "title": self.title, "panels": self.panels,
                "bytes": self.bytes, "valid": self.valid, "errors": list(self.errors),
                "unknownMetrics": list(self.unknown_metrics)}


def canonical_json(obj: Any) -> str:
    """Sorted keys, no whitespace: the size measure and comparison form of a dashboard."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def iter_panels(dashboard: Mapping[str, Any]) -> Iterator[tuple[Any, list[Any]]]:
    """(panel, layer) for every panel, nested collapsed-row children included.

    ``layer`` is the list the panel lives in: panels of one layer share a grid.
    """
    top = dashboard.get("panels")
    if not isinstance(top, list):
        return
    for panel in top:
        yield panel, top
        nested = panel.get("panels") if isinstance(panel, dict) else None
        if isinstance(nested, list):
            for child in nested:
                yield child, nested


def validate_dashboard(obj: Any, known_series: Mapping[str, object] | set[str] | frozenset[str],
                       recorded: set[str] | frozenset[str] = frozenset()) -> DashboardReport:
    """Check one dashboard; never raises for bad input, every problem is in the report."""
    report = DashboardReport()
    if not isinstance(obj, dict):
        report.errors.append(f"dashboard must be a JSON object, got {type(obj).__name__}")
        return report
    try:
        report.bytes = len(canonical_json(obj).encode("utf-8"))
    except (TypeError, ValueError) as exc:
        report.errors.append(f"dashboard is not serialisable as JSON: {exc}")
    checker = _Checker(obj, report, known_series, recorded)
    checker.run()
    report.unknown_metrics = sorted(checker.unknown)
    return report


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _panel_label(panel: Mapping[str, Any]) -> str:
    return f"panel {panel.get('id', '?')} {str(panel.get('title', ''))!r}"


class _Checker:
    def __init__(self, obj: dict[str, Any], report: DashboardReport,
                 known: Mapping[str, object] | set[str] | frozenset[str],
                 recorded: set[str] | frozenset[str]) -> None:
        self.obj, self.report, self.known, self.recorded = obj, report, known, recorded
        self.unknown: set[str] = set()
        self.variables: dict[str, Mapping[str, Any]] = {}

    def error(self, message: str) -> None:
        self.report.errors.append(message)

    def run(self) -> None:
        self._identity()
        inputs = self.obj.get("__inputs")
        if inputs:  # an empty list resolves nothing, so it is harmless
            names = [i.get("name") for i in inputs if isinstance(i, dict)] \
                if isinstance(inputs, list) else []
            self.error(f"unresolved __inputs {names}: export the dashboard without 'share "
                       "externally' and use a datasource template variable instead")
        self._templating()
        annotations = self.obj.get("annotations")
        for ann in _list(annotations.get("list") if isinstance(annotations, dict) else None):
            if isinstance(ann, dict):
                self._datasource(ann.get("datasource"), f"annotation {ann.get('name', '?')!r}")
        if not isinstance(self.obj.get("panels"), list):
            self.error("'panels' must be a list" + (
                " (found legacy 'rows'; re-save it in Grafana >= 5)" if "rows" in self.obj
                else ""))
            return
        self._panels()

    def _identity(self) -> None:
        uid, title = self.obj.get("uid"), self.obj.get("title")
        if not isinstance(uid, str) or not uid:
            self.error("missing uid: a stable uid is required to sync the dashboard")
        else:
            self.report.uid = uid
            if not _UID.fullmatch(uid):
                self.error(f"uid {uid!r} must be 1-40 characters of [a-zA-Z0-9_-]")
        if not isinstance(title, str) or not title.strip():
            self.error("missing title")
        else:
            self.report.title = title

    def _templating(self) -> None:
        templating = self.obj.get("templating") or {}
        items = templating.get("list") if isinstance(templating, dict) else None
        if not isinstance(items, list):
            if templating:
                self.error("'templating.list' must be a list")
            return
        for var in items:
            if isinstance(var, dict) and isinstance(var.get("name"), str):
                self.variables[var["name"]] = var
        for name, var in self.variables.items():
            where = f"variable {name!r}"
            self._datasource(var.get("datasource"), where)
            if var.get("type") != "query" or not self._is_prometheus(var.get("datasource")):
                continue
            query = var.get("query")
            text = query.get("query") if isinstance(query, dict) else query
            if not isinstance(text, str):
                continue
            m = _LABEL_VALUES.match(text) or _QUERY_RESULT.match(text)
            if m:
                self._expr(m.group(1), where)

    def _datasource(self, ds: Any, where: str) -> None:
        if ds is None:
            return
        ref = ds.get("uid") if isinstance(ds, dict) else ds
        if ref is None or ref in BUILTIN_DATASOURCES:
            return
        if not isinstance(ref, str):
            self.error(f"{where}: datasource uid must be a string, got {ref!r}")
            return
        name = variable_reference(ref)
        if name is None:
            self.error(f"{where}: hard-coded datasource {ref!r}; use a datasource template "
                       "variable such as ${datasource}")
        elif name not in self.variables:
            self.error(f"{where}: datasource {ref!r} refers to an undefined template variable")

    def _is_prometheus(self, *candidates: Any) -> bool:
        # The nearest datasource with a known type decides (a Loki target has an
        # `expr` too, in LogQL); a datasource variable's type is its `query`.
        for ds in candidates:
            if not isinstance(ds, dict):
                continue
            ref = ds.get("uid")
            name = variable_reference(ref) if isinstance(ref, str) else None
            var = self.variables.get(name or "") or {}
            kind = var.get("query") if var.get("type") == "datasource" else ds.get("type")
            if isinstance(kind, str):
                return kind == "prometheus"
        return True  # unknown: assume Prometheus, the only datasource DashStream uses

    def _panels(self) -> None:
        seen_ids: dict[int, str] = {}
        layers: dict[int, list[tuple[int, int, int, int, str]]] = {}
        for panel, layer in iter_panels(self.obj):
            if not isinstance(panel, dict):
                self.error(f"panel entries must be objects, got {type(panel).__name__}")
                continue
            label = _panel_label(panel)
            pid = panel.get("id")
            if not isinstance(pid, int) or isinstance(pid, bool):
                self.error(f"{label}: id must be an integer, got {pid!r}")
            elif pid in seen_ids:
                self.error(f"{label}: duplicate panel id {pid} (also {seen_ids[pid]})")
            else:
                seen_ids[pid] = label
            if panel.get("type") != "row":
                self.report.panels += 1
            rect = self._grid_pos(panel.get("gridPos"), label)
            if rect is not None:
                layers.setdefault(id(layer), []).append((*rect, label))
            self._datasource(panel.get("datasource"), label)
            self._targets(panel, label)
        for rects in layers.values():
            self._overlaps(rects)

    def _grid_pos(self, pos: Any, label: str) -> tuple[int, int, int, int] | None:
        if not isinstance(pos, dict):
            self.error(f"{label}: missing gridPos")
            return None
        values = [pos.get(k) for k in ("x", "y", "w", "h")]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            self.error(f"{label}: gridPos x, y, w, h must be integers, got {pos!r}")
            return None
        x, y, w, h = (int(v) for v in values)  # type: ignore[arg-type]  # checked above
        if x < 0 or y < 0 or w < 1 or h < 1 or x + w > GRID_WIDTH:
            self.error(f"{label}: gridPos {pos!r} outside the grid (need x >= 0, y >= 0, "
                       f"w >= 1, h >= 1, x + w <= {GRID_WIDTH})")
            return None
        return x, y, w, h

    def _overlaps(self, rects: list[tuple[int, int, int, int, str]]) -> None:
        # Sweep top to bottom, comparing only with panels still "open" at this y,
        # so a dashboard with thousands of panels stays fast.
        active: list[tuple[int, int, int, int, str]] = []
        for rect in sorted(rects, key=lambda r: (r[1], r[0])):
            x, y, w, _h, label = rect
            active = [a for a in active if a[1] + a[3] > y]
            for ax, _ay, aw, _ah, alabel in active:
                if x < ax + aw and ax < x + w:
                    self.error(f"{label}: gridPos overlaps {alabel}")
            active.append(rect)

    def _targets(self, panel: Mapping[str, Any], label: str) -> None:
        targets = panel.get("targets")
        if targets is None:
            return
        if not isinstance(targets, list):
            self.error(f"{label}: 'targets' must be a list")
            return
        for t in targets:
            if not isinstance(t, dict):
                self.error(f"{label}: target entries must be objects")
                continue
            where = f"{label} target {t.get('refId', '?')}"
            self._datasource(t.get("datasource"), where)
            if "expr" in t and self._is_prometheus(t.get("datasource"), panel.get("datasource")):
                self._expr(t["expr"], where)

    def _expr(self, expr: Any, where: str) -> None:
        if not isinstance(expr, str):
            self.error(f"{where}: expr must be a string")
            return
        try:
            promql = substitute_template_variables(expr)
            parse_expr(promql)
            found = selectors(promql)
        except PromQLError as exc:
            self.error(f"{where}: {exc.message}")
            return
        for sel in found:
            if sel.metric is None:
                self.unknown.add(str(sel))  # a regex name cannot be checked statically
            elif sel.metric not in self.recorded and sel.metric not in self.known:
                self.unknown.add(sel.metric)
