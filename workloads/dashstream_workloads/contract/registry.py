"""Turn the contract into live prometheus_client metrics.

:func:`build_registry` is the only place in the workloads where metric
objects are created, and it registers them into an explicit registry, never
the global default one: the old stack lost metrics by registering into one
registry and serving another.
"""

from __future__ import annotations

import itertools
from typing import Final, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from dashstream_workloads import __version__
from dashstream_workloads.contract.catalog import metrics_for
from dashstream_workloads.contract.spec import COMPONENTS, MetricSpec

__all__ = [
    "BUILD_INFO",
    "MetricObject",
    "build_registry",
    "get_counter",
    "get_gauge",
    "get_histogram",
]

MetricObject = Counter | Gauge | Histogram
_M = TypeVar("_M", Counter, Gauge, Histogram)

BUILD_INFO: Final = "dashstream_build_info"
# Pre-creating every label combination is only sensible while it stays small.
_MAX_PREINITIALISED_SERIES: Final = 64


def _create(spec: MetricSpec, registry: CollectorRegistry) -> MetricObject:
    if spec.type == "counter":
        return Counter(spec.client_name, spec.help, spec.labels, registry=registry)
    if spec.type == "gauge":
        return Gauge(spec.name, spec.help, spec.labels, registry=registry)
    assert spec.buckets is not None  # guaranteed by MetricSpec validation
    return Histogram(spec.name, spec.help, spec.labels, registry=registry, buckets=spec.buckets)


def _preinitialise(spec: MetricSpec, obj: MetricObject) -> None:
    # Series of bounded labels exist from the first scrape with value 0, so
    # rate() and absent() behave the same before and after the first event
    # (the seeds' "lazy metrics" caveat). Open labels cannot be enumerated.
    if not spec.labels or spec.open_labels:
        return
    combos = list(itertools.product(*(spec.label_values[label] for label in spec.labels)))
    if len(combos) <= _MAX_PREINITIALISED_SERIES:
        for combo in combos:
            obj.labels(*combo)


def build_registry(
    component: str, *, version: str = __version__, initialise: bool = True
) -> tuple[CollectorRegistry, dict[str, MetricObject]]:
    """Create a registry holding every contract metric of one component.

    Parameters
    ----------
    component
        One of :data:`~dashstream_workloads.contract.spec.COMPONENTS`.
    version
        The ``version`` label of ``dashstream_build_info`` (set to 1 here).
    initialise
        Create every combination of bounded label values up front, so those
        series are exported as 0 before anything happens.

    Returns
    -------
    tuple[CollectorRegistry, dict[str, MetricObject]]
        The registry to serve on ``/metrics`` and the metric objects by
        exposed contract name (counters with ``_total``).

    Raises
    ------
    ValueError
        If the component is unknown.
    """
    if component not in COMPONENTS:
        raise ValueError(f"unknown component {component!r}; known: {list(COMPONENTS)}")
    # auto_describe makes a duplicate family fail here, not in Prometheus.
    registry = CollectorRegistry(auto_describe=True)
    metrics: dict[str, MetricObject] = {}
    for spec in metrics_for([component]).values():
        metrics[spec.name] = obj = _create(spec, registry)
        if initialise:
            _preinitialise(spec, obj)
    get_gauge(metrics, BUILD_INFO).labels(component=component, version=version).set(1)
    return registry, metrics


def _get(metrics: dict[str, MetricObject], name: str, kind: type[_M]) -> _M:
    obj = metrics[name]
    if not isinstance(obj, kind):
        raise TypeError(f"{name} is a {type(obj).__name__}, not a {kind.__name__}")
    return obj


def get_counter(metrics: dict[str, MetricObject], name: str) -> Counter:
    """Look up a counter by its exposed name (``..._total``), typed for mypy.

    Raises
    ------
    KeyError
        If the component does not export ``name``.
    TypeError
        If ``name`` is not a counter.
    """
    return _get(metrics, name, Counter)


def get_gauge(metrics: dict[str, MetricObject], name: str) -> Gauge:
    """Look up a gauge by name, typed for mypy (raises like :func:`get_counter`)."""
    return _get(metrics, name, Gauge)


def get_histogram(metrics: dict[str, MetricObject], name: str) -> Histogram:
    """Look up a histogram by name, typed for mypy (raises like :func:`get_counter`)."""
    return _get(metrics, name, Histogram)
