"""Pure topic planning: desired topics + what the broker described -> what to do.

No I/O here: the planner is unit-tested on plain values, the admin layer executes it.
Refusals are decisions, not errors: they become conditions and Events, never an
exception loop (Strimzi reports a partition decrease the same way, as NotSupported).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

from dashstream_operator.models.pipeline import ResolvedTopic

__all__ = [
    "ObservedTopic",
    "Refusal",
    "TopicPlan",
    "plan_topics",
    "topic_state",
]

# Condition reasons (CamelCase, stable: users and Argo CD health checks match on them).
PARTITION_DECREASE = "PartitionDecreaseRefused"
REPLICATION_CHANGE = "ReplicationChangeUnsupported"


@dataclass(frozen=True)
class ObservedTopic:
    """A topic as the broker describes it. ``overrides``: the keys set on the topic
    itself (dynamic topic configs), as opposed to broker defaults."""

    name: str
    partitions: int
    replication_factor: int
    config: Mapping[str, str] = field(default_factory=dict)
    overrides: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Refusal:
    topic: str
    reason: str
    message: str


@dataclass
class TopicPlan:
    create: list[ResolvedTopic] = field(default_factory=list)
    add_partitions: dict[str, int] = field(default_factory=dict)  # name -> new total
    alter_configs: dict[str, dict[str, str]] = field(default_factory=dict)
    reset_configs: dict[str, list[str]] = field(default_factory=dict)  # back to the default
    refusals: list[Refusal] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.create or self.add_partitions or self.alter_configs
                    or self.reset_configs)

    def summary(self) -> list[str]:
        """One line per pending change, for status.plan and logs."""
        lines = [f"create {t.name} ({t.partitions} partitions)" for t in self.create]
        lines += [f"grow {n} to {p} partitions" for n, p in sorted(self.add_partitions.items())]
        lines += [f"set {n} {', '.join(sorted(c))}" for n, c in sorted(self.alter_configs.items())]
        lines += [f"reset {n} {', '.join(c)}" for n, c in sorted(self.reset_configs.items())]
        return lines


def plan_topics(
    desired: Iterable[ResolvedTopic], observed: Mapping[str, ObservedTopic | None],
    managed: Mapping[str, Collection[str]] | None = None,
) -> TopicPlan:
    """Level-based: compares the whole desired state with the whole observed state.
    ``managed``: per topic, the config keys this pipeline set before; one no longer
    declared but still set on the topic goes back to the broker's default."""
    plan = TopicPlan()
    for want in desired:
        have = observed.get(want.name)
        if have is None:
            plan.create.append(want)
            continue
        if want.partitions > have.partitions:
            plan.add_partitions[want.name] = want.partitions
        elif want.partitions < have.partitions:
            plan.refusals.append(Refusal(
                want.name, PARTITION_DECREASE,
                f"topic {want.name} has {have.partitions} partitions; the spec asks for "
                f"{want.partitions}, but Kafka cannot remove partitions (kept {have.partitions})",
            ))
        rf = want.replication_factor
        if rf is not None and rf != have.replication_factor:
            plan.refusals.append(Refusal(
                want.name, REPLICATION_CHANGE,
                f"topic {want.name} has replication factor {have.replication_factor}; changing "
                f"it to {rf} needs a partition reassignment, which the operator does not do",
            ))
        # Only declared keys are compared and set: configs the CR does not name stay as
        # the broker (or another tool) has them.
        changed = {k: v for k, v in want.config.items() if have.config.get(k) != v}
        if changed:
            plan.alter_configs[want.name] = changed
        stale = leftover_keys(want, have, (managed or {}).get(want.name, ()))
        if stale:
            plan.reset_configs[want.name] = stale
    return plan


def leftover_keys(want: ResolvedTopic, have: ObservedTopic | None,
                  managed: Collection[str]) -> list[str]:
    """Keys this pipeline set that the spec no longer declares and the topic still
    overrides. Keys nobody declared through this pipeline are someone else's: kept."""
    if have is None:
        return []
    return sorted(k for k in managed if k not in want.config and k in have.overrides)


def topic_state(want: ResolvedTopic, have: ObservedTopic | None,
                managed: Collection[str] = ()) -> tuple[bool, str]:
    """Ready only when the broker describes exactly what was declared (and no key
    this pipeline stopped declaring is still set)."""
    if have is None:
        return False, "not found in Kafka"
    problems = []
    if have.partitions != want.partitions:
        problems.append(f"{have.partitions} partitions, declared {want.partitions}")
    if want.replication_factor is not None and have.replication_factor != want.replication_factor:
        problems.append(
            f"replication factor {have.replication_factor}, declared {want.replication_factor}")
    drift = sorted(k for k, v in want.config.items() if have.config.get(k) != v)
    if drift:
        problems.append(f"config differs: {', '.join(drift)}")
    stale = leftover_keys(want, have, managed)
    if stale:
        problems.append(f"config no longer declared still set: {', '.join(stale)}")
    return (not problems), ("; ".join(problems) or "as declared")
