"""Queries over the whole contract: which metrics a component exports, which
series names they put into PromQL, and the contract as JSON-ready data."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from dashstream_workloads.contract.exporter import EXPORTER_METRICS
from dashstream_workloads.contract.quality_monitor import QUALITY_MONITOR_METRICS, SHARED_METRICS
from dashstream_workloads.contract.spec import COMPONENTS, OPEN_LABELS, MetricSpec
from dashstream_workloads.contract.websocket import WEBSOCKET_METRICS

__all__ = [
    "CONTRACT_SCHEMA_VERSION",
    "all_metrics",
    "contract_as_dict",
    "known_series",
    "metrics_for",
    "series_names",
]

#: Version of the shape of :func:`contract_as_dict` (not of the metric set):
#: bump it when a key is renamed or removed, so readers can refuse what they
#: do not understand.
CONTRACT_SCHEMA_VERSION: Final = 1


def _build_catalog() -> tuple[MetricSpec, ...]:
    specs = sorted(
        SHARED_METRICS + WEBSOCKET_METRICS + EXPORTER_METRICS + QUALITY_MONITOR_METRICS,
        key=lambda s: s.name,
    )
    # Checked once at import: a duplicate name, or two metrics producing the
    # same series (say a gauge "x_count" and a histogram "x"), would make a
    # scrape ambiguous or make prometheus_client refuse to register.
    owner: dict[str, str] = {}
    for spec in specs:
        for series in sorted(series_names(spec) | {spec.name, spec.client_name}):
            if owner.setdefault(series, spec.name) != spec.name:
                clash = owner[series]
                raise ValueError(f"series {series!r} of {spec.name!r} clashes with {clash!r}")
    return tuple(specs)


def series_names(spec: MetricSpec) -> set[str]:
    """The series names a metric puts into PromQL.

    Parameters
    ----------
    spec
        The metric.

    Returns
    -------
    set[str]
        Gauges: the name. Counters: ``x_total`` and ``x_created``.
        Histograms: ``x_bucket``, ``x_sum``, ``x_count`` and ``x_created``
        (prometheus_client exposes ``_created`` for both).
    """
    if spec.type == "gauge":
        return {spec.name}
    if spec.type == "counter":
        return {spec.name, f"{spec.client_name}_created"}
    return {f"{spec.name}{suffix}" for suffix in ("_bucket", "_sum", "_count", "_created")}


def _select(components: Iterable[str] | str | None) -> frozenset[str]:
    if components is None or components == "all":
        return frozenset(COMPONENTS)
    # A bare string is one component, not an iterable of characters.
    wanted = frozenset([components] if isinstance(components, str) else components)
    if "all" in wanted:
        return frozenset(COMPONENTS)
    unknown = wanted - set(COMPONENTS)
    if unknown:
        raise ValueError(f"unknown components {sorted(unknown)}; known: {list(COMPONENTS)}")
    return wanted


def all_metrics() -> tuple[MetricSpec, ...]:
    """Every metric of every component, sorted by name."""
    return _CATALOG


def metrics_for(components: Iterable[str] | str | None = None) -> dict[str, MetricSpec]:
    """The metrics exported by any of the given components.

    Parameters
    ----------
    components
        Component names; ``None`` or ``"all"`` selects every component.

    Returns
    -------
    dict[str, MetricSpec]
        Exposed name to spec, sorted by name.

    Raises
    ------
    ValueError
        If a component is unknown.
    """
    wanted = _select(components)
    return {s.name: s for s in _CATALOG if s.components & wanted}


def known_series(components: Iterable[str] | str | None = None) -> dict[str, MetricSpec]:
    """Every series name the given components expose, mapped to its metric.

    This is what a PromQL selector's metric name must be found in for the
    query to match anything those components export.

    Parameters
    ----------
    components
        As in :func:`metrics_for`.

    Returns
    -------
    dict[str, MetricSpec]
        Series name to spec, sorted by series name.
    """
    pairs = {
        series: spec for spec in metrics_for(components).values() for series in series_names(spec)
    }
    return dict(sorted(pairs.items()))


def _spec_as_dict(spec: MetricSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "type": spec.type,
        "help": spec.help,
        "labels": list(spec.labels),
        "label_values": {
            label: list(spec.label_values[label])
            for label in spec.labels
            if label in spec.label_values
        },
        "open_labels": list(spec.open_labels),
        "buckets": list(spec.buckets) if spec.buckets is not None else None,
        "components": [c for c in COMPONENTS if c in spec.components],
        "series": sorted(series_names(spec)),
    }


def contract_as_dict(components: Iterable[str] | str | None = None) -> dict[str, Any]:
    """The contract as JSON-serialisable data in a stable order.

    Parameters
    ----------
    components
        As in :func:`metrics_for`; the default is the whole contract.

    Returns
    -------
    dict[str, Any]
        ``schema_version``, ``components``, ``open_labels`` (label to what
        bounds it) and ``metrics`` (sorted by name).
    """
    wanted = _select(components)
    return {
        "schema_version": CONTRACT_SCHEMA_VERSION,
        "components": [c for c in COMPONENTS if c in wanted],
        "open_labels": dict(sorted(OPEN_LABELS.items())),
        "metrics": [_spec_as_dict(s) for s in metrics_for(wanted).values()],
    }


_CATALOG: Final[tuple[MetricSpec, ...]] = _build_catalog()
