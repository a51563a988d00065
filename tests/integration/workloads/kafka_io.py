"""The tests' own view of the topics: read everything back, write raw bytes.

Ground truth for "the exporter counted what was produced" is the topic
itself, read by an independent plain consumer, not the producer's metrics.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, cast

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from dashstream_workloads.contract import FAILURE_CATEGORIES, known_series, metrics_for
from dashstream_workloads.proto.dashstream_pb2 import DashStreamMessage
from dashstream_workloads.wire import DecodeError, decode
from integration.workloads.servers import parse_metrics

__all__ = [
    "Record",
    "assert_contract",
    "committed_total",
    "produce_raw",
    "read_all",
    "tally",
    "total_records",
]


@dataclass(frozen=True)
class Record:
    partition: int
    offset: int
    value: bytes
    headers: dict[str, str]
    message: DashStreamMessage | None  # None when undecodable


def _client(bootstrap: str, **extra: Any) -> Consumer:
    return Consumer({"bootstrap.servers": bootstrap, "group.id": "dashstream-tests-reader",
                     "enable.auto.commit": False, **extra})


def total_records(bootstrap: str, topic: str) -> int:
    """Records in the topic now (sum of high watermarks; nothing is ever deleted here)."""
    c = _client(bootstrap)
    try:
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        return sum(c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                   for p in parts)
    finally:
        c.close()


def committed_total(bootstrap: str, topic: str, group: str) -> int:
    """Sum of the group's committed offsets (what a restarted member resumes from)."""
    c = _client(bootstrap, **{"group.id": group})
    try:
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        committed = c.committed([TopicPartition(topic, p) for p in parts], timeout=10)
        return sum(max(0, tp.offset) for tp in committed)
    finally:
        c.close()


def read_all(bootstrap: str, topic: str, timeout: float = 30.0) -> list[Record]:
    """Every record currently in ``topic`` (up to the high watermarks at call time)."""
    c = _client(bootstrap)
    try:
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts}
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
        out: list[Record] = []
        deadline = time.monotonic() + timeout
        while len(out) < sum(ends.values()):
            if time.monotonic() > deadline:
                raise AssertionError(f"read {len(out)} of {sum(ends.values())} records")
            for m in c.consume(500, 1.0):
                if m.error() is not None:
                    continue
                value = m.value() or b""
                try:
                    msg: DashStreamMessage | None = decode(value)
                except DecodeError:
                    msg = None
                # A consumed message's headers are (key, bytes | None) pairs; HeadersType
                # also admits the dict and str values a producer may be given.
                pairs = cast(list[tuple[str, bytes | None]], m.headers() or [])
                headers = {k: (v or b"").decode(errors="replace") for k, v in pairs}
                out.append(Record(m.partition() or 0, m.offset() or 0, value, headers, msg))
        return out
    finally:
        c.close()


def tally(records: list[Record]) -> Counter[str]:
    """Counts the exporter must reproduce: queries, passed, failed per category, per model."""
    counts: Counter[str] = Counter()
    for r in records:
        if r.message is None or r.message.WhichOneof("payload") != "quality":
            continue
        q = r.message.quality
        counts["queries"] += 1
        counts[f"model:{q.model}"] += 1
        if q.passed:
            counts["passed"] += 1
        else:
            category = q.failure_category if q.failure_category in FAILURE_CATEGORIES else "Unknown"
            counts[f"failed:{category}"] += 1
    return counts


def produce_raw(bootstrap: str, topic: str, values: list[bytes], partition: int = 0) -> None:
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    errors: list[Any] = []
    for value in values:
        p.produce(topic, value=value, partition=partition,
                  on_delivery=lambda err, _: errors.append(err) if err else None)
    assert p.flush(30) == 0 and not errors, f"raw produce failed: {errors}"


def assert_contract(metrics_text: str, component: str) -> None:
    """The issue's scrape check: one family per name, nothing outside the contract,
    every contract metric present (lazy ones included, after exercise), label values
    within their declared sets."""
    families = parse_metrics(metrics_text)  # raises on a duplicate family
    specs = metrics_for(component)
    series = known_series(component)
    allowed_families = {s.client_name for s in specs.values()} | {
        name for name in series if name.endswith("_created")}
    unknown = sorted(set(families) - allowed_families)
    assert not unknown, f"{component} exports families outside the contract: {unknown}"
    seen: set[str] = set()
    for family in families.values():
        for sample in family.samples:
            spec = series.get(sample.name)
            assert spec is not None, f"{component}: series {sample.name} not in the contract"
            seen.add(spec.name)
            for label, value in sample.labels.items():
                allowed = spec.label_values.get(label)
                assert allowed is None or value in allowed, (
                    f"{sample.name}{{{label}={value!r}}} outside {allowed}")
    missing = sorted(set(specs) - seen)
    assert not missing, f"{component} did not export contract metrics: {missing}"
