"""``DashStreamPipeline.spec.components`` and ``spec.monitoring``: the workloads it runs.

Every field is optional; :meth:`ComponentsSpec.resolved` fills the defaults in
code (enabled, 1 replica, the operator's default image) so that nothing is
defaulted by the API server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import Field

from .common import ApiModel, Duration, LabelMap, Quantity, SecretKeyRef, cel

__all__ = [
    "COMPONENT_NAMES",
    "ComponentName",
    "ComponentSpec",
    "ComponentsSpec",
    "MonitoringSpec",
    "ResolvedComponent",
    "ResolvedServiceMonitor",
    "ResourceRequirements",
    "ServiceMonitorSpec",
]

ComponentName = Literal["websocket-server", "prometheus-exporter", "quality-monitor"]
# Order is the order status and renderers list them in; names match the
# metrics contract's component names and AlertRuleSet/DashboardSet validation.
COMPONENT_NAMES: tuple[ComponentName, ...] = (
    "websocket-server",
    "prometheus-exporter",
    "quality-monitor",
)

DEFAULT_REPLICAS = 1
DEFAULT_SCRAPE_INTERVAL = "30s"

ResourceName = Annotated[str, Field(min_length=1, max_length=253)]
# Settings keys become ConfigMap keys (and env names), so they use that charset.
# The key type checks it in code; CEL checks it in the API server (structural
# schemas have no propertyNames).
SettingsKey = Annotated[str, Field(min_length=1, max_length=253, pattern=r"^[-._a-zA-Z0-9]+$")]
SETTINGS_KEYS = cel(
    "self.all(k, k.size() <= 253 && k.matches('^[-._a-zA-Z0-9]+$'))",
    "settings keys must be 1-253 characters of [-._a-zA-Z0-9]",
)


class ResourceRequirements(ApiModel):
    """Compute resources of the component's container (a subset of the core
    ResourceRequirements: requests and limits)."""

    requests: dict[ResourceName, Quantity] | None = Field(
        default=None,
        max_length=16,
        description="Minimum resources, e.g. {cpu: 100m, memory: 128Mi}.",
    )
    limits: dict[ResourceName, Quantity] | None = Field(
        default=None,
        max_length=16,
        description="Maximum resources, e.g. {memory: 256Mi}.",
    )


class ComponentSpec(ApiModel):
    """One DashStream workload: a Deployment, a Service and a settings ConfigMap."""

    enabled: bool | None = Field(default=None, description="Run this component. Default: true.")
    replicas: int | None = Field(
        default=None, ge=0, le=100, description="Number of pods. Default: 1."
    )
    image: str | None = Field(
        default=None,
        min_length=1,
        max_length=512,
        description="Container image. Default: the DashStream workloads image the operator "
        "is configured with.",
    )
    resources: ResourceRequirements | None = Field(
        default=None, description="CPU and memory requests and limits of the container."
    )
    settings: dict[SettingsKey, Annotated[str, Field(max_length=4096)]] | None = Field(
        default=None,
        max_length=64,
        description="Extra settings for the component, as string key/values stored in its "
        "settings ConfigMap and passed to the process as environment variables. Not for "
        "secrets: Kafka credentials come from spec.kafka's Secret references.",
        json_schema_extra={"x-kubernetes-validations": [SETTINGS_KEYS]},
    )


class WebSocketServerSpec(ComponentSpec):
    """The WebSocket server, which alone serves browsers and so alone takes a token."""

    auth_token_secret_ref: SecretKeyRef | None = Field(
        default=None,
        description="Bearer token required on /ws (env WEBSOCKET_AUTH_TOKEN, from this "
        "Secret key; never from settings). Without it /ws is open to anyone who can reach "
        "the Service.",
    )


class ComponentsSpec(ApiModel):
    """The three DashStream workloads. Each is enabled with one replica unless configured."""

    websocket_server: WebSocketServerSpec | None = Field(
        default=None,
        description="The WebSocket server streaming quality events to browsers "
        "(with sequence validation, dead-letter topic and replay buffer).",
    )
    prometheus_exporter: ComponentSpec | None = Field(
        default=None, description="The exporter turning quality events into Prometheus metrics."
    )
    quality_monitor: ComponentSpec | None = Field(
        default=None, description="The quality monitor publishing quality events to Kafka."
    )

    def get(self, name: ComponentName) -> ComponentSpec | None:
        """The declared spec of a component by its kebab-case name."""
        spec: ComponentSpec | None = getattr(self, name.replace("-", "_"))
        return spec


class ServiceMonitorSpec(ApiModel):
    """prometheus-operator ServiceMonitors, one per enabled component, created only when
    the monitoring.coreos.com CRDs exist in the cluster."""

    enabled: bool | None = Field(default=None, description="Create ServiceMonitors. Default: true.")
    interval: Duration | None = Field(
        default=None, description="Scrape interval as a Prometheus duration. Default: 30s."
    )
    labels: LabelMap | None = Field(
        default=None,
        max_length=32,
        description="Extra labels on the ServiceMonitors, e.g. {release: prometheus} to match "
        "a Prometheus serviceMonitorSelector.",
    )


class MonitoringSpec(ApiModel):
    """How Prometheus scrapes the components."""

    service_monitor: ServiceMonitorSpec | None = Field(
        default=None, description="ServiceMonitor objects for prometheus-operator."
    )


@dataclass(frozen=True)
class ResolvedComponent:
    """A component with defaults applied. ``image`` None means the operator's default image."""

    name: ComponentName
    enabled: bool
    replicas: int
    image: str | None
    requests: dict[str, int | str] = field(default_factory=dict)
    limits: dict[str, int | str] = field(default_factory=dict)
    settings: dict[str, str] = field(default_factory=dict)
    # Env variable -> the Secret key it is read from (env valueFrom, never a ConfigMap).
    secret_refs: dict[str, SecretKeyRef] = field(default_factory=dict)
    # From spec.scheduling (pipeline-wide), copied onto the pod template as given.
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class ResolvedServiceMonitor:
    """ServiceMonitor settings with defaults applied."""

    enabled: bool = True
    interval: str = DEFAULT_SCRAPE_INTERVAL
    labels: dict[str, str] = field(default_factory=dict)


def resolve_component(name: ComponentName, spec: ComponentSpec | None) -> ResolvedComponent:
    """Apply the defaults (enabled, 1 replica, default image) to one component."""
    spec = spec or ComponentSpec()
    res = spec.resources or ResourceRequirements()
    return ResolvedComponent(
        name=name,
        enabled=True if spec.enabled is None else spec.enabled,
        replicas=DEFAULT_REPLICAS if spec.replicas is None else spec.replicas,
        image=spec.image,
        requests=dict(res.requests or {}),
        limits=dict(res.limits or {}),
        settings=dict(spec.settings or {}),
        secret_refs=({"WEBSOCKET_AUTH_TOKEN": spec.auth_token_secret_ref}
                     if isinstance(spec, WebSocketServerSpec) and spec.auth_token_secret_ref
                     else {}),
    )


def resolve_service_monitor(spec: MonitoringSpec | None) -> ResolvedServiceMonitor:
    """Apply the defaults (enabled, 30s) to ``spec.monitoring.serviceMonitor``."""
    sm = (spec.service_monitor if spec else None) or ServiceMonitorSpec()
    return ResolvedServiceMonitor(
        enabled=True if sm.enabled is None else sm.enabled,
        interval=sm.interval or DEFAULT_SCRAPE_INTERVAL,
        labels=dict(sm.labels or {}),
    )
