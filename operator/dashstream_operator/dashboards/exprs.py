"""PromQL snippets shared by the dashboard modules.

Every selector goes through :func:`sel`, so every query honours the dashboard's
``namespace`` variable and no module can forget it. Metric names are passed in
verbatim; the dashboard tests check each one against the metrics contract.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["RATE_WINDOW", "SCOPE_MATCHER", "STAT_WINDOW", "histogram_quantile", "rate", "sel"]

#: Grafana widens this to at least four scrape intervals, so graphs never go blank.
RATE_WINDOW = "$__rate_interval"
#: Single-number panels use the window the alert rules use, so a stat and the
#: alert that fires on it agree regardless of the dashboard's time range.
STAT_WINDOW = "5m"
#: Added to every selector; "All" resolves to ``.*``, which also matches series
#: without a namespace label (a plain docker-compose scrape).
SCOPE_MATCHER = 'namespace=~"$namespace"'


def sel(metric: str, matchers: Mapping[str, str] | None = None, *, scoped: bool = True) -> str:
    """``metric{k="v",...,namespace=~"$namespace"}`` (values are used verbatim)."""
    parts = [f'{k}="{v}"' for k, v in (matchers or {}).items()]
    if scoped:
        parts.append(SCOPE_MATCHER)
    return f"{metric}{{{','.join(parts)}}}" if parts else metric


def rate(metric: str, matchers: Mapping[str, str] | None = None, *, by: str = "",
         fn: str = "rate", window: str = RATE_WINDOW) -> str:
    """``sum [by (labels)] (fn(sel[window]))`` - the shape of almost every counter panel."""
    grouping = f" by ({by}) " if by else ""
    return f"sum{grouping}({fn}({sel(metric, matchers)}[{window}]))"


def histogram_quantile(q: float, histogram: str, *, by: str = "",
                       matchers: Mapping[str, str] | None = None,
                       window: str = RATE_WINDOW) -> str:
    """Quantile ``q`` of ``histogram`` (its base name; ``_bucket`` is appended)."""
    labels = ", ".join(["le", *(x.strip() for x in by.split(",") if x.strip())])
    return (f"histogram_quantile({q}, sum by ({labels}) "
            f"(rate({sel(histogram + '_bucket', matchers)}[{window}])))")
