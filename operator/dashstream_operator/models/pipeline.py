"""``DashStreamPipeline``: Kafka connection, topics, components and monitoring.

Defaults are resolved here in code (``resolved_*``), never by the API server.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Annotated, Any

from pydantic import Field, field_validator

from .common import ApiModel, StatusModel, parse_model
from .components import (
    COMPONENT_NAMES,
    ComponentsSpec,
    MonitoringSpec,
    ResolvedComponent,
    ResolvedServiceMonitor,
    resolve_component,
    resolve_service_monitor,
)
from .kafka import KafkaSpec
from .scheduling import PodScheduling
from .status import BaseStatus
from .topics import (
    DEFAULT_PARTITIONS,
    DEFAULT_TOPICS,
    MAX_TOPICS,
    TOPICS_RULES,
    ResolvedTopic,
    TopicDeletionPolicy,
    TopicSpec,
    TopicStatus,
    check_topics,
)

__all__ = ["ComponentStatus", "DashStreamPipelineSpec", "DashStreamPipelineStatus"]


class DashStreamPipelineSpec(ApiModel):
    """Desired state of a DashStream pipeline: its Kafka topics and the workloads around them."""

    kafka: KafkaSpec = Field(description="How to reach the Kafka cluster.")
    topics: list[TopicSpec] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_TOPICS,
        description="Kafka topics this pipeline owns. Exactly one has role 'events'. When "
        "omitted: dashstream-quality (events, 1 partition, retention.ms 7 days) and "
        "dashstream-quality-dlq (dlq, 1 partition, retention.ms 30 days).",
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["name"],
            "x-kubernetes-validations": TOPICS_RULES,
        },
    )
    topic_deletion_policy: TopicDeletionPolicy | None = Field(
        default=None,
        description="What happens to the topics when the pipeline is deleted: Retain (default) "
        "leaves them in Kafka; Delete removes exactly the topics this pipeline owns.",
    )
    components: ComponentsSpec | None = Field(
        default=None, description="The DashStream workloads to run. All enabled by default."
    )
    monitoring: MonitoringSpec | None = Field(
        default=None, description="Prometheus scraping of the components."
    )
    scheduling: PodScheduling | None = Field(
        default=None,
        description="Node selector and tolerations of every component's pods.",
    )

    @field_validator("topics")
    @classmethod
    def _topic_rules(cls, topics: list[TopicSpec] | None) -> list[TopicSpec] | None:
        return None if topics is None else check_topics(topics)

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> DashStreamPipelineSpec:
        """Parse ``body['spec']``; raise :class:`SpecError` naming each bad field."""
        return parse_model(cls, body.get("spec"), "spec")

    def resolved_topics(self) -> list[ResolvedTopic]:
        """The declared topics with defaults applied, or the seeds' two topics if none are
        declared. Declared topics get no implicit configs: only what the CR says is managed."""
        if self.topics is None:
            return [replace(t, config=dict(t.config)) for t in DEFAULT_TOPICS]
        return [
            ResolvedTopic(
                name=t.name,
                role=t.role,
                partitions=t.partitions or DEFAULT_PARTITIONS,
                replication_factor=t.replication_factor,
                config=dict(t.config or {}),
            )
            for t in self.topics
        ]

    def events_topic(self) -> str:
        """Name of the topic with role 'events'."""
        return next(t.name for t in self.resolved_topics() if t.role == "events")

    def dlq_topic(self) -> str | None:
        """Name of the topic with role 'dlq', if any."""
        return next((t.name for t in self.resolved_topics() if t.role == "dlq"), None)

    def resolved_deletion_policy(self) -> TopicDeletionPolicy:
        """``topicDeletionPolicy`` with its default (Retain: never lose data by accident)."""
        return self.topic_deletion_policy or "Retain"

    def resolved_components(self) -> list[ResolvedComponent]:
        """All three components, in a fixed order, with defaults applied."""
        comps = self.components or ComponentsSpec()
        sched = self.scheduling or PodScheduling()
        node_selector = dict(sched.node_selector or {})
        tolerations = tuple(t.to_k8s() for t in sched.tolerations or [])
        return [replace(resolve_component(name, comps.get(name)),
                        node_selector=node_selector, tolerations=tolerations)
                for name in COMPONENT_NAMES]

    def resolved_service_monitor(self) -> ResolvedServiceMonitor:
        """``monitoring.serviceMonitor`` with defaults applied."""
        return resolve_service_monitor(self.monitoring)


# Bounded: a status near etcd's limit would make every status write fail.
MAX_SETTINGS_NOTES = 32


class ComponentStatus(StatusModel):
    """A component's Deployment as last observed."""

    name: str = Field(max_length=63, description="Component name, e.g. websocket-server.")
    replicas: int = Field(ge=0, description="Desired replicas.")
    ready_replicas: int = Field(ge=0, description="Ready replicas reported by the Deployment.")
    ready: bool = Field(description="True when every replica runs the current template "
                                    "and is ready (as `kubectl rollout status` decides).")


class DashStreamPipelineStatus(BaseStatus):
    """Observed state of the pipeline, written only by the operator."""

    topics: list[TopicStatus] | None = Field(
        default=None,
        max_length=MAX_TOPICS,
        description="Each declared topic as observed on the broker.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    components: list[ComponentStatus] | None = Field(
        default=None,
        max_length=len(COMPONENT_NAMES),
        description="Each enabled component as observed.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    topics_ready: str | None = Field(
        default=None,
        max_length=16,
        description="Ready topics out of declared, e.g. 2/2 (printer column).",
    )
    components_ready: str | None = Field(
        default=None,
        max_length=16,
        description="Ready components out of enabled, e.g. 3/3 (printer column).",
    )
    settings_notes: list[Annotated[str, Field(max_length=512)]] | None = Field(
        default=None,
        max_length=MAX_SETTINGS_NOTES,
        description="Settings under spec.components.*.settings that were left out of the "
                    "ConfigMaps (secret-looking keys, keys the operator sets itself) or "
                    "that no server reads (kept). Keys only, never values.",
    )
