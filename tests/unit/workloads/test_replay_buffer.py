"""Unit tests of the in-memory replay tier, the resume cursor and the per-client queue."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from dashstream_workloads.websocket_server.hub import Client, batch_frame
from dashstream_workloads.websocket_server.metrics import WsMetrics
from dashstream_workloads.websocket_server.replay import MemoryReplay, Outgoing, parse_cursor


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def out(p: int, o: int) -> Outgoing:
    return Outgoing(p, o, f'{{"p":{p},"o":{o}}}')


def offsets(items: list[Outgoing]) -> list[tuple[int, int]]:
    return [(i.partition, i.offset) for i in items]


@pytest.mark.parametrize(("text", "cursor"), [
    (None, {}), ("", {}), ("0:41", {0: 41}), ("0:41, 2:-1", {0: 41, 2: -1}),
])
def test_parse_cursor(text: str | None, cursor: dict[int, int]) -> None:
    assert parse_cursor(text) == cursor


@pytest.mark.parametrize("text", ["0", "a:1", "0:x", "-1:3", "0:-2", "0:1:2"])
def test_parse_cursor_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_cursor(text)


def test_parse_cursor_is_bounded() -> None:
    with pytest.raises(ValueError, match="more than"):
        parse_cursor(",".join(f"{p}:1" for p in range(5)), max_partitions=4)


def test_memory_covers_what_it_still_holds() -> None:
    m = MemoryReplay(max_messages=5, max_age_seconds=60, clock=Clock())
    for o in range(10, 20):
        m.append(out(0, o))  # 10..14 evicted, 15..19 held
    frames, uncovered = m.since({0: 16})
    assert offsets(frames) == [(0, 17), (0, 18), (0, 19)] and uncovered == set()
    assert m.since({0: 14})[1] == set()  # wants 15.. : all held
    assert m.since({0: 13})[1] == {0}  # wants 14: evicted
    assert m.since({0: 19}) == ([], set())  # up to date
    assert m.since({3: 5})[1] == {3}  # a partition this server never saw


def test_records_that_never_became_frames_do_not_break_coverage() -> None:
    m = MemoryReplay(max_messages=10, max_age_seconds=60, clock=Clock())
    m.append(out(0, 1))
    m.note(0, 2)  # a DLQ'd record: processed, not framed
    m.append(out(0, 3))
    assert m.since({0: 1}) == ([out(0, 3)], set())
    assert m.since({0: 3}) == ([], set())


def test_server_started_after_the_cursor_cannot_cover_it() -> None:
    m = MemoryReplay(max_messages=10, max_age_seconds=60, clock=Clock())
    for o in (50, 51):
        m.append(out(0, o))
    assert m.since({0: 49})[1] == set()
    assert m.since({0: 40})[1] == {0}  # 41..49 happened before this server


def test_age_eviction() -> None:
    clock = Clock()
    m = MemoryReplay(max_messages=100, max_age_seconds=300, clock=clock)
    m.append(out(1, 0))
    clock.now = 200
    m.append(out(1, 1))
    clock.now = 301
    m.trim()
    assert len(m) == 1
    assert m.since({1: -1})[1] == {1}  # offset 0 aged out
    assert offsets(m.since({1: 0})[0]) == [(1, 1)]


def test_partitions_absent_from_the_cursor_get_what_memory_has() -> None:
    m = MemoryReplay(max_messages=10, max_age_seconds=60, clock=Clock())
    for item in (out(0, 1), out(1, 7), out(0, 2)):
        m.append(item)
    assert offsets(m.since({0: 1})[0]) == [(1, 7), (0, 2)]


def test_zero_size_buffer_holds_nothing_and_covers_nothing_old() -> None:
    m = MemoryReplay(max_messages=0, max_age_seconds=60, clock=Clock())
    m.append(out(0, 1))
    m.append(out(0, 2))
    assert len(m) == 0 and m.since({0: 0})[1] == {0} and m.since({0: 2})[1] == set()


class _Ws:
    closed = False


def test_client_queue_drops_oldest_and_counts() -> None:
    metrics = WsMetrics()
    client = Client(_Ws(), queue_size=3, metrics=metrics)  # type: ignore[arg-type]

    def value(name: str, **labels: str) -> float:
        v = metrics.registry.get_sample_value(name, labels)
        return 0.0 if v is None else v

    client.offer([out(0, o) for o in range(5)])
    assert [json.loads(f)["o"] for f in client._take()] == [2, 3, 4]
    assert value("websocket_dropped_messages_total", reason="lagged_receiver") == 2
    assert value("websocket_client_lag_events_total", severity="warning") == 1
    assert value("websocket_client_lag_messages_total", severity="warning") == 2
    client.offer([out(0, o) for o in range(5, 10)])  # the same episode crosses a queue's worth
    assert value("websocket_client_lag_events_total", severity="warning") == 1
    assert value("websocket_client_lag_events_total", severity="critical") == 1
    assert value("websocket_client_lag_messages_total", severity="critical") == 2


def test_client_floor_skips_what_the_replay_sent() -> None:
    client = Client(_Ws(), queue_size=10, metrics=WsMetrics())  # type: ignore[arg-type]
    client.floor = {0: 5}
    control = Outgoing(-1, -1, '{"type":"anomaly"}')
    client.offer([out(0, 4), out(0, 5), out(1, 1), control, out(0, 6)])
    assert [f for f in client._take()] == [out(1, 1).frame, control.frame, out(0, 6).frame]


def test_batch_frame_is_valid_json() -> None:
    frames = [json.dumps({"type": "event", "n": i}) for i in range(3)]
    parsed: dict[str, Any] = json.loads(batch_frame(frames))
    assert parsed == {"type": "batch", "events": [json.loads(f) for f in frames]}


def test_writer_sends_replay_then_live_in_batches() -> None:
    sent: list[str] = []

    class Ws:
        closed = False

        async def send_str(self, text: str) -> None:
            sent.append(text)
            if len(sent) == 3:
                self.closed = True

    async def scenario() -> None:
        client = Client(Ws(), queue_size=10, metrics=WsMetrics())  # type: ignore[arg-type]
        client.offer([out(0, 2), out(0, 3)])  # queued while the replay was read
        writer = asyncio.create_task(client.run_writer([out(0, 1), out(0, 2)]))
        await asyncio.sleep(0)
        client.offer([out(0, 4)])
        await asyncio.wait_for(writer, 5)

    asyncio.run(scenario())
    events = [[e["o"] for e in json.loads(s)["events"]] if "batch" in s else [json.loads(s)["o"]]
              for s in sent]
    assert events == [[1, 2], [3], [4]]  # replay, then live without the duplicate 2
