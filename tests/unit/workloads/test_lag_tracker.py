"""Unit tests of the assignment-aware consumer-lag bookkeeping."""

from __future__ import annotations

from dashstream_workloads.common.lag import LagTracker, PartitionLag


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_lag_is_high_watermark_minus_position() -> None:
    t = LagTracker(clock=Clock())
    t.assign([0, 1])
    t.processed(0, 9)  # next to read: 10
    t.set_high_watermark(0, 25)
    t.set_high_watermark(1, 7)
    snap = t.snapshot()
    assert snap.partitions[0].lag == 15
    assert snap.partitions[1].lag is None  # position unknown: no guess
    assert snap.total == 15


def test_lag_never_negative() -> None:
    t = LagTracker(clock=Clock())
    t.assign([0])
    t.set_high_watermark(0, 5)
    t.processed(0, 9)  # the watermark fetched earlier is older than our position
    assert t.snapshot().partitions[0].lag == 0


def test_revoked_partitions_drop_out_once() -> None:
    t = LagTracker(clock=Clock())
    t.assign([0, 1, 2])
    t.revoke([1, 2])
    snap = t.snapshot()
    assert list(snap.partitions) == [0] and snap.removed == (1, 2)
    assert t.snapshot().removed == ()
    t.processed(1, 50)  # a late record of a revoked partition changes nothing
    t.set_high_watermark(1, 60)
    assert list(t.snapshot().partitions) == [0]


def test_reassigned_partition_is_not_reported_removed() -> None:
    t = LagTracker(clock=Clock())
    t.assign([3])
    t.revoke([3])
    t.assign([3])
    assert t.snapshot().removed == ()


def test_offset_age_resets_when_the_position_advances() -> None:
    clock = Clock()
    t = LagTracker(clock=clock)
    t.assign([0])
    clock.now += 30
    assert t.snapshot().partitions[0] == PartitionLag(None, 30.0)
    t.processed(0, 1)
    clock.now += 5
    t.processed(0, 1)  # the same offset again is not progress
    assert t.snapshot().partitions[0].offset_age_seconds == 5.0


def test_committed_offset_until_something_is_processed() -> None:
    t = LagTracker(clock=Clock())
    t.assign([0, 1, 2])
    assert t.unknown_positions() == [0, 1, 2]
    t.set_committed(0, 40)
    t.set_committed(1, -1001)  # OFFSET_INVALID: the group never committed here
    for p in (0, 1, 2):
        t.set_high_watermark(p, 100, low=30)
    snap = t.snapshot()
    assert snap.partitions[0].lag == 60
    assert snap.partitions[1].lag == 70  # a new group starts at the earliest retained offset
    assert snap.partitions[2].lag is None
    assert t.unknown_positions() == [2]


def test_new_group_reading_from_latest_has_no_lag() -> None:
    t = LagTracker(from_earliest=False, clock=Clock())
    t.assign([0])
    t.set_committed(0, -1001)
    t.set_high_watermark(0, 100, low=0)
    assert t.snapshot().partitions[0].lag == 0


def test_a_partition_read_from_its_beginning_lags_by_all_it_holds() -> None:
    """The websocket-server's broadcast reader reads a partition added later from its
    beginning even with auto.offset.reset latest: its lag is everything retained."""
    t = LagTracker(from_earliest=False)
    t.assign([0, 1])
    t.set_committed(0, -2)  # OFFSET_BEGINNING
    t.set_committed(1, -1)  # OFFSET_END: nothing ahead
    for p in (0, 1):
        t.set_high_watermark(p, high=50, low=10)
    snap = t.snapshot()
    assert snap.partitions[0].lag == 40 and snap.partitions[1].lag == 0
