"""Does every panel return data? Each panel's queries, run against a real Prometheus the
way Grafana runs them (macros.py), over a recent time range.

A dashboard that validates offline can still be blank: a metric renamed, a label the
scrape config does not add, a variable whose ``label_values`` finds nothing. This asks
the Prometheus the dashboard will read. Each panel is ``ok`` (a query returned at least
one sample that is a number), ``no data``, ``incident-only`` (no data, and the panel
declares that it shows data only during incidents, with the reason) or ``error``
(Prometheus refused a query: its message). Template variables are resolved from their
own queries against the same Prometheus, every value selected.
"""

from __future__ import annotations

import json
import math
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .macros import Window, expand, format_values, parse_duration, variable_names

__all__ = ["INCIDENT_ONLY", "PanelResult", "Prometheus", "PrometheusError", "check_dashboard",
           "panels_of"]

# A panel key that declares "no data is normal here", with the reason as its value;
# Grafana keeps unknown panel keys.
INCIDENT_ONLY = "dashstreamIncidentOnly"
_LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(?:(.*),\s*)?([a-zA-Z_]\w*)\s*\)\s*$", re.S)


class PrometheusError(Exception):
    pass


@dataclass
class Prometheus:
    """The HTTP API of one Prometheus, over [end - range, end]."""

    url: str
    range_seconds: float
    end: float = field(default_factory=time.time)
    timeout: float = 30.0

    def _get(self, path: str, params: Sequence[tuple[str, str]]) -> Any:
        url = f"{self.url.rstrip('/')}{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as resp:
                body = json.load(resp)
        except urllib.error.HTTPError as exc:
            try:
                body = json.load(exc)
            except ValueError:
                raise PrometheusError(f"HTTP {exc.code} from {self.url}") from exc
        if body.get("status") != "success":
            raise PrometheusError(f"{body.get('errorType', 'error')}: {body.get('error')}")
        return body["data"]

    @property
    def start(self) -> float:
        return self.end - self.range_seconds

    def label_values(self, label: str, selector: str | None) -> list[str]:
        params = [("start", str(self.start)), ("end", str(self.end))]
        if selector:
            params.append(("match[]", selector))
        return sorted(self._get(f"/api/v1/label/{label}/values", params))

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query at the end of the range, as a list of range-shaped series."""
        data = self._get("/api/v1/query", [("query", expr), ("time", str(self.end))])
        if data.get("resultType") == "scalar":
            return [{"values": [data["result"]]}]
        return [{"metric": s.get("metric"), "values": [s["value"]]}
                for s in data.get("result") or []]

    def query_range(self, expr: str, step: float) -> list[dict[str, Any]]:
        data = self._get("/api/v1/query_range", [
            ("query", expr), ("start", str(self.start)), ("end", str(self.end)),
            ("step", f"{step:g}")])
        return list(data.get("result") or [])


@dataclass
class PanelResult:
    panel: str
    status: str  # ok | no data | incident-only | error
    detail: str = ""
    queries: list[str] = field(default_factory=list)  # as sent to Prometheus


def panels_of(dashboard: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Every panel with queries, including those inside collapsed rows."""
    for panel in dashboard.get("panels") or []:
        if panel.get("type") == "row":
            yield from (p for p in panel.get("panels") or [] if p.get("targets"))
        elif panel.get("targets"):
            yield panel


@dataclass
class Variables:
    """The dashboard's template variables: each one's values, and the text Grafana
    writes into a query for it (every value selected; "All" where it is offered)."""

    values: dict[str, list[str]] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    datasources: set[str] = field(default_factory=set)


def resolve_variables(dashboard: Mapping[str, Any], prom: Prometheus) -> Variables:
    """In dashboard order (later variables may use earlier ones)."""
    out = Variables()
    window = Window(prom.range_seconds)
    for var in (dashboard.get("templating") or {}).get("list") or []:
        name, kind = var.get("name", ""), var.get("type")
        query = var.get("query")
        if isinstance(query, dict):
            query = query.get("query", "")
        if kind == "datasource":
            out.datasources.add(name)
            continue
        if kind in ("custom", "interval"):
            found = [v.strip() for v in str(query or "").split(",") if v.strip()]
        elif kind in ("constant", "textbox"):
            found = [str(query or "")]
        elif kind == "query":
            match = _LABEL_VALUES.match(str(query or ""))
            if match is None:
                out.problems.append(f"variable {name}: only label_values(...) queries are "
                                    f"resolved, not {query!r}")
                continue
            selector = expand(match.group(1), window, out.texts) if match.group(1) else None
            try:
                found = prom.label_values(match.group(2), selector)
            except (PrometheusError, OSError) as exc:
                out.problems.append(f"variable {name}: {exc}")
                continue
        else:
            out.problems.append(f"variable {name}: type {kind!r} is not resolved")
            continue
        out.values[name] = found
        if found:
            # An interval variable takes one value at a time, like a single-value one.
            shape = {} if kind == "interval" else var
            out.texts[name] = format_values(found, shape)
    return out


def _has_numbers(series: Sequence[Mapping[str, Any]]) -> bool:
    return any(not math.isnan(float(v)) for s in series for _, v in s.get("values") or [])


def _min_interval(text: str | None) -> float | None:
    """A target's or panel's ``interval`` (``>10s`` is Grafana's "at least"); a variable
    there (``$__interval``) sets no minimum."""
    if not text or "$" in text:
        return None
    try:
        return parse_duration(text.lstrip(">"))
    except ValueError:
        return None


def check_panel(panel: Mapping[str, Any], prom: Prometheus, variables: Variables,
                scrape_interval: float, max_data_points: int) -> PanelResult:
    name = f"{panel.get('id', '?')} {panel.get('title', '')!r}"
    used = {n for t in panel.get("targets") or [] for n in variable_names(t.get("expr", ""))}
    empty = sorted(n for n in used if n in variables.values and not variables.values[n])
    if empty:
        return PanelResult(name, "no data", f"variable(s) {', '.join(empty)} have no values")
    result = PanelResult(name, "no data")
    for target in panel.get("targets") or []:
        if target.get("hide") or not target.get("expr"):
            continue
        window = Window(prom.range_seconds,
                        int(panel.get("maxDataPoints") or max_data_points), scrape_interval,
                        _min_interval(target.get("interval") or panel.get("interval")))
        expr = expand(target["expr"], window, variables.texts)
        result.queries.append(expr)
        unresolved = sorted(variable_names(expr))
        if unresolved:
            result.status = "error"
            result.detail = f"unresolved variable(s) {', '.join(unresolved)} in {expr!r}"
            return result
        try:
            # Grafana runs "instant" targets (tables, pie charts) as instant queries.
            series = (prom.query(expr) if target.get("instant") and not target.get("range")
                      else prom.query_range(expr, window.step))
        except (PrometheusError, OSError) as exc:
            result.status, result.detail = "error", f"{exc} in {expr!r}"
            return result
        if _has_numbers(series):
            result.status = "ok"
            result.detail = f"{len(series)} series"
    if result.status == "no data" and panel.get(INCIDENT_ONLY):
        result.status, result.detail = "incident-only", str(panel[INCIDENT_ONLY])
    return result


def check_dashboard(dashboard: Mapping[str, Any], prom: Prometheus,
                    scrape_interval: float = 15.0, max_data_points: int = 1000,
                    ) -> tuple[list[PanelResult], list[str]]:
    variables = resolve_variables(dashboard, prom)
    return ([check_panel(p, prom, variables, scrape_interval, max_data_points)
             for p in panels_of(dashboard)], variables.problems)
