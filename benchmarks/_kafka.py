"""Kafka side of the workload benchmarks: a fresh topic, filling it, draining it raw."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from dashstream_workloads.quality_monitor.generator import EventGenerator
from dashstream_workloads.wire import encode

__all__ = ["bootstrap", "drain_rate", "fill", "produce_at_rate", "temporary_topic"]


def bootstrap() -> str:
    value = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not value:
        raise SystemExit("KAFKA_BOOTSTRAP_SERVERS is not set: run `make bench` (it starts the "
                         "local broker) or source .dev/env.sh")
    return value


@contextmanager
def temporary_topic(servers: str, partitions: int = 3) -> Iterator[str]:
    admin = AdminClient({"bootstrap.servers": servers})
    name = f"bench-{os.urandom(4).hex()}"
    admin.create_topics([NewTopic(name, partitions, 1)])[name].result(timeout=30)
    try:
        yield name
    finally:
        admin.delete_topics([name])[name].result(timeout=30)


def _producer(servers: str) -> Producer:
    return Producer({"bootstrap.servers": servers, "enable.idempotence": True,
                     "linger.ms": 5, "queue.buffering.max.messages": 1_000_000})


def fill(servers: str, topic: str, count: int) -> int:
    """Produce ``count`` generated quality events as fast as possible; returns bytes."""
    gen = EventGenerator(["gpt-4o", "claude-3-5-sonnet", "llama-3-70b"], 20, "bench", seed=1)
    producer = _producer(servers)
    size = 0
    for _ in range(count):
        msg = gen.event(gen.next_slot())
        frame = encode(msg)
        size += len(frame)
        while True:
            try:
                producer.produce(topic, frame, key=msg.header.thread_id)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    assert producer.flush(60) == 0
    return size


def produce_at_rate(servers: str, topic: str, rate: float, seconds: float) -> int:
    """Produce at a fixed rate (monotonic schedule); returns the number produced."""
    gen = EventGenerator(["gpt-4o", "claude-3-5-sonnet", "llama-3-70b"], 20, "bench", seed=2)
    producer = _producer(servers)
    # Connect, learn the leaders and get the idempotent producer id before the clock
    # starts: otherwise the first events carry the producer's start-up in their latency.
    producer.list_topics(topic, timeout=10)
    while producer.poll(0.1) or not _ready(producer, topic):
        pass
    start = time.monotonic()
    done = 0
    total = int(rate * seconds)
    while done < total:
        due = min(total, int((time.monotonic() - start) * rate) + 1)
        while done < due:
            msg = gen.event(gen.next_slot())
            producer.produce(topic, encode(msg), key=msg.header.thread_id)
            done += 1
        producer.poll(0)
        time.sleep(max(0.0, start + done / rate - time.monotonic()))
    assert producer.flush(60) == 0
    return done


def _ready(producer: Producer, topic: str) -> bool:
    """Whether every partition of ``topic`` has a known leader."""
    metadata = producer.list_topics(topic, timeout=10).topics[topic]
    return metadata.error is None and all(p.leader >= 0 for p in metadata.partitions.values())


def drain_rate(servers: str, topic: str, count: int,
               extra: dict[str, Any] | None = None) -> float:
    """Raw confluent-kafka: a fresh group draining ``count`` records with consume(500).

    Timed from the first record to the last, so the group join is not counted
    (the exporter is timed the same way)."""
    consumer = Consumer({"bootstrap.servers": servers,
                         "group.id": f"bench-raw-{topic}-{time.monotonic_ns()}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False,
                         **(extra or {})})
    consumer.subscribe([topic])
    seen = 0
    first = 0.0
    try:
        while seen < count:
            batch = consumer.consume(500, 1.0)
            if batch and not seen:
                first = time.perf_counter()
            # Touch every value, as any real consumer must.
            seen += sum(1 for m in batch if m.error() is None and m.value() is not None)
        return count / (time.perf_counter() - first)
    finally:
        consumer.close()
