"""One whole-cluster topic listing per Kafka connection per resync pass."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from dashstream_operator.kafka.snapshot import MetadataSnapshots


class Fetcher:
    def __init__(self) -> None:
        self.calls = 0
        self.lock = threading.Lock()

    def __call__(self) -> int:
        with self.lock:
            self.calls += 1
            return self.calls


def test_outside_a_pass_every_describe_fetches() -> None:
    snaps, fetch = MetadataSnapshots(), Fetcher()
    assert [snaps.get(1, fetch) for _ in range(3)] == [1, 2, 3]


def test_a_pass_fetches_once_per_connection_even_concurrently() -> None:
    snaps, fetch = MetadataSnapshots(), Fetcher()
    snaps.begin()
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda _: snaps.get(7, fetch), range(64)))
    assert fetch.calls == 1 and set(got) == {1}
    assert snaps.get(8, fetch) == 2  # another connection has its own snapshot
    snaps.end()
    assert snaps.get(7, fetch) == 3  # after the pass: fresh again


def test_a_write_drops_the_snapshot_and_a_new_pass_starts_clean() -> None:
    snaps, fetch = MetadataSnapshots(), Fetcher()
    snaps.begin()
    assert snaps.get(1, fetch) == 1
    snaps.invalidate(1)
    assert snaps.get(1, fetch) == 2 and snaps.get(1, fetch) == 2
    snaps.begin()
    assert snaps.get(1, fetch) == 3


def test_a_fetch_overtaken_by_a_write_is_not_kept() -> None:
    snaps = MetadataSnapshots()
    snaps.begin()

    def fetch_during_a_write() -> str:
        snaps.invalidate(1)  # another reconcile created a topic while this fetch ran
        return "before the write"

    assert snaps.get(1, fetch_during_a_write) == "before the write"
    assert snaps.get(1, lambda: "after") == "after"


def test_a_failed_listing_fails_the_rest_of_the_pass_at_once() -> None:
    snaps, calls = MetadataSnapshots(), []

    def down() -> int:
        calls.append(1)
        raise ConnectionError("broker unreachable")

    snaps.begin()
    for _ in range(5):
        with pytest.raises(ConnectionError):
            snaps.get(1, down)
    assert len(calls) == 1  # the others did not wait for a timeout of their own
    snaps.begin()
    assert snaps.get(1, lambda: 7) == 7  # the next pass asks again


def test_the_lock_is_free_while_a_fetch_outside_a_pass_hangs() -> None:
    snaps = MetadataSnapshots()
    started, release = threading.Event(), threading.Event()

    def hanging() -> int:
        started.set()
        release.wait(10)
        return 1

    worker = threading.Thread(target=snaps.get, args=(1, hanging))
    worker.start()
    assert started.wait(5)
    snaps.begin()  # the event loop's call: must not wait for the hanging broker
    snaps.end()
    release.set()
    worker.join(5)
