"""``AlertRuleSet``: Prometheus rule groups and where to sync them.

``groups`` uses the standard Prometheus rule-file format, so its models keep the
file's own snake_case keys (``keep_firing_for``) instead of camelCase.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Self

from pydantic import ConfigDict, Field, model_validator

from .common import (
    ApiModel,
    ConfigMapKeyRef,
    Duration,
    LabelMap,
    StatusModel,
    cel,
    parse_model,
)
from .status import BaseStatus
from .validation import RuleValidationSpec

__all__ = [
    "AlertRuleSetSpec",
    "AlertRuleSetStatus",
    "GroupsFrom",
    "InvalidRule",
    "ResolvedRuleTargets",
    "Rule",
    "RuleGroup",
    "RuleTargets",
    "UnknownMetric",
]

TextMap = dict[
    Annotated[str, Field(min_length=1, max_length=256)], Annotated[str, Field(max_length=16384)]
]


class _RuleFileModel(ApiModel):
    # The rule-file format's keys are used verbatim (snake_case, "for").
    model_config = ConfigDict(alias_generator=None)


class Rule(_RuleFileModel):
    """One alerting rule (alert) or recording rule (record), as in a Prometheus rule file."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel("has(self.alert) != has(self.record)", "set exactly one of alert and record"),
                # "for" is a CEL keyword; Kubernetes exposes it as __for__.
                cel(
                    "!has(self.record) || (!has(self.__for__) && !has(self.keep_firing_for))",
                    "for and keep_firing_for apply to alerting rules only",
                ),
            ]
        }
    )

    alert: str | None = Field(
        default=None, min_length=1, max_length=256, description="Name of the alert to fire."
    )
    record: str | None = Field(
        default=None,
        min_length=1,
        max_length=256,
        pattern=r"^[a-zA-Z_:][a-zA-Z0-9_:]*$",
        description="Name of the time series to record the expression's result as.",
    )
    expr: str = Field(min_length=1, max_length=32768, description="PromQL expression to evaluate.")
    for_: Duration | None = Field(
        default=None,
        alias="for",
        description="How long the expression must hold before the alert fires (e.g. 5m).",
    )
    keep_firing_for: Duration | None = Field(
        default=None,
        description="How long the alert keeps firing after the expression stops holding.",
    )
    labels: TextMap | None = Field(
        default=None, max_length=64, description="Labels to add or overwrite (may be templated)."
    )
    annotations: TextMap | None = Field(
        default=None,
        max_length=64,
        description="Annotations of the alert, e.g. summary, description, runbook_url "
        "(templated with {{ $labels }} and {{ $value }}).",
    )

    @model_validator(mode="after")
    def _alert_xor_record(self) -> Self:
        if (self.alert is None) == (self.record is None):
            raise ValueError("set exactly one of alert and record")
        if self.record is not None and (self.for_ is not None or self.keep_firing_for):
            raise ValueError("for and keep_firing_for apply to alerting rules only")
        return self

    @property
    def display_name(self) -> str:
        """The alert or record name, for status and messages."""
        return self.alert or self.record or ""


class RuleGroup(_RuleFileModel):
    """A Prometheus rule group: rules evaluated together at one interval."""

    name: str = Field(
        min_length=1, max_length=256, description="Group name, unique within the set."
    )
    interval: Duration | None = Field(
        default=None,
        description="Evaluation interval. Default: Prometheus's global evaluation_interval.",
    )
    limit: int | None = Field(
        default=None,
        ge=0,
        description="Maximum alerts/series the group may produce; 0 means no limit.",
    )
    rules: list[Rule] = Field(
        min_length=1, max_length=512, description="The group's rules, evaluated in order."
    )


class GroupsFrom(ApiModel):
    """Where to read the rule groups from instead of spec.groups."""

    config_map_key_ref: ConfigMapKeyRef = Field(
        description="A ConfigMap key holding a Prometheus rule file (a YAML document with groups:)."
    )


class ConfigMapTarget(ApiModel):
    """Sync the rule file into a ConfigMap, for a Prometheus that mounts it."""

    name: str | None = Field(
        default=None,
        min_length=1,
        max_length=253,
        description="ConfigMap name. Default: <AlertRuleSet name>-rules. Rules too large for "
        "one object are split across further ConfigMaps, listed in status.configMaps.",
    )
    key: str | None = Field(
        default=None,
        min_length=1,
        max_length=253,
        pattern=r"^[-._a-zA-Z0-9]+$",
        description="Data key of the rule file. Default: <AlertRuleSet name>.rules.yaml.",
    )
    labels: LabelMap | None = Field(
        default=None, max_length=32, description="Extra labels on the ConfigMap."
    )


class PrometheusRuleTarget(ApiModel):
    """Sync the groups into a prometheus-operator PrometheusRule (only when that CRD exists)."""

    enabled: bool | None = Field(
        default=None, description="Create the PrometheusRule. Default: true."
    )
    name: str | None = Field(
        default=None,
        min_length=1,
        max_length=253,
        description="PrometheusRule name. Default: the AlertRuleSet's name.",
    )
    labels: LabelMap | None = Field(
        default=None,
        max_length=32,
        description="Extra labels, e.g. {release: prometheus} to match a Prometheus ruleSelector.",
    )


class RuleTargets(ApiModel):
    """Where the validated rules are synced. Default when omitted: a ConfigMap, and a
    PrometheusRule if prometheus-operator's CRD exists."""

    config_map: ConfigMapTarget | None = Field(
        default=None, description="A ConfigMap holding the rule file."
    )
    prometheus_rule: PrometheusRuleTarget | None = Field(
        default=None, description="A PrometheusRule object."
    )


@dataclass(frozen=True)
class ResolvedRuleTargets:
    """Targets with defaults applied; a None target is not synced."""

    config_map_name: str | None
    config_map_key: str
    config_map_labels: dict[str, str] = field(default_factory=dict)
    prometheus_rule_name: str | None = None
    prometheus_rule_labels: dict[str, str] = field(default_factory=dict)


class AlertRuleSetSpec(ApiModel):
    """Desired state of an AlertRuleSet: Prometheus rules, validated before they are synced."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "has(self.groups) != has(self.groupsFrom)",
                    "set exactly one of spec.groups and spec.groupsFrom",
                ),
            ]
        }
    )

    groups: list[RuleGroup] | None = Field(
        default=None,
        max_length=128,
        description="Rule groups in the standard Prometheus rule-file format. Exactly one of "
        "groups and groupsFrom.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    groups_from: GroupsFrom | None = Field(
        default=None, description="Read the rule groups from a ConfigMap key instead."
    )
    targets: RuleTargets | None = Field(default=None, description="Where to sync the rules.")
    validation: RuleValidationSpec | None = Field(
        default=None, description="How the rules are checked before they are synced."
    )

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.groups is None) == (self.groups_from is None):
            raise ValueError("set exactly one of spec.groups and spec.groupsFrom")
        return self

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> AlertRuleSetSpec:
        """Parse ``body['spec']``; raise :class:`SpecError` naming each bad field."""
        return parse_model(cls, body.get("spec"), "spec")

    def resolved_targets(self, name: str) -> ResolvedRuleTargets:
        """Targets with defaults for an AlertRuleSet called ``name``."""
        t = self.targets
        cm = t.config_map if t else ConfigMapTarget()
        pr = t.prometheus_rule if t else PrometheusRuleTarget()
        pr_on = pr is not None and pr.enabled is not False
        return ResolvedRuleTargets(
            config_map_name=(cm.name or f"{name}-rules") if cm is not None else None,
            config_map_key=(cm.key if cm and cm.key else f"{name}.rules.yaml"),
            config_map_labels=dict(cm.labels or {}) if cm else {},
            prometheus_rule_name=(pr.name or name) if pr is not None and pr_on else None,
            prometheus_rule_labels=dict(pr.labels or {}) if pr is not None and pr_on else {},
        )

    def resolved_validation(self) -> RuleValidationSpec:
        """``spec.validation`` (call ``.resolved()`` on it for the defaults)."""
        return self.validation or RuleValidationSpec()


class InvalidRule(StatusModel):
    """A rule that failed validation and was not synced."""

    group: str = Field(max_length=256, description="Rule group name.")
    rule: str = Field(max_length=256, description="Alert or record name (or #index if unnamed).")
    reason: str = Field(max_length=4096, description="What is wrong with it.")


class UnknownMetric(StatusModel):
    """A metric a rule selects that the chosen components do not export."""

    group: str = Field(max_length=256, description="Rule group name.")
    rule: str = Field(max_length=256, description="Alert or record name.")
    metric: str = Field(max_length=256, description="The metric name not in the contract.")


class AlertRuleSetStatus(BaseStatus):
    """Observed state of the AlertRuleSet, written only by the operator."""

    rules: int | None = Field(default=None, ge=0, description="Rules declared, in all groups.")
    rules_valid: str | None = Field(
        default=None, max_length=16, description="Valid rules out of declared, e.g. 14/14."
    )
    invalid_rules: list[InvalidRule] | None = Field(
        default=None, max_length=256, description="Rules that failed validation, with reasons."
    )
    unknown_metrics: list[UnknownMetric] | None = Field(
        default=None, max_length=256, description="Metrics selected by rules but not exported."
    )
    config_maps: list[Annotated[str, Field(max_length=253)]] | None = Field(
        default=None, max_length=32, description="Names of the ConfigMaps holding the rules."
    )
    prometheus_rule: str | None = Field(
        default=None, max_length=253, description="Name of the synced PrometheusRule, if any."
    )
