"""``spec.validation`` of AlertRuleSet and DashboardSet: which metrics contract to check
queries against, and what an unknown metric means (DESIGN §3.5)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import Field

from .common import ApiModel
from .components import COMPONENT_NAMES, ComponentName

__all__ = [
    "ContractComponent",
    "MetricValidationSpec",
    "ResolvedValidation",
    "RuleValidationSpec",
    "UnknownMetricsPolicy",
]

ContractComponent = Literal["websocket-server", "prometheus-exporter", "quality-monitor", "all"]
UnknownMetricsPolicy = Literal["Warn", "Reject"]

DEFAULT_REQUIRED_LABELS = ("severity",)


@dataclass(frozen=True)
class ResolvedValidation:
    """Validation settings with defaults applied; ``components`` has 'all' expanded."""

    components: tuple[ComponentName, ...]
    unknown_metrics: UnknownMetricsPolicy
    required_labels: tuple[str, ...] = ()


class MetricValidationSpec(ApiModel):
    """How queries are checked against the metrics the DashStream components export."""

    components: list[ContractComponent] | None = Field(
        default=None,
        min_length=1,
        max_length=4,
        description="Components whose metrics contract a query may use: websocket-server, "
        "prometheus-exporter, quality-monitor, or all. Default: [all].",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    unknown_metrics: UnknownMetricsPolicy | None = Field(
        default=None,
        description="A query selecting a metric that none of those components exports (and "
        "that is not a standard series such as up): Reject (default) reports it and does not "
        "sync the item; Warn reports it and syncs anyway.",
    )

    def _resolved_components(self) -> tuple[ComponentName, ...]:
        chosen = set(self.components or ["all"])
        if "all" in chosen:
            return COMPONENT_NAMES
        return tuple(c for c in COMPONENT_NAMES if c in chosen)

    def resolved(self) -> ResolvedValidation:
        """The settings with defaults applied."""
        return ResolvedValidation(self._resolved_components(), self.unknown_metrics or "Reject")


class RuleValidationSpec(MetricValidationSpec):
    """Validation of alert rules: the metrics check plus labels every alert must carry."""

    required_labels: list[Annotated[str, Field(min_length=1, max_length=128)]] | None = Field(
        default=None,
        max_length=32,
        description="Labels every alerting rule must set. Default: [severity]; set [] to "
        "require none.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )

    def resolved(self) -> ResolvedValidation:
        """The settings with defaults applied."""
        labels = DEFAULT_REQUIRED_LABELS if self.required_labels is None else self.required_labels
        return ResolvedValidation(
            self._resolved_components(), self.unknown_metrics or "Reject", tuple(labels)
        )
