"""``DashboardSet``: Grafana dashboards as code, synced for the sidecar or grafana-operator."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Self

from pydantic import ConfigDict, Field, model_validator

from .common import (
    DNS_LABEL,
    ApiModel,
    ConfigMapKeyRef,
    LabelMap,
    StatusModel,
    cel,
    parse_model,
)
from .status import BaseStatus
from .validation import MetricValidationSpec

__all__ = [
    "DashboardSetSpec",
    "DashboardSetStatus",
    "DashboardSource",
    "DashboardSpec",
    "DashboardStatus",
    "DashboardTargets",
    "GrafanaOperatorTarget",
    "LabelSelector",
    "LabelSelectorRequirement",
    "ResolvedDashboardTargets",
    "SidecarTarget",
]

# An object holds at most ~1.5 MiB in etcd; larger dashboards come gzipped or from
# a ConfigMap's binaryData.
MAX_INLINE = 1_500_000
MAX_DASHBOARDS = 64

DashboardSource = Literal["json", "gzipBase64", "configMapKeyRef"]


class DashboardSpec(ApiModel):
    """One Grafana dashboard, from exactly one source."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "[has(self.json), has(self.gzipBase64), has(self.configMapKeyRef)]"
                    ".filter(x, x).size() == 1",
                    "set exactly one of json, gzipBase64 and configMapKeyRef",
                )
            ]
        }
    )

    name: str = Field(
        min_length=1,
        max_length=63,
        pattern=DNS_LABEL,
        description="Name of the dashboard within the set (a DNS label); synced objects are "
        "named after it.",
    )
    json_: str | None = Field(
        default=None,
        alias="json",
        min_length=2,
        max_length=MAX_INLINE,
        description="The dashboard model as JSON text.",
    )
    gzip_base64: str | None = Field(
        default=None,
        min_length=4,
        max_length=MAX_INLINE,
        pattern=r"^[A-Za-z0-9+/\s]*={0,2}\s*$",
        description="The dashboard JSON, gzip-compressed and base64-encoded (for large "
        "dashboards).",
    )
    config_map_key_ref: ConfigMapKeyRef | None = Field(
        default=None,
        description="A ConfigMap key holding the dashboard JSON (in data, or gzipped in "
        "binaryData).",
    )

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        given = [self.json_, self.gzip_base64, self.config_map_key_ref]
        if sum(x is not None for x in given) != 1:
            raise ValueError("set exactly one of json, gzipBase64 and configMapKeyRef")
        return self

    @property
    def source(self) -> DashboardSource:
        """Which of the three sources this dashboard uses."""
        if self.json_ is not None:
            return "json"
        return "gzipBase64" if self.gzip_base64 is not None else "configMapKeyRef"


class LabelSelectorRequirement(ApiModel):
    """A label selector requirement: key, operator and values."""

    key: str = Field(min_length=1, max_length=317, description="The label key.")
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"] = Field(
        description="How the key relates to the values."
    )
    values: list[Annotated[str, Field(max_length=63)]] | None = Field(
        default=None,
        max_length=64,
        description="Values for In and NotIn; empty for Exists and DoesNotExist.",
    )


class LabelSelector(ApiModel):
    """A Kubernetes label selector; an empty selector matches everything."""

    match_labels: LabelMap | None = Field(
        default=None, max_length=32, description="Labels that must all match exactly."
    )
    match_expressions: list[LabelSelectorRequirement] | None = Field(
        default=None, max_length=16, description="Requirements that must all hold."
    )


class SidecarTarget(ApiModel):
    """One ConfigMap per dashboard for the Grafana dashboard sidecar."""

    enabled: bool | None = Field(default=None, description="Create the ConfigMaps. Default: true.")
    label_key: str | None = Field(
        default=None,
        min_length=1,
        max_length=317,
        description="Label the sidecar watches for. Default: grafana_dashboard.",
    )
    label_value: str | None = Field(
        default=None, max_length=63, description='Value of that label. Default: "1".'
    )
    folder_annotation: str | None = Field(
        default=None,
        min_length=1,
        max_length=317,
        description="Annotation carrying spec.folder (the sidecar's folderAnnotation). "
        "Default: grafana_folder.",
    )


class GrafanaOperatorTarget(ApiModel):
    """grafana-operator v5 GrafanaDashboard objects (only when that CRD exists)."""

    enabled: bool | None = Field(
        default=None, description="Create GrafanaDashboard objects. Default: true."
    )
    instance_selector: LabelSelector | None = Field(
        default=None,
        description="Which Grafana instances import the dashboards. Default: {} (all "
        "instances the grafana-operator lets see this namespace).",
    )
    allow_cross_namespace_import: bool | None = Field(
        default=None,
        description="Let Grafana instances in other namespaces import the dashboards. "
        "Default: false.",
    )


class DashboardTargets(ApiModel):
    """Where valid dashboards are synced. Default when omitted: sidecar ConfigMaps, and
    GrafanaDashboards if grafana-operator's CRD exists."""

    sidecar: SidecarTarget | None = Field(default=None, description="Grafana sidecar ConfigMaps.")
    grafana_operator: GrafanaOperatorTarget | None = Field(
        default=None, description="grafana-operator GrafanaDashboard objects."
    )


@dataclass(frozen=True)
class ResolvedDashboardTargets:
    """Targets with defaults applied."""

    sidecar: bool
    label_key: str = "grafana_dashboard"
    label_value: str = "1"
    folder_annotation: str = "grafana_folder"
    grafana_operator: bool = False
    instance_selector: dict[str, Any] = field(default_factory=dict)
    allow_cross_namespace_import: bool = False


class DashboardSetSpec(ApiModel):
    """Desired state of a DashboardSet: Grafana dashboards, validated before they are synced."""

    dashboards: list[DashboardSpec] = Field(
        min_length=1,
        max_length=MAX_DASHBOARDS,
        description="The dashboards. Names are unique within the set.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    folder: str | None = Field(
        default=None,
        min_length=1,
        max_length=256,
        description="Grafana folder title for the dashboards. Default: Grafana's General folder.",
    )
    targets: DashboardTargets | None = Field(default=None, description="Where to sync them.")
    datasource: str | None = Field(
        default=None,
        min_length=1,
        max_length=256,
        description="Name of the Prometheus datasource selected in each dashboard's "
        "'datasource' template variable. Default: the dashboard's own default.",
    )
    validation: MetricValidationSpec | None = Field(
        default=None, description="How the dashboards' queries are checked before syncing."
    )

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> DashboardSetSpec:
        """Parse ``body['spec']``; raise :class:`SpecError` naming each bad field."""
        return parse_model(cls, body.get("spec"), "spec")

    def resolved_targets(self) -> ResolvedDashboardTargets:
        """Targets with defaults applied (see :class:`DashboardTargets`)."""
        t = self.targets
        sc = t.sidecar if t else SidecarTarget()
        go = t.grafana_operator if t else GrafanaOperatorTarget()
        go_on = go is not None and go.enabled is not False
        selector = go.instance_selector.to_wire() if go and go.instance_selector else {}
        return ResolvedDashboardTargets(
            sidecar=sc is not None and sc.enabled is not False,
            label_key=(sc.label_key if sc and sc.label_key else "grafana_dashboard"),
            label_value=(sc.label_value if sc and sc.label_value is not None else "1"),
            folder_annotation=(
                sc.folder_annotation if sc and sc.folder_annotation else "grafana_folder"
            ),
            grafana_operator=go_on,
            instance_selector=selector if go_on else {},
            allow_cross_namespace_import=bool(go and go_on and go.allow_cross_namespace_import),
        )

    def resolved_validation(self) -> MetricValidationSpec:
        """``spec.validation`` (call ``.resolved()`` on it for the defaults)."""
        return self.validation or MetricValidationSpec()


class DashboardStatus(StatusModel):
    """One dashboard as last validated and synced."""

    name: str = Field(max_length=63, description="Dashboard name within the set.")
    uid: str | None = Field(default=None, max_length=128, description="The dashboard's uid.")
    title: str | None = Field(default=None, max_length=512, description="The dashboard's title.")
    panels: int | None = Field(default=None, ge=0, description="Number of panels (incl. rows).")
    bytes: int | None = Field(default=None, ge=0, description="Size of the dashboard JSON.")
    unknown_metrics: list[Annotated[str, Field(max_length=256)]] | None = Field(
        default=None,
        max_length=128,
        description="Metrics its queries select but no component exports.",
    )
    errors: list[Annotated[str, Field(max_length=4096)]] | None = Field(
        default=None, max_length=64, description="Why it is invalid, if it is."
    )
    synced: bool = Field(description="True when the current version is in every target.")


class DashboardSetStatus(BaseStatus):
    """Observed state of the DashboardSet, written only by the operator."""

    dashboards: list[DashboardStatus] | None = Field(
        default=None,
        max_length=MAX_DASHBOARDS,
        description="Each dashboard's validation and sync result.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    dashboards_synced: str | None = Field(
        default=None, max_length=16, description="Synced dashboards out of declared, e.g. 3/3."
    )
