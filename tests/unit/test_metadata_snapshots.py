"""One whole-cluster topic listing per Kafka connection per resync pass."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

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
