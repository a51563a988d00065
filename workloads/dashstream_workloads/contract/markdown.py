"""Render the contract as ``docs/metrics.md``.

The document is generated, never hand-edited; a unit test compares the
committed file with :func:`render_metrics_markdown` and fails on drift.
"""

from __future__ import annotations

from collections.abc import Iterable

from dashstream_workloads.contract.catalog import CONTRACT_SCHEMA_VERSION, metrics_for
from dashstream_workloads.contract.migration import OLD_NAME_MAPPING
from dashstream_workloads.contract.spec import COMPONENTS, OPEN_LABELS, MetricSpec

__all__ = ["render_metrics_markdown"]

_HEADER = """\
# DashStream metrics

<!-- Generated from dashstream_workloads.contract; do not edit by hand.
     Regenerate: python -m dashstream_workloads.contract --format markdown > docs/metrics.md
     tests/unit/workloads/test_contract.py fails when this file drifts. -->

Every metric of every DashStream component, as defined once in the metrics
contract (`workloads/dashstream_workloads/contract/`). Each component serves
exactly these metrics from one explicit registry
(`dashstream_workloads.contract.build_registry`). The same data is available
as JSON: `python -m dashstream_workloads.contract --format json`.
"""

_CONVENTIONS = """\
## Conventions

- Counters are listed by their exposed name, ending in `_total`; they also
  expose `<name without _total>_created`.
- Histograms expose `_bucket` (label `le`), `_sum`, `_count` and `_created`.
  Buckets are listed without the implicit `+Inf`; they are fixed by the
  contract so that every target of a metric uses the same boundaries.
- A label with a value set takes only those values. Every combination of
  such values is exported as 0 from start-up, so `rate()` and `absent()`
  work before the first event. Open labels are explained below.
- Durations of new metrics are in seconds (Prometheus base units); the
  `_ms` names are kept from the old stack for its dashboards and alerts.
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _number(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


def _labels_cell(spec: MetricSpec) -> str:
    parts = []
    for label in spec.labels:
        if label in spec.label_values:
            allowed = ", ".join(f"`{value}`" for value in spec.label_values[label])
        else:
            allowed = "*open*"
        parts.append(f"`{label}`: {allowed}")
    return "<br>".join(parts) or "-"


def _row(spec: MetricSpec) -> str:
    buckets = ", ".join(_number(b) for b in spec.buckets) if spec.buckets else "-"
    components = ", ".join(c for c in COMPONENTS if c in spec.components)
    cells = (f"`{spec.name}`", spec.type, _labels_cell(spec), buckets, components, spec.help)
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def _table(header: Iterable[str], rows: Iterable[str]) -> list[str]:
    head = list(header)
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head), *rows]


def render_metrics_markdown() -> str:
    """Render every metric, the open labels and the old-name mapping as Markdown.

    Returns
    -------
    str
        The exact content of ``docs/metrics.md`` (ends with one newline).
    """
    counts = ", ".join(f"{len(metrics_for([c]))} {c}" for c in COMPONENTS)
    lines = [
        _HEADER,
        f"Contract schema version {CONTRACT_SCHEMA_VERSION}; "
        f"{len(metrics_for(None))} metrics ({counts}).",
        "",
        _CONVENTIONS,
    ]
    columns = ("Metric", "Type", "Labels (allowed values)", "Buckets", "Components", "Help")
    for component in COMPONENTS:
        specs = metrics_for([component]).values()
        lines += [f"## {component} ({len(specs)} metrics)", ""]
        lines += _table(columns, (_row(s) for s in specs))
        lines.append("")
    lines += ["## Open labels", ""]
    lines += _table(
        ("Label", "What bounds it"),
        (f"| `{label}` | {_cell(why)} |" for label, why in sorted(OPEN_LABELS.items())),
    )
    lines += ["", "## Mapping from the old names", ""]
    lines += _table(
        ("Old", "Now", "Why"),
        (f"| {_cell(m.old)} | {_cell(m.new)} | {_cell(m.why)} |" for m in OLD_NAME_MAPPING),
    )
    return "\n".join(lines).rstrip("\n") + "\n"
