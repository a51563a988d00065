"""Unit tests of the quality-monitor's synthetic event generator."""

from __future__ import annotations

from collections import Counter

import pytest

from dashstream_workloads.contract import FAILURE_CATEGORIES
from dashstream_workloads.proto.dashstream_pb2 import DashStreamMessage
from dashstream_workloads.quality_monitor.generator import PASS_THRESHOLD, EventGenerator
from dashstream_workloads.wire import SCHEMA_VERSION, decode, encode


def generate(gen: EventGenerator, n: int) -> list[DashStreamMessage]:
    return [gen.event(gen.next_slot()) for _ in range(n)]


def test_sequences_run_per_thread_from_one() -> None:
    gen = EventGenerator(["a", "b"], sessions=3, tenant_id="t", seed=1)
    seqs: dict[str, list[int]] = {}
    for msg in generate(gen, 30):
        seqs.setdefault(msg.header.thread_id, []).append(msg.header.sequence)
    assert len(seqs) == 3 and all(s == list(range(1, 11)) for s in seqs.values())


def test_events_are_valid_and_varied() -> None:
    gen = EventGenerator(["a", "b", "c"], sessions=5, tenant_id="acme", seed=2)
    events = generate(gen, 2000)
    for msg in events[:50]:
        assert decode(encode(msg)) == msg
        h, q = msg.header, msg.quality
        assert h.schema_version == SCHEMA_VERSION and h.tenant_id == "acme" and h.timestamp_us
        assert 0 <= q.quality_score <= 1 and q.passed == (q.quality_score >= PASS_THRESHOLD)
        assert q.turn_number >= 1 and q.session_id
    assert {m.quality.model for m in events} == {"a", "b", "c"}
    categories = Counter(m.quality.failure_category for m in events if not m.quality.passed)
    assert set(FAILURE_CATEGORIES) <= set(categories)  # every category occurs...
    assert set(categories) - set(FAILURE_CATEGORIES)  # ...and a non-contract one, on purpose
    assert 0.6 < sum(m.quality.passed for m in events) / len(events) < 0.98
    assert any(m.quality.HasField("librarian") for m in events)
    assert len({m.quality.session_id for m in events}) > 50  # sessions rotate


def test_turns_increase_within_a_session() -> None:
    gen = EventGenerator(["a"], sessions=1, tenant_id="t", seed=3)
    turns: dict[str, list[int]] = {}
    for msg in generate(gen, 200):
        turns.setdefault(msg.quality.session_id, []).append(msg.quality.turn_number)
    assert all(t == list(range(1, len(t) + 1)) for t in turns.values())


def test_seed_reproduces_content_but_not_thread_ids() -> None:
    a = generate(EventGenerator(["a", "b"], 2, "t", seed=9, run_id="r1"), 20)
    b = generate(EventGenerator(["a", "b"], 2, "t", seed=9, run_id="r2"), 20)
    assert [m.quality.quality_score for m in a] == [m.quality.quality_score for m in b]
    assert a[0].header.thread_id != b[0].header.thread_id  # a restart never reuses sequences


def test_skip_and_unsend() -> None:
    gen = EventGenerator(["a"], 1, "t", seed=4)
    assert gen.event(0).header.sequence == 1
    assert gen.skip_sequence(0) == 2
    assert gen.event(0).header.sequence == 3
    gen.unsend(0)
    assert gen.event(0).header.sequence == 3


def test_needs_a_model() -> None:
    with pytest.raises(ValueError, match="QUALITY_MONITOR_MODELS"):
        EventGenerator([], 1, "t")
