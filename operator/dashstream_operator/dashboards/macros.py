"""Grafana's Prometheus datasource macros, expanded as Grafana expands them. Pure.

What a panel query becomes before it reaches Prometheus (Grafana's Prometheus backend):

* the step ``$__interval``: time range / max data points, at least the minimum
  interval (the target's ``interval``, else the datasource's scrape interval, 15s by
  default), rounded to Grafana's table of nice values, and never so small that the
  range holds more than 11,000 points;
* ``$__rate_interval``: max(``$__interval`` + scrape interval, 4 * scrape interval);
* ``$__range`` (seconds, ``Ns``), ``$__range_s``, ``$__range_ms``, ``$__interval_ms``,
  ``$__rate_interval_ms``;
* template variables: one value as it is; several (multi-value or "All") as a regex
  alternation ``(a|b)`` with regex metacharacters escaped, as Grafana formats them for
  ``=~`` matchers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["Window", "expand", "format_values", "parse_duration", "prom_duration",
           "regex_escape", "regular_escape", "round_interval", "variable_names"]

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0,
          "y": 31536000.0}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
# Grafana's rounding: (upper bound, rounded value), in seconds.
_ROUNDING = [(0.010, 0.001), (0.015, 0.010), (0.035, 0.020), (0.075, 0.050), (0.15, 0.1),
             (0.35, 0.2), (0.75, 0.5), (1.5, 1), (3.5, 2), (7.5, 5), (12.5, 10), (17.5, 15),
             (25, 20), (45, 30), (90, 60), (210, 120), (450, 300), (750, 600), (1050, 900),
             (1500, 1200), (2700, 1800), (5400, 3600), (9000, 7200), (16200, 10800),
             (32400, 21600), (86400, 43200), (604800, 86400), (1814400, 604800)]
SAFE_RESOLUTION = 11000  # Prometheus refuses more points per series
DEFAULT_SCRAPE = 15.0
# Built-ins, longest names first (``$__interval_ms`` before ``$__interval``).
_BUILTIN = re.compile(r"\$\{?(__rate_interval_ms|__rate_interval|__interval_ms|__interval|"
                      r"__range_ms|__range_s|__range)\}?")
_REGEX_SPECIAL = re.compile(r"([$^*{}\[\]+?.()|])")


def parse_duration(text: str) -> float:
    """Seconds of a Grafana/Prometheus duration (``15s``, ``1m30s``, ``500ms``)."""
    parts = _DURATION.findall(text.strip())
    if not parts or "".join(a + b for a, b in parts) != text.strip():
        raise ValueError(f"not a duration: {text!r}")
    return sum(float(n) * _UNITS[u] for n, u in parts)


def prom_duration(seconds: float) -> str:
    """A duration Prometheus parses: whole seconds as ``Ns``, otherwise ``Nms``."""
    ms = round(seconds * 1000)
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def round_interval(seconds: float) -> float:
    for bound, value in _ROUNDING:
        if seconds <= bound:
            return value
    return 2592000.0  # 30 days


@dataclass(frozen=True)
class Window:
    """One panel query's time range and resolution, as Grafana computes them."""

    range_seconds: float
    max_data_points: int = 1000
    scrape_interval: float = DEFAULT_SCRAPE
    min_interval: float | None = None  # the target's or panel's own ``interval``

    @property
    def least(self) -> float:
        return self.min_interval if self.min_interval is not None else self.scrape_interval

    @property
    def step(self) -> float:
        calculated = self.range_seconds / max(1, self.max_data_points)
        # Below the minimum, the minimum as it is; above it, rounded.
        step = self.least if calculated < self.least else round_interval(calculated)
        safe = round_interval(self.range_seconds / SAFE_RESOLUTION)
        return max(step, safe)

    @property
    def rate_interval(self) -> float:
        """Grafana takes the target's own interval, when it has one, as the scrape
        interval here."""
        return max(self.step + self.least, 4 * self.least)


def regular_escape(value: str) -> str:
    """How Grafana writes one value of a single-value variable into a query."""
    return value.replace("\\", "\\\\").replace("'", "\\\\'")


def regex_escape(value: str) -> str:
    """How Grafana writes each value of a multi-value or "All" variable (they go into
    ``=~`` matchers): backslashes quadrupled, regex metacharacters escaped."""
    return _REGEX_SPECIAL.sub(r"\\\\\1", value.replace("\\", "\\\\\\\\"))


def format_values(values: Sequence[str], variable: Mapping[str, object]) -> str:
    """The text Grafana puts in a query for ``variable`` with ``values`` selected: a
    single-value variable its value; "All" a custom ``allValue`` as it is; otherwise the
    values regex-escaped, several as ``(a|b)``."""
    if not variable.get("multi") and not variable.get("includeAll"):
        return regular_escape(values[0])
    if variable.get("includeAll") and variable.get("allValue"):
        return str(variable["allValue"])
    escaped = [regex_escape(v) for v in values]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


def expand(expr: str, window: Window, variables: Mapping[str, str]) -> str:
    """``expr`` with every built-in and every variable in ``variables`` (name -> the text
    format_values gives) replaced; other ``$names`` are left as they are (the caller
    reports them). Format suffixes (``${var:raw}``) are read as the default format."""
    builtins = {
        "__interval": prom_duration(window.step),
        "__interval_ms": str(round(window.step * 1000)),
        "__rate_interval": prom_duration(window.rate_interval),
        "__rate_interval_ms": str(round(window.rate_interval * 1000)),
        "__range": f"{round(window.range_seconds)}s",
        "__range_s": str(round(window.range_seconds)),
        "__range_ms": str(round(window.range_seconds * 1000)),
    }
    expr = _BUILTIN.sub(lambda m: builtins[m.group(1)], expr)
    for name in sorted(variables, key=len, reverse=True):
        value = variables[name]
        pattern = (rf"\$\{{{re.escape(name)}(?:[:.][^}}]*)?\}}|\[\[{re.escape(name)}"
                   rf"(?::[^\]]*)?\]\]|\${re.escape(name)}\b")
        expr = re.sub(pattern, value.replace("\\", "\\\\"), expr)
    return expr


_REFERENCE = re.compile(r"\$\{(\w+)|\$([A-Za-z_]\w*)|\[\[(\w+)")


def variable_names(expr: str) -> set[str]:
    """Every variable an expression refers to (built-ins included, ``$1`` not)."""
    return {next(g for g in m.groups() if g) for m in _REFERENCE.finditer(expr)}
