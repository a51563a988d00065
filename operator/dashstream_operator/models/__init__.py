"""The DashStream API: pydantic models of the three kinds' spec and status.

These models are the single schema source: ``dashstream_operator.crdgen`` turns
them into ``crds/*.yaml``, and the operator parses CR bodies with
``<Kind>Spec.from_body(body)`` (raising :class:`SpecError`, a ``ValueError``
naming each bad field). Defaults live in code (``resolved_*`` methods), never in
the CRD schema.
"""

from .alertruleset import (
    AlertRuleSetSpec,
    AlertRuleSetStatus,
    InvalidRule,
    ResolvedRuleTargets,
    Rule,
    RuleGroup,
    UnknownMetric,
)
from .common import ConfigMapKeyRef, SecretKeyRef, SpecError
from .components import ComponentSpec, ResolvedComponent, ResolvedServiceMonitor
from .dashboardset import (
    DashboardSetSpec,
    DashboardSetStatus,
    DashboardSpec,
    DashboardStatus,
    ResolvedDashboardTargets,
)
from .kafka import KafkaSpec, SaslSpec, TlsSpec
from .kinds import ALERT_RULE_SET, DASHBOARD_SET, GROUP, KINDS, PIPELINE, VERSION, KindInfo
from .pipeline import ComponentStatus, DashStreamPipelineSpec, DashStreamPipelineStatus
from .status import BaseStatus, Condition, merge_condition
from .topics import DEFAULT_TOPICS, ResolvedTopic, TopicSpec, TopicStatus
from .validation import MetricValidationSpec, ResolvedValidation, RuleValidationSpec

__all__ = [
    "ALERT_RULE_SET",
    "DASHBOARD_SET",
    "DEFAULT_TOPICS",
    "GROUP",
    "KINDS",
    "PIPELINE",
    "VERSION",
    "AlertRuleSetSpec",
    "AlertRuleSetStatus",
    "BaseStatus",
    "ComponentSpec",
    "ComponentStatus",
    "Condition",
    "ConfigMapKeyRef",
    "DashStreamPipelineSpec",
    "DashStreamPipelineStatus",
    "DashboardSetSpec",
    "DashboardSetStatus",
    "DashboardSpec",
    "DashboardStatus",
    "InvalidRule",
    "KafkaSpec",
    "KindInfo",
    "MetricValidationSpec",
    "ResolvedComponent",
    "ResolvedDashboardTargets",
    "ResolvedRuleTargets",
    "ResolvedServiceMonitor",
    "ResolvedTopic",
    "ResolvedValidation",
    "Rule",
    "RuleGroup",
    "RuleValidationSpec",
    "SaslSpec",
    "SecretKeyRef",
    "SpecError",
    "TlsSpec",
    "TopicSpec",
    "TopicStatus",
    "UnknownMetric",
    "merge_condition",
]
