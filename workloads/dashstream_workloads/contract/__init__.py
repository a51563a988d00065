"""The DashStream metrics contract: every metric of every component, defined once.

Each metric is a :class:`MetricSpec` (name, type, help, labels with their
allowed values, buckets, exporting components). Processes create their
metrics only through :func:`build_registry`; the operator checks alert rules
and dashboards against :func:`known_series`; ``docs/metrics.md`` is
:func:`render_metrics_markdown`. Print it with
``python -m dashstream_workloads.contract --format json|markdown``.

The package is split by component only to keep modules short; import from
here.
"""

from __future__ import annotations

from dashstream_workloads.contract.catalog import (
    CONTRACT_SCHEMA_VERSION,
    all_metrics,
    contract_as_dict,
    known_series,
    metrics_for,
    series_names,
)
from dashstream_workloads.contract.markdown import render_metrics_markdown
from dashstream_workloads.contract.migration import OLD_NAME_MAPPING, OldName
from dashstream_workloads.contract.registry import (
    BUILD_INFO,
    MetricObject,
    build_registry,
    get_counter,
    get_gauge,
    get_histogram,
)
from dashstream_workloads.contract.spec import (
    COMPONENTS,
    MAX_MODEL_LABEL_VALUES,
    METRIC_TYPES,
    OPEN_LABELS,
    OTHER_LABEL_VALUE,
    PROMETHEUS_EXPORTER,
    QUALITY_MONITOR,
    WEBSOCKET_SERVER,
    MetricSpec,
    MetricType,
)
from dashstream_workloads.contract.values import DECODE_ERROR_TYPES, FAILURE_CATEGORIES

__all__ = [
    "BUILD_INFO",
    "COMPONENTS",
    "CONTRACT_SCHEMA_VERSION",
    "DECODE_ERROR_TYPES",
    "FAILURE_CATEGORIES",
    "MAX_MODEL_LABEL_VALUES",
    "METRIC_TYPES",
    "OLD_NAME_MAPPING",
    "OPEN_LABELS",
    "OTHER_LABEL_VALUE",
    "PROMETHEUS_EXPORTER",
    "QUALITY_MONITOR",
    "WEBSOCKET_SERVER",
    "MetricObject",
    "MetricSpec",
    "MetricType",
    "OldName",
    "all_metrics",
    "build_registry",
    "contract_as_dict",
    "get_counter",
    "get_gauge",
    "get_histogram",
    "known_series",
    "metrics_for",
    "render_metrics_markdown",
    "series_names",
]
