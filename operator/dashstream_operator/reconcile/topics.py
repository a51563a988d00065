"""Reconcile a pipeline's Kafka topics: claims, plan, apply, observe.

Level-based: every call compares the whole spec with what the broker describes now,
so a config altered or a topic deleted behind our back is put back on the next call
(a timer). The one memory is each topic's ``managedConfig`` in the status: the config
keys this pipeline set, so a key removed from the spec is reset to the broker's
default instead of staying behind, while keys others set are never touched.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

from dashstream_operator.k8s import SecretMissing
from dashstream_operator.kafka.admin import AdminPool, KafkaUnavailable, TopicError
from dashstream_operator.kafka.config import SecretReader, admin_config
from dashstream_operator.kafka.plan import ObservedTopic, leftover_keys, plan_topics, topic_state
from dashstream_operator.models import DashStreamPipelineSpec, ResolvedTopic, TopicStatus

__all__ = ["KAFKA_UNAVAILABLE", "SECRET_MISSING", "Claim", "TopicsOutcome", "owned_topics",
           "reconcile_topics", "winner"]

log = logging.getLogger(__name__)

TOPIC_CONFLICT = "TopicConflict"
KAFKA_UNAVAILABLE = "KafkaUnavailable"
SECRET_MISSING = "KafkaSecretMissing"


@dataclass(frozen=True, order=True)
class Claim:
    """One pipeline's claim on a topic name of one Kafka cluster; older claims sort first.

    creationTimestamp has one-second resolution, so two pipelines made in the same
    second tie: then the one whose status already shows the topic ready (it has been
    managing it) wins, and only then the uid decides.
    """

    created: str  # RFC 3339 creationTimestamp: sorts chronologically as text
    not_established: bool  # False sorts first: the current manager keeps the topic
    uid: str
    ref: str = field(compare=False)  # namespace/name, for messages


def winner(claims: Iterable[Claim]) -> Claim | None:
    """The oldest claim wins (as Strimzi's ResourceConflict rule); uid breaks ties."""
    return min(claims, default=None)


@dataclass
class TopicsOutcome:
    status: str  # condition status of TopicsReady: "True" | "False"
    reason: str
    message: str
    topics: list[TopicStatus] = field(default_factory=list)
    plan: list[str] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (reason, message)
    retry: bool = False  # transient failure: try again soon
    ready_count: int = 0


def owned_topics(spec: DashStreamPipelineSpec, uid: str,
                 claims: Mapping[str, Iterable[Claim]]) -> tuple[list[ResolvedTopic],
                                                                 list[tuple[str, Claim]]]:
    """Split the declared topics into those this pipeline owns and those lost to an
    older pipeline's claim (topic name -> winning claim)."""
    mine, lost = [], []
    for topic in spec.resolved_topics():
        best = winner(claims.get(topic.name, ()))
        if best is not None and best.uid != uid:
            lost.append((topic.name, best))
        else:
            mine.append(topic)
    return mine, lost


def reconcile_topics(spec: DashStreamPipelineSpec, uid: str,
                     claims: Mapping[str, Iterable[Claim]], pool: AdminPool,
                     read_secret: SecretReader,
                     managed: Mapping[str, Collection[str]] | None = None) -> TopicsOutcome:
    """``managed``: per topic, the config keys set by earlier reconciles (the status)."""
    managed = managed or {}
    mine, lost = owned_topics(spec, uid, claims)
    declared = spec.resolved_topics()
    # Until the broker answers, what was managed stays remembered.
    statuses = {t.name: TopicStatus(name=t.name, ready=False,
                                    managed_config=list(managed.get(t.name, [])) or None)
                for t in declared}
    warnings = [(TOPIC_CONFLICT, f"topic {name} is already managed by DashStreamPipeline "
                 f"{c.ref} (the older claim wins); this pipeline leaves it alone")
                for name, c in lost]
    for name, c in lost:
        statuses[name] = TopicStatus(name=name, ready=False,
                                     message=f"claimed by {c.ref} (TopicConflict)")
    try:
        admin = pool.get(admin_config(spec.kafka, read_secret))
        observed, denied = _split(admin.describe(t.name for t in mine))
        # A topic the broker will not describe is left alone (not created, not altered).
        plan = plan_topics([t for t in mine if t.name not in denied], observed, managed)
        errors = admin.apply(plan) if not plan.empty else []
        if not plan.empty:
            observed, denied = _split(admin.describe(t.name for t in mine))  # observed status
        errors = [*denied.values(), *errors]
    except SecretMissing as exc:
        # Not retried soon: the resync pass tries again (a Secret appears when it does).
        return TopicsOutcome("False", SECRET_MISSING, str(exc), list(statuses.values()),
                             warnings=[*warnings, (SECRET_MISSING, str(exc))])
    except KafkaUnavailable as exc:
        msg = f"Kafka at {spec.kafka.bootstrap_servers} unavailable: {exc}"
        # Not retried soon either: an outage is retried once per resync pass, quietly.
        return TopicsOutcome("False", KAFKA_UNAVAILABLE, msg, list(statuses.values()))
    for err in errors:
        warnings.append((err.reason, f"topic {err.topic}: {err.message}"))
    for refusal in plan.refusals:
        warnings.append((refusal.reason, refusal.message))
    failed = {e.topic: e for e in errors}
    for topic in mine:
        have = observed.get(topic.name)
        was = managed.get(topic.name, ())
        ready, why = topic_state(topic, _declared_only(topic, have), was)
        if topic.name in failed:
            ready, why = False, f"{failed[topic.name].reason}: {failed[topic.name].message}"
        if topic.name in denied:
            keys = sorted({*topic.config, *was})  # not seen: nothing forgotten
        else:
            keys = sorted({*topic.config, *leftover_keys(topic, have, was)})
        statuses[topic.name] = TopicStatus(
            name=topic.name, ready=ready, message=None if ready else why,
            partitions=have.partitions if have else None,
            replication_factor=have.replication_factor if have else None,
            managed_config=keys or None)
    ready_count = sum(s.ready for s in statuses.values())
    outcome = TopicsOutcome("True", "TopicsReady", f"{ready_count}/{len(declared)} topics ready",
                            [statuses[t.name] for t in declared], plan=plan.summary(),
                            warnings=warnings, ready_count=ready_count)
    if warnings:
        # The first problem names the condition; the message lists them all.
        outcome.status, outcome.reason = "False", warnings[0][0]
        outcome.message = "; ".join(m for _, m in warnings)
    elif ready_count < len(declared):
        outcome.status, outcome.reason = "False", "TopicsPending"
        outcome.retry = True
    return outcome


def _split(described: Mapping[str, ObservedTopic | TopicError | None],
           ) -> tuple[dict[str, ObservedTopic | None], dict[str, TopicError]]:
    """What the broker described, and the topics it refused to describe."""
    denied = {n: d for n, d in described.items() if isinstance(d, TopicError)}
    return {n: d for n, d in described.items() if not isinstance(d, TopicError)}, denied


def _declared_only(topic: ResolvedTopic, have: ObservedTopic | None) -> ObservedTopic | None:
    if have is None:
        return None
    return ObservedTopic(have.name, have.partitions, have.replication_factor,
                         {k: v for k, v in have.config.items() if k in topic.config},
                         have.overrides)
