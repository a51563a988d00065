"""Where the websocket-server's broadcast reader starts each partition."""

from __future__ import annotations

from dashstream_workloads.common.broadcast import (
    OFFSET_BEGINNING,
    OFFSET_END,
    plan_new_partitions,
)


def test_start_up_resumes_where_the_group_committed_else_by_the_reset_policy() -> None:
    plan = plan_new_partitions([], [0, 1, 2], {0: 41, 1: -1001}, initial=True,
                               from_earliest=False)
    assert plan == [(0, 41), (1, OFFSET_END), (2, OFFSET_END)]
    plan = plan_new_partitions([], [2, 0, 1], {}, initial=True, from_earliest=True)
    assert plan == [(0, OFFSET_BEGINNING), (1, OFFSET_BEGINNING), (2, OFFSET_BEGINNING)]


def test_a_partition_added_later_is_read_from_its_beginning_whatever_the_policy() -> None:
    for earliest in (False, True):
        plan = plan_new_partitions([0, 1, 2], [0, 1, 2, 3, 4], {3: 7}, initial=False,
                                   from_earliest=earliest)
        assert plan == [(3, OFFSET_BEGINNING), (4, OFFSET_BEGINNING)]


def test_nothing_new_plans_nothing() -> None:
    assert plan_new_partitions([0, 1], [1, 0], {}, initial=False, from_earliest=True) == []
    assert plan_new_partitions([], [], {}, initial=True, from_earliest=True) == []
