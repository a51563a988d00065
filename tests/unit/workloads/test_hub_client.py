"""A client's send queue: bounded in length and, with a max delay, in age."""

from __future__ import annotations

from typing import Any, cast

from hypothesis import given
from hypothesis import strategies as st

from dashstream_workloads.websocket_server.hub import Client
from dashstream_workloads.websocket_server.metrics import WsMetrics
from dashstream_workloads.websocket_server.replay import Outgoing


def _client(queue_size: int = 10, max_delay: float = 1.0) -> Client:
    return Client(cast(Any, None), queue_size, WsMetrics(), max_delay)


def _items(start: int, n: int) -> list[Outgoing]:
    return [Outgoing(0, o, f"f{o}") for o in range(start, start + n)]


def _dropped(c: Client) -> float:
    return float(c._metrics.dropped_lagged._value.get())


def test_events_older_than_the_max_delay_are_shed_and_counted() -> None:
    c = _client()
    c.offer(_items(0, 3))
    c._stamps[0][0] -= 5  # these three waited 5 s
    c.offer(_items(3, 2))
    assert c.shed_stale() == 3
    assert c._missed == 3 and _dropped(c) == 3
    assert c._take() == ["f3", "f4"]


def test_no_max_delay_sheds_nothing() -> None:
    c = _client(max_delay=0.0)
    c.offer(_items(0, 3))
    c._stamps[0][0] -= 3600
    assert c.shed_stale() == 0 and c._take() == ["f0", "f1", "f2"]


@given(st.lists(st.integers(0, 8), max_size=30), st.integers(1, 12))
def test_stamps_always_account_for_the_queue(offers: list[int], size: int) -> None:
    """Overflow drops and sheds keep the stamps' counts equal to the queue's length."""
    c = _client(queue_size=size)
    offset = 0
    for i, n in enumerate(offers):
        c.offer(_items(offset, n))
        offset += n
        if i % 3 == 2 and c._stamps:
            c._stamps[0][0] -= 10  # the oldest offer waited 10 s
            c.shed_stale()
        assert sum(int(x[1]) for x in c._stamps) == len(c._queue) <= size
    assert _dropped(c) == offset - len(c._queue)


def test_a_slow_replay_neither_reports_a_loss_nor_sheds_live_events() -> None:
    """Events queued while the replay was read: those it carries are dropped unseen,
    the others start waiting when live streaming starts."""
    c = _client()
    c.floor = {0: 2}  # the replay carried offsets 0..2
    c.offer(_items(0, 5))  # 0..4 queued during a replay that took 5 s
    c._stamps[0][0] -= 5
    c._start_live()
    assert c.shed_stale() == 0 and c._missed == 0 and _dropped(c) == 0
    assert c._take() == ["f3", "f4"]
