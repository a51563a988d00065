"""Small, dependency-free builders for Grafana dashboard JSON (schemaVersion 39).

The canonical dashboards in ``dashboards/`` are generated from these helpers so
that ids, layout, datasource references and template variables are correct by
construction instead of by review. Output is plain dicts in a fixed key order,
so ``json.dumps`` of a built dashboard is byte-for-byte reproducible.

Conventions every dashboard gets from :class:`DashboardBuilder`:

* a ``datasource`` template variable (type ``datasource``, query ``prometheus``)
  and every panel/target pointing at ``${datasource}`` - never a hard-coded uid,
  so the same JSON works in any Grafana the sidecar or grafana-operator feeds;
* a ``namespace`` variable (multi, "All" = ``.*``) that ``exprs.sel`` adds to
  every selector, because one Prometheus usually scrapes several pipelines;
* panel ids 1, 2, 3, ... in insertion order and a left-to-right, top-to-bottom
  ``gridPos`` flow (rows start on a fresh line), so panels never overlap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .grafana import GRID_WIDTH, SCHEMA_VERSION

__all__ = [
    "DATASOURCE",
    "GRID_WIDTH",
    "REDIS_ONLY",
    "SCHEMA_VERSION",
    "DashboardBuilder",
    "Panel",
    "Target",
    "gauge",
    "incident_only",
    "piechart",
    "stat",
    "steps",
    "table",
    "target",
    "timeseries",
]

DATASOURCE: dict[str, str] = {"type": "prometheus", "uid": "${datasource}"}

Json = dict[str, Any]
Step = tuple[float | None, str]


# --- targets and panels --------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One Prometheus query of a panel; ``refId`` is assigned by the panel."""

    expr: str
    legend: str = ""
    instant: bool = False
    format: str = "time_series"

    def to_json(self, ref_id: str) -> Json:
        return {
            "datasource": dict(DATASOURCE),
            "refId": ref_id,
            "expr": self.expr,
            "legendFormat": self.legend or "__auto",
            "range": not self.instant,
            "instant": self.instant,
            "format": self.format,
            "editorMode": "code",
        }


def target(expr: str, legend: str = "", *, instant: bool = False) -> Target:
    return Target(expr=expr, legend=legend, instant=instant)


TargetLike = Target | str


def _targets(items: Sequence[TargetLike], *, instant: bool = False,
             fmt: str = "time_series") -> list[Json]:
    out: list[Json] = []
    for i, item in enumerate(items):
        t = item if isinstance(item, Target) else Target(expr=item)
        if instant or fmt != "time_series":
            t = Target(t.expr, t.legend, instant or t.instant, fmt)
        # refIds A..Z are plenty: a panel with more queries is unreadable anyway.
        out.append(t.to_json(chr(ord("A") + i)))
    return out


def steps(*pairs: Step) -> Json:
    """Absolute thresholds; the first step is the base colour (value ``None``)."""
    return {"mode": "absolute",
            "steps": [{"color": color, "value": value} for value, color in pairs]}


_DEFAULT_STEPS: tuple[Step, ...] = ((None, "green"),)


@dataclass(frozen=True)
class Panel:
    """A panel before layout: :class:`DashboardBuilder` adds ``id`` and ``gridPos``."""

    type: str
    title: str
    w: int
    h: int
    body: Json = field(default_factory=dict)


#: Why the Redis latency panels are empty in a healthy pipeline without Redis.
REDIS_ONLY = ("data only while a websocket-server keeps its replay buffer in Redis "
              "(REDIS_URL): without Redis the latency histogram has no observations")


def incident_only(panel: Panel, reason: str) -> Panel:
    """A panel that shows data only while something is wrong (dead letters, gaps):
    ``dashstream dashboards check`` accepts it empty and says why."""
    from .check import INCIDENT_ONLY

    return Panel(panel.type, panel.title, panel.w, panel.h, {**panel.body, INCIDENT_ONLY: reason})


def _field_defaults(unit: str, thresholds: Sequence[Step] | None, color_mode: str,
                    minimum: float | None, maximum: float | None, decimals: int | None,
                    custom: Json | None = None) -> Json:
    defaults: Json = {"unit": unit, "color": {"mode": color_mode},
                      "thresholds": steps(*(thresholds or _DEFAULT_STEPS))}
    optional = {"min": minimum, "max": maximum, "decimals": decimals, "custom": custom}
    defaults.update({k: v for k, v in optional.items() if v is not None})
    return {"defaults": defaults, "overrides": []}


def _reduce(calc: str = "lastNotNull") -> Json:
    return {"calcs": [calc], "fields": "", "values": False}


def timeseries(title: str, queries: Sequence[TargetLike], *, unit: str = "short",
               description: str = "", thresholds: Sequence[Step] | None = None,
               minimum: float | None = None, maximum: float | None = None,
               decimals: int | None = None, stack: bool = False, threshold_line: bool = False,
               time_from: str | None = None, w: int = 12, h: int = 8) -> Panel:
    """A line graph; ``threshold_line`` draws the thresholds as dashed lines (targets)."""
    custom: Json = {
        "drawStyle": "line", "lineWidth": 1, "fillOpacity": 10, "showPoints": "never",
        "spanNulls": False,
        "stacking": {"mode": "normal" if stack else "none", "group": "A"},
        "thresholdsStyle": {"mode": "dashed" if threshold_line else "off"},
    }
    body: Json = {
        "description": description,
        "fieldConfig": _field_defaults(unit, thresholds, "palette-classic", minimum, maximum,
                                       decimals, custom),
        "options": {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True,
                       "calcs": []},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
        "targets": _targets(queries),
    }
    if time_from:
        body["timeFrom"] = time_from
    return Panel("timeseries", title, w, h, body)


def stat(title: str, queries: Sequence[TargetLike], *, unit: str = "short",
         description: str = "", thresholds: Sequence[Step] | None = None,
         decimals: int | None = None, graph: bool = True, w: int = 6, h: int = 4) -> Panel:
    """A single big number coloured by ``thresholds`` (last non-null value)."""
    body: Json = {
        "description": description,
        "fieldConfig": _field_defaults(unit, thresholds, "thresholds", None, None, decimals),
        "options": {"reduceOptions": _reduce(), "colorMode": "value",
                    "graphMode": "area" if graph else "none", "justifyMode": "auto",
                    "orientation": "auto", "textMode": "auto", "wideLayout": True},
        "targets": _targets(queries),
    }
    return Panel("stat", title, w, h, body)


def gauge(title: str, queries: Sequence[TargetLike], *, unit: str = "short",
          description: str = "", thresholds: Sequence[Step] | None = None,
          minimum: float = 0, maximum: float = 1, decimals: int | None = None,
          w: int = 6, h: int = 4) -> Panel:
    """A dial between ``minimum`` and ``maximum`` with threshold markers."""
    body: Json = {
        "description": description,
        "fieldConfig": _field_defaults(unit, thresholds, "thresholds", minimum, maximum,
                                       decimals),
        "options": {"reduceOptions": _reduce(), "showThresholdLabels": False,
                    "showThresholdMarkers": True, "orientation": "auto"},
        "targets": _targets(queries),
    }
    return Panel("gauge", title, w, h, body)


def piechart(title: str, queries: Sequence[TargetLike], *, unit: str = "short",
             description: str = "", w: int = 6, h: int = 8) -> Panel:
    """Shares of a whole (instant query, one slice per series)."""
    body: Json = {
        "description": description,
        "fieldConfig": _field_defaults(unit, None, "palette-classic", None, None, None),
        "options": {"reduceOptions": _reduce(), "pieType": "donut",
                    "legend": {"displayMode": "table", "placement": "right",
                               "showLegend": True, "values": ["percent"]},
                    "tooltip": {"mode": "single", "sort": "none"}},
        "targets": _targets(queries, instant=True),
    }
    return Panel("piechart", title, w, h, body)


def table(title: str, queries: Sequence[TargetLike], *, unit: str = "short",
          description: str = "", thresholds: Sequence[Step] | None = None,
          w: int = 12, h: int = 8) -> Panel:
    """Instant queries rendered as one table (series labels become columns)."""
    body: Json = {
        "description": description,
        "fieldConfig": _field_defaults(unit, thresholds, "thresholds", None, None, None),
        "options": {"showHeader": True, "cellHeight": "sm",
                    "footer": {"show": False, "reducer": ["sum"], "fields": ""}},
        "targets": _targets(queries, instant=True, fmt="table"),
        "transformations": [{"id": "merge", "options": {}}],
    }
    return Panel("table", title, w, h, body)


# --- dashboard -----------------------------------------------------------------


def _datasource_variable() -> Json:
    return {"name": "datasource", "label": "Data source", "type": "datasource",
            "query": "prometheus", "current": {}, "hide": 0, "includeAll": False,
            "multi": False, "options": [], "refresh": 1, "regex": "", "skipUrlSync": False}


def _namespace_variable(probe_metric: str) -> Json:
    query = f"label_values({probe_metric}, namespace)"
    return {"name": "namespace", "label": "Namespace", "type": "query",
            "datasource": dict(DATASOURCE),
            "definition": query, "query": {"query": query, "refId": "namespace"},
            "current": {}, "hide": 0, "includeAll": True, "allValue": ".*", "multi": True,
            "options": [], "refresh": 2, "regex": "", "skipUrlSync": False, "sort": 1}


class DashboardBuilder:
    """Collects rows and panels, assigns ids and a non-overlapping grid layout.

    ``probe_metric`` is a metric every scrape of the dashboard's component has;
    the namespace variable lists its ``namespace`` label values.
    """

    def __init__(self, uid: str, title: str, *, tags: Sequence[str], description: str,
                 probe_metric: str, refresh: str = "30s", time_from: str = "now-6h") -> None:
        self.uid = uid
        self.title = title
        self.tags = list(tags)
        self.description = description
        self.probe_metric = probe_metric
        self.refresh = refresh
        self.time_from = time_from
        self._panels: list[Json] = []
        self._x = self._y = self._line_h = 0

    def _newline(self) -> None:
        self._y += self._line_h
        self._x = self._line_h = 0

    def _place(self, w: int, h: int) -> Json:
        if not 1 <= w <= GRID_WIDTH or h < 1:
            raise ValueError(f"panel size {w}x{h} does not fit a {GRID_WIDTH}-column grid")
        if self._x + w > GRID_WIDTH:
            self._newline()
        pos = {"h": h, "w": w, "x": self._x, "y": self._y}
        self._x += w
        self._line_h = max(self._line_h, h)
        return pos

    def row(self, title: str) -> DashboardBuilder:
        """Start an (expanded) row on a fresh line; later panels belong to it."""
        self._newline()
        self._panels.append({"id": len(self._panels) + 1, "type": "row", "title": title,
                             "gridPos": self._place(GRID_WIDTH, 1), "collapsed": False,
                             "panels": []})
        self._newline()
        return self

    def add(self, *panels: Panel) -> DashboardBuilder:
        for panel in panels:
            self._panels.append({"id": len(self._panels) + 1, "type": panel.type,
                                 "title": panel.title, "gridPos": self._place(panel.w, panel.h),
                                 "datasource": dict(DATASOURCE), **panel.body})
        return self

    def build(self) -> Json:
        return {
            "uid": self.uid,
            "title": self.title,
            "description": self.description,
            "tags": self.tags,
            "schemaVersion": SCHEMA_VERSION,
            "version": 1,
            "editable": True,
            "graphTooltip": 1,  # shared crosshair: lines up lag, errors and drops in time
            "fiscalYearStartMonth": 0,
            "liveNow": False,
            "refresh": self.refresh,
            "time": {"from": self.time_from, "to": "now"},
            "timepicker": {},
            "timezone": "browser",
            "weekStart": "",
            "annotations": {"list": [{
                "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
                "name": "Annotations & Alerts", "type": "dashboard"}]},
            "links": [{"title": "DashStream", "type": "dashboards", "tags": ["dashstream"],
                       "asDropdown": True, "includeVars": True, "keepTime": True,
                       "icon": "external link", "targetBlank": False, "tooltip": "",
                       "url": ""}],
            "templating": {"list": [_datasource_variable(),
                                    _namespace_variable(self.probe_metric)]},
            "panels": [dict(p) for p in self._panels],
        }
