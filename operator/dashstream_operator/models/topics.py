"""``DashStreamPipeline.spec.topics``: the Kafka topics a pipeline owns, and their status.

The rules the API server enforces with CEL are mirrored by validators here, so a
body that bypassed admission fails the same way in code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, JsonValue, field_validator

from .common import ApiModel, StatusModel, cel

__all__ = [
    "DEFAULT_PARTITIONS",
    "DEFAULT_TOPICS",
    "MAX_TOPICS",
    "TOPICS_RULES",
    "ResolvedTopic",
    "TopicDeletionPolicy",
    "TopicRole",
    "TopicSpec",
    "TopicStatus",
    "check_topics",
]

TopicRole = Literal["events", "dlq"]
TopicDeletionPolicy = Literal["Retain", "Delete"]

# Bounded so the O(n^2) uniqueness rule stays inside the CEL cost budget.
MAX_TOPICS = 64
TOPIC_NAME = r"^[a-zA-Z0-9._-]+$"
DEFAULT_PARTITIONS = 1


@dataclass(frozen=True)
class ResolvedTopic:
    """A topic with defaults applied. ``replication_factor`` None means the broker's
    ``default.replication.factor`` (the admin API's -1)."""

    name: str
    role: TopicRole | None
    partitions: int
    replication_factor: int | None
    config: dict[str, str] = field(default_factory=dict)


# The seeds' topics (observability-infrastructure.md, "Kafka topics"): one
# partition each, 7 days of events, 30 days of dead letters.
DEFAULT_TOPICS: tuple[ResolvedTopic, ...] = (
    ResolvedTopic("dashstream-quality", "events", 1, None, {"retention.ms": "604800000"}),
    ResolvedTopic("dashstream-quality-dlq", "dlq", 1, None, {"retention.ms": "2592000000"}),
)


class TopicSpec(ApiModel):
    """A Kafka topic the pipeline owns: created, grown and configured by the operator."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                # A transition rule on the list item (the list is a map keyed by
                # name, so oldSelf is the same topic). It also covers removing
                # partitions, which silently means "back to 1".
                cel(
                    "!has(oldSelf.partitions) || (has(self.partitions)"
                    " && self.partitions >= oldSelf.partitions)",
                    "partitions cannot be decreased (Kafka cannot remove partitions)",
                    ".partitions",
                )
            ]
        }
    )

    name: str = Field(
        min_length=1,
        max_length=249,
        pattern=TOPIC_NAME,
        description="Kafka topic name: up to 249 characters of [a-zA-Z0-9._-], not '.' or '..', "
        "not starting with '__' (reserved for Kafka's internal topics).",
        json_schema_extra={
            "x-kubernetes-validations": [
                cel("self != '.' && self != '..'", "topic name must not be '.' or '..'"),
                cel(
                    "!self.startsWith('__')",
                    "topic names starting with '__' are reserved for Kafka internal topics",
                ),
            ]
        },
    )
    role: TopicRole | None = Field(
        default=None,
        description="What the components use the topic for: 'events' (quality events; exactly "
        "one topic) or 'dlq' (dead letters; at most one). Omit for other topics the "
        "pipeline should manage.",
    )
    partitions: int | None = Field(
        default=None,
        ge=1,
        description="Number of partitions. Can be increased, never decreased. Default: 1.",
    )
    replication_factor: int | None = Field(
        default=None,
        ge=1,
        le=32767,
        description="Replicas per partition. Default: the broker's default.replication.factor. "
        "Kafka cannot change it on an existing topic: a change is reported with the condition "
        "reason ReplicationChangeUnsupported and not applied.",
    )
    config: (
        dict[
            Annotated[str, Field(min_length=1, max_length=253)],
            Annotated[str, Field(max_length=4096)],
        ]
        | None
    ) = Field(
        default=None,
        max_length=64,
        description='Kafka topic configs as strings, e.g. {retention.ms: "604800000", '
        "cleanup.policy: delete}. Only the keys listed here are managed; others are left as "
        "the broker has them. A key removed from this list is reset to the broker's default.",
    )

    @field_validator("name")
    @classmethod
    def _kafka_name(cls, name: str) -> str:
        if name in (".", ".."):
            raise ValueError("topic name must not be '.' or '..'")
        if name.startswith("__"):
            raise ValueError(
                "topic names starting with '__' are reserved for Kafka internal topics"
            )
        return name


TOPICS_RULES: list[JsonValue] = [
    cel(
        "self.all(x, self.exists_one(y, y.name == x.name))",
        "topic names must be unique within the pipeline",
    ),
    cel(
        "self.filter(t, has(t.role) && t.role == 'events').size() == 1",
        "exactly one topic must have role 'events'",
    ),
    cel(
        "self.filter(t, has(t.role) && t.role == 'dlq').size() <= 1",
        "at most one topic may have role 'dlq'",
    ),
]


class TopicStatus(StatusModel):
    """A topic as the broker last described it."""

    name: str = Field(max_length=249, description="Topic name.")
    partitions: int | None = Field(default=None, ge=0, description="Partitions on the broker.")
    replication_factor: int | None = Field(
        default=None, ge=0, description="Replication factor on the broker."
    )
    ready: bool = Field(
        description="True when the broker has the topic with the declared partitions and configs."
    )
    message: str | None = Field(
        default=None, max_length=4096, description="Why the topic is not ready, if it is not."
    )
    managed_config: list[Annotated[str, Field(max_length=253)]] | None = Field(
        default=None, max_length=128,
        description="Config keys this pipeline set on the topic. A key removed from the spec "
        "is reset to the broker's default; keys set by others are never touched.")


def check_topics(topics: list[TopicSpec]) -> list[TopicSpec]:
    """The list rules of :data:`TOPICS_RULES`, in code; raise ValueError on the first broken."""
    names = [t.name for t in topics]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"topic names must be unique within the pipeline: {dupes}")
    if sum(t.role == "events" for t in topics) != 1:
        raise ValueError("exactly one topic must have role 'events'")
    if sum(t.role == "dlq" for t in topics) > 1:
        raise ValueError("at most one topic may have role 'dlq'")
    return topics
