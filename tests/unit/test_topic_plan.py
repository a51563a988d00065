"""Pure topic planning and claim resolution (no broker, no API server)."""

from __future__ import annotations

from dashstream_operator.kafka.plan import ObservedTopic, plan_topics, topic_state
from dashstream_operator.models import ResolvedTopic
from dashstream_operator.reconcile.topics import Claim, winner


# Topic configs are a dict argument, not **kwargs: their keys have dots, and mypy would
# check a **{...} against partitions and rf too.
def rt(name: str, partitions: int = 1, rf: int | None = None,
       config: dict[str, str] | None = None) -> ResolvedTopic:
    return ResolvedTopic(name, "events", partitions, rf, dict(config or {}))


def ob(name: str, partitions: int = 1, rf: int = 1,
       config: dict[str, str] | None = None) -> ObservedTopic:
    return ObservedTopic(name, partitions, rf, dict(config or {}))


def test_missing_topics_are_created_in_one_batch() -> None:
    plan = plan_topics([rt("a"), rt("b", 3)], {"a": None, "b": None})
    assert [t.name for t in plan.create] == ["a", "b"]
    assert not plan.add_partitions and not plan.alter_configs and not plan.refusals


def test_unchanged_topic_plans_nothing() -> None:
    plan = plan_topics([rt("a", 2, config={"retention.ms": "1"})],
                       {"a": ob("a", 2, config={"retention.ms": "1", "other": "x"})})
    assert plan.empty and not plan.refusals and plan.summary() == []


def test_partitions_grow_but_never_shrink() -> None:
    grow = plan_topics([rt("a", 3)], {"a": ob("a", 1)})
    assert grow.add_partitions == {"a": 3}
    shrink = plan_topics([rt("a", 2)], {"a": ob("a", 3)})
    assert shrink.empty
    assert [r.reason for r in shrink.refusals] == ["PartitionDecreaseRefused"]
    assert "kept 3" in shrink.refusals[0].message


def test_replication_change_is_refused_but_unset_rf_accepts_the_broker_default() -> None:
    assert plan_topics([rt("a", rf=None)], {"a": ob("a", rf=3)}).refusals == []
    refused = plan_topics([rt("a", rf=2)], {"a": ob("a", rf=1)}).refusals
    assert [r.reason for r in refused] == ["ReplicationChangeUnsupported"]


def test_only_declared_configs_are_set() -> None:
    plan = plan_topics([rt("a", config={"retention.ms": "10", "cleanup.policy": "delete"})],
                       {"a": ob("a", config={"retention.ms": "99", "cleanup.policy": "delete",
                                             "segment.ms": "5"})})
    assert plan.alter_configs == {"a": {"retention.ms": "10"}}
    assert plan.summary() == ["set a retention.ms"]


def test_topic_state_is_ready_only_as_declared() -> None:
    assert topic_state(rt("a", 2), ob("a", 2)) == (True, "as declared")
    assert topic_state(rt("a"), None) == (False, "not found in Kafka")
    ok, why = topic_state(rt("a", 2, config={"retention.ms": "1"}),
                          ob("a", 1, config={"retention.ms": "2"}))
    assert not ok and "1 partitions, declared 2" in why and "retention.ms" in why


def test_older_claim_wins_and_established_breaks_same_second_ties() -> None:
    old = Claim("2026-01-01T00:00:00Z", True, "uid-z", "ns/old")
    new = Claim("2026-01-01T00:00:05Z", False, "uid-a", "ns/new")
    assert winner([new, old]) == old
    managing = Claim("2026-01-01T00:00:00Z", False, "uid-z", "ns/managing")
    newcomer = Claim("2026-01-01T00:00:00Z", True, "uid-a", "ns/newcomer")
    assert winner([newcomer, managing]) == managing
    assert winner([]) is None


def test_a_config_key_this_pipeline_stopped_declaring_is_reset() -> None:
    have = ObservedTopic("a", 1, 1, {"retention.ms": "1", "cleanup.policy": "compact",
                                     "segment.ms": "9"},
                         frozenset({"retention.ms", "cleanup.policy", "segment.ms"}))
    plan = plan_topics([rt("a", config={"retention.ms": "1"})], {"a": have},
                       {"a": ["retention.ms", "cleanup.policy"]})
    # segment.ms was set by someone else (never managed here): left alone.
    assert plan.reset_configs == {"a": ["cleanup.policy"]}
    assert plan.summary() == ["reset a cleanup.policy"]
    ready, why = topic_state(rt("a", config={"retention.ms": "1"}), have, ["cleanup.policy"])
    assert not ready and "no longer declared still set: cleanup.policy" in why


def test_a_managed_key_already_at_the_default_needs_nothing() -> None:
    have = ObservedTopic("a", 1, 1, {"cleanup.policy": "delete"}, frozenset())
    plan = plan_topics([rt("a")], {"a": have}, {"a": ["cleanup.policy"]})
    assert plan.empty
    assert topic_state(rt("a"), have, ["cleanup.policy"]) == (True, "as declared")
