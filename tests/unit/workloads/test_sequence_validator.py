"""Unit tests of the websocket-server's per-thread sequence validator."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dashstream_workloads.websocket_server.sequence import Anomaly, SequenceValidator


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def kinds(anomalies: list[Anomaly]) -> list[str]:
    return [a.kind for a in anomalies]


def feed(v: SequenceValidator, seqs: list[int], thread: str = "t") -> list[Anomaly]:
    out: list[Anomaly] = []
    for s in seqs:
        out += v.check(thread, s)
    return out


def test_in_order_stream_is_clean() -> None:
    v = SequenceValidator()
    assert feed(v, list(range(1, 500))) == []
    assert v.pending() == 0


def test_first_number_is_the_start_and_zero_is_ignored() -> None:
    v = SequenceValidator()
    assert feed(v, [41, 42, 0, 43, 0]) == []  # joined mid-stream; 0 = unset


def test_gap_is_counted_once_when_the_timeout_settles_it() -> None:
    clock = Clock()
    v = SequenceValidator(reorder_timeout=5.0, clock=clock)
    assert feed(v, [1, 2, 4, 5]) == []  # 3 is only pending so far
    assert v.pending() == 1
    clock.now += 4.9
    assert v.expire() == []
    clock.now += 0.2
    assert v.expire() == [Anomaly("gap", "t", 3, 1)]
    assert v.expire() == [] and v.pending() == 0
    assert kinds(feed(v, [3])) == ["duplicate"]  # too late: already declared lost and seen


def test_gap_is_settled_by_the_reorder_window_too() -> None:
    v = SequenceValidator(reorder_window=4, reorder_timeout=1e9)
    assert feed(v, [1, 3, 4, 5, 6]) == []
    assert feed(v, [7, 8]) == [Anomaly("gap", "t", 2, 1)]


def test_reorder_is_not_a_gap() -> None:
    clock = Clock()
    v = SequenceValidator(clock=clock)
    assert feed(v, [1, 2, 4]) == []
    assert feed(v, [3]) == [Anomaly("reorder", "t", 3)]
    clock.now += 3600
    assert v.expire() == []  # nothing left to become a gap


def test_duplicate() -> None:
    v = SequenceValidator()
    assert feed(v, [1, 2, 3, 3]) == [Anomaly("duplicate", "t", 3)]
    assert feed(v, [1]) == [Anomaly("duplicate", "t", 1)]


def test_number_older_than_the_start_is_a_reorder() -> None:
    v = SequenceValidator()
    assert feed(v, [10, 11, 9]) == [Anomaly("reorder", "t", 9)]


def test_consecutive_missing_numbers_form_one_gap() -> None:
    clock = Clock()
    v = SequenceValidator(clock=clock)
    feed(v, [1, 6, 7, 9])
    clock.now += 10
    assert sorted(v.expire(), key=lambda a: a.sequence) == [
        Anomaly("gap", "t", 2, 4), Anomaly("gap", "t", 8, 1)]


def test_threads_are_independent() -> None:
    v = SequenceValidator()
    assert feed(v, [1, 2], "a") == [] and feed(v, [1, 2], "b") == []
    assert feed(v, [2], "a") == [Anomaly("duplicate", "a", 2)]


def test_huge_jump_keeps_memory_bounded() -> None:
    v = SequenceValidator(max_pending=10, reorder_window=1_000_000_000)
    out = feed(v, [1, 1_000_000])
    assert out == [Anomaly("gap", "t", 2, 1_000_000 - 2 - 10)]
    assert v.pending() == 10


def test_thread_count_is_bounded_least_recently_seen_first() -> None:
    v = SequenceValidator(max_threads=2)
    feed(v, [1, 3], "old")  # 2 pending
    feed(v, [1], "mid")
    out = feed(v, [1], "new")  # evicts "old": its pending number is reported lost
    assert out == [Anomaly("gap", "old", 2, 1)] and len(v) == 2
    assert feed(v, [5], "old") == []  # a forgotten thread starts afresh


def test_bad_bounds_rejected() -> None:
    with pytest.raises(ValueError):
        SequenceValidator(max_threads=0)


@settings(max_examples=300, deadline=None)
@given(
    n=st.integers(1, 60),
    data=st.data(),
)
def test_every_number_is_accounted_for_exactly_once(n: int, data: st.DataObject) -> None:
    """Any mix of loss, duplication and local reordering: after settling, each
    number that never arrived is in exactly one gap, every late first arrival is a
    reorder, and every repeat is a duplicate."""
    sent = list(range(1, n + 1))
    lost = data.draw(st.sets(st.sampled_from(sent[1:]), max_size=max(0, n - 2))) if n > 1 else set()
    stream = [s for s in sent if s not in lost]
    dups = data.draw(st.lists(st.sampled_from(stream), max_size=5))
    for d in dups:
        stream.insert(data.draw(st.integers(stream.index(d) + 1, len(stream))), d)
    # local reordering: swap a few adjacent pairs, keeping the first number first
    for _ in range(data.draw(st.integers(0, 5))):
        if len(stream) > 2:
            i = data.draw(st.integers(1, len(stream) - 2))
            stream[i], stream[i + 1] = stream[i + 1], stream[i]

    clock = Clock()
    v = SequenceValidator(clock=clock, reorder_window=10_000)
    anomalies = feed(v, stream)
    clock.now += 1e6
    anomalies += v.expire()
    counts = Counter(a.kind for a in anomalies)

    first = stream[0]
    seen: set[int] = set()
    highest = 0
    expected_reorders = expected_dups = 0
    for s in stream:
        if s in seen:
            expected_dups += 1
        elif s < highest:
            expected_reorders += 1
        seen.add(s)
        highest = max(highest, s)
    never_arrived = {s for s in range(first, highest + 1)} - seen
    assert sum(a.missing for a in anomalies if a.kind == "gap") == len(never_arrived)
    assert counts["reorder"] == expected_reorders
    assert counts["duplicate"] == expected_dups
    assert v.pending() == 0


def test_a_revoked_partitions_threads_are_forgotten_not_counted() -> None:
    """A partition that moves to another replica and back: the jump in its threads'
    sequences while another replica owned it is no gap."""
    v = SequenceValidator(reorder_window=4)
    for seq in (1, 2, 3):
        assert v.check("on-p0", seq, partition=0) == []
        assert v.check("on-p1", seq, partition=1) == []
    assert v.check("on-p0", 5, partition=0) == []  # 4 pending
    assert v.forget_partitions([0]) == 1 and len(v) == 1 and v.pending() == 0
    assert v.check("on-p0", 40, partition=0) == []  # back here: a new start
    assert v.check("on-p1", 4, partition=1) == []   # the other partition kept its state
    assert v.check("on-p1", 6, partition=1) == [] and v.pending() == 1
