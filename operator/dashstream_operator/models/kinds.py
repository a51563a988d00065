"""The three kinds' API coordinates, shared by crdgen and the kopf handlers."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from .alertruleset import AlertRuleSetSpec, AlertRuleSetStatus
from .dashboardset import DashboardSetSpec, DashboardSetStatus
from .pipeline import DashStreamPipelineSpec, DashStreamPipelineStatus
from .status import BaseStatus

__all__ = ["ALERT_RULE_SET", "DASHBOARD_SET", "GROUP", "KINDS", "PIPELINE", "VERSION", "KindInfo"]

GROUP = "dashstream.io"
VERSION = "v1alpha1"


@dataclass(frozen=True)
class KindInfo:
    """Names of one kind and the models of its spec and status."""

    kind: str
    plural: str
    singular: str
    short_names: tuple[str, ...]
    description: str
    spec: type[BaseModel]
    status: type[BaseStatus]

    @property
    def crd_name(self) -> str:
        """``<plural>.<group>``, the CustomResourceDefinition's name."""
        return f"{self.plural}.{GROUP}"

    @property
    def api_version(self) -> str:
        """``<group>/<version>``, the apiVersion of the CRs."""
        return f"{GROUP}/{VERSION}"


PIPELINE = KindInfo(
    "DashStreamPipeline",
    "dashstreampipelines",
    "dashstreampipeline",
    ("dsp",),
    "A DashStream pipeline: the Kafka topics it owns (created, grown and configured by the "
    "operator) and the DashStream workloads around them (WebSocket server, Prometheus "
    "exporter, quality monitor).",
    DashStreamPipelineSpec,
    DashStreamPipelineStatus,
)
ALERT_RULE_SET = KindInfo(
    "AlertRuleSet",
    "alertrulesets",
    "alertruleset",
    ("ars",),
    "Prometheus alerting and recording rules, validated (PromQL, durations, templates, and "
    "metrics against the DashStream metrics contract) and synced to a ConfigMap and/or a "
    "PrometheusRule.",
    AlertRuleSetSpec,
    AlertRuleSetStatus,
)
DASHBOARD_SET = KindInfo(
    "DashboardSet",
    "dashboardsets",
    "dashboardset",
    ("dbs",),
    "Grafana dashboards, validated (JSON, PromQL, metrics against the DashStream metrics "
    "contract) and synced to ConfigMaps for the Grafana sidecar and/or grafana-operator "
    "GrafanaDashboards.",
    DashboardSetSpec,
    DashboardSetStatus,
)
KINDS: tuple[KindInfo, ...] = (PIPELINE, ALERT_RULE_SET, DASHBOARD_SET)
