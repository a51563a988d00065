"""The at-least-once consume loop both consuming servers run in a thread.

Records are handed to the server in batches (``consume(500)``: the batch call
is what keeps a Python consumer near librdkafka's speed) without waiting for a
batch to fill. Offsets are stored only after the batch was processed, committed
in the background from the store, and committed once more before ``close()``
in a ``finally``. A crash therefore re-delivers the last few seconds instead of
skipping them.

``broadcast=True`` reads every partition by manual assignment instead (no group,
no commits; common/broadcast.py says where each partition starts) and looks for
partitions added to the topic every ``refresh_seconds``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Final

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from dashstream_workloads.common.broadcast import plan_new_partitions
from dashstream_workloads.common.kafka import KafkaHealth
from dashstream_workloads.common.lag import LagTracker

__all__ = ["BATCH_SIZE", "ConsumerLoop"]

log = logging.getLogger(__name__)

BATCH_SIZE: Final = 500
_POLL_TIMEOUT: Final = 0.2
_COMMITTED_RETRY_SECONDS: Final = 2.0
_METADATA_TIMEOUT: Final = 5.0


class ConsumerLoop:
    """Subscribe, consume in batches, hand them over, store offsets; close on stop.

    Parameters
    ----------
    conf
        Consumer settings (:func:`~dashstream_workloads.common.kafka.consumer_config`).
    topic
        The events topic.
    handle_batch
        Processes a batch of error-free records; offsets are stored after it
        returns. It must not raise for bad records (count them instead).
    on_kafka_error
        Client-level errors (``error_cb``) and per-record fetch errors.
    on_store_error
        An offset could not be stored (the record may be processed again).
    on_tick
        Called after every poll, busy or idle: timers (session and sequence
        sweeps) run here, in the consuming thread, without locks.
    on_revoke
        Partitions the group took away or lost (in the consuming thread).
    before_close
        Runs after the last batch and before the final commit (flush a
        producer whose sends belong to the processed records).
    stop
        Set it to stop the loop; ``failed`` tells whether it died instead.
    broadcast
        Read every partition (manual assignment, nothing committed) rather than
        the share a consumer group gives.
    refresh_seconds
        With ``broadcast``: how often to look for partitions added to the topic.
    """

    def __init__(
        self,
        conf: dict[str, Any],
        topic: str,
        tracker: LagTracker,
        health: KafkaHealth,
        handle_batch: Callable[[Sequence[Message]], None],
        *,
        on_kafka_error: Callable[[KafkaError], None] = lambda _: None,
        on_store_error: Callable[[Exception], None] = lambda _: None,
        on_tick: Callable[[], None] = lambda: None,
        on_revoke: Callable[[list[int]], None] = lambda _: None,
        before_close: Callable[[], object] = lambda: None,
        stop: threading.Event | None = None,
        batch_size: int = BATCH_SIZE,
        broadcast: bool = False,
        refresh_seconds: float = 5.0,
    ) -> None:
        self.topic = topic
        self.tracker = tracker
        self.stop = stop or threading.Event()
        self.failed = False
        self._before_close = before_close
        self._health = health
        self._handle = handle_batch
        self._on_kafka_error = on_kafka_error
        self._on_store_error = on_store_error
        self._on_tick = on_tick
        self._on_revoke_cb = on_revoke
        self._batch_size = batch_size
        self._conf = {**conf, "error_cb": self._error_cb}
        self._next_committed_check = 0.0
        self.broadcast = broadcast
        if broadcast:
            # The group id only names whose committed offsets to start from.
            self._conf["enable.auto.commit"] = False
        self._from_earliest = conf.get("auto.offset.reset") == "earliest"
        self._refresh_seconds = refresh_seconds
        self._next_refresh = 0.0
        self._assigned: set[int] = set()
        self.thread = threading.Thread(
            target=self.run, name=f"{'broadcast' if broadcast else 'consume'}-{topic}",
            daemon=True)

    def _error_cb(self, error: KafkaError) -> None:
        self._health.note_error(error)
        self._on_kafka_error(error)
        # librdkafka logs each failed connection itself (through the "librdkafka"
        # logger); repeat only what changes the picture: all brokers down.
        level = logging.WARNING if error.code() == KafkaError._ALL_BROKERS_DOWN else logging.DEBUG
        log.log(level, "kafka client error", extra={"error": error.str(), "code": error.code()})

    def _on_assign(self, _: Consumer, parts: list[TopicPartition]) -> None:
        self.tracker.assign(tp.partition for tp in parts)
        log.info("partitions assigned", extra={"partitions": [tp.partition for tp in parts]})

    def _on_revoke(self, _: Consumer, parts: list[TopicPartition]) -> None:
        self.tracker.revoke(tp.partition for tp in parts)
        self._on_revoke_cb([tp.partition for tp in parts])
        log.info("partitions revoked", extra={"partitions": [tp.partition for tp in parts]})

    def start(self) -> None:
        self.thread.start()

    def run(self) -> None:
        consumer = Consumer(self._conf)
        if not self.broadcast:
            consumer.subscribe(
                [self.topic], on_assign=self._on_assign, on_revoke=self._on_revoke,
                on_lost=self._on_revoke,
            )
        try:
            while not self.stop.is_set():
                self._poll(consumer)
        except Exception:
            self.failed = True
            log.exception("consumer loop crashed")
            raise
        finally:
            self._close(consumer)

    def _poll(self, consumer: Consumer) -> None:
        # consume(n, t) waits until n records or t seconds, which would add up to t
        # of latency to a quiet stream: wait for the first record only, then take
        # whatever else is already fetched without waiting.
        first = consumer.poll(_POLL_TIMEOUT)
        records = [] if first is None else [first, *consumer.consume(self._batch_size - 1, 0)]
        good: list[Message] = []
        for record in records:
            error = record.error()
            if error is None:
                good.append(record)
            elif error.code() != KafkaError._PARTITION_EOF:
                self._on_kafka_error(error)
        if good:
            self._health.mark_ok()
            self._handle(good)
            self._store(consumer, good)
        if self.broadcast:
            self._follow_partitions(consumer)
        else:
            self._fill_committed(consumer)
        self._on_tick()

    def _follow_partitions(self, consumer: Consumer) -> None:
        """Broadcast: assign every partition the topic lists that is not read yet."""
        now = time.monotonic()
        if now < self._next_refresh:
            return
        self._next_refresh = now + self._refresh_seconds
        try:
            topic = consumer.list_topics(self.topic, timeout=_METADATA_TIMEOUT).topics.get(
                self.topic)
        except KafkaException as exc:
            log.debug("topic metadata unavailable", extra={"error": str(exc)})
            return
        if topic is None or topic.error is not None:
            return  # the lag monitor reports a missing topic
        initial = not self._assigned
        new = [p for p in topic.partitions if p not in self._assigned]
        committed: dict[int, int] = {}
        if initial and new:
            try:
                parts = consumer.committed([TopicPartition(self.topic, p) for p in new],
                                           timeout=_METADATA_TIMEOUT)
            except KafkaException as exc:
                log.debug("committed offsets unavailable", extra={"error": str(exc)})
                return  # tried again at the next refresh: never guess a start
            committed = {tp.partition: tp.offset for tp in parts if tp.error is None}
        plan = plan_new_partitions(self._assigned, topic.partitions, committed,
                                   initial=initial, from_earliest=self._from_earliest)
        if not plan:
            return
        consumer.incremental_assign([TopicPartition(self.topic, p, o) for p, o in plan])
        self._assigned.update(p for p, _ in plan)
        self.tracker.assign(p for p, _ in plan)
        for p, offset in plan:
            self.tracker.set_committed(p, offset)  # a logical offset: position unknown
        log.info("partitions assigned (broadcast)",
                 extra={"partitions": [p for p, _ in plan], "start_offsets": [o for _, o in plan]})

    def _store(self, consumer: Consumer, records: Sequence[Message]) -> None:
        # One offset per partition: the highest processed + 1 (Kafka's "next to read").
        highest: dict[int, int] = {}
        for record in records:
            p, o = record.partition(), record.offset()
            if p is not None and o is not None and o >= highest.get(p, -1):
                highest[p] = o
        for p, o in highest.items():
            self.tracker.processed(p, o)
        if self.broadcast:
            return  # nothing committed: no other replica resumes from this one
        try:
            consumer.store_offsets(
                offsets=[TopicPartition(self.topic, p, o + 1) for p, o in highest.items()]
            )
        except KafkaException as exc:
            # Typically a partition revoked mid-batch: its next owner re-reads it.
            self._on_store_error(exc)
            log.warning("offset store failed", extra={"error": str(exc)})

    def _fill_committed(self, consumer: Consumer) -> None:
        """Learn the committed offset of partitions nothing was read from yet,
        so their lag is known before the first record arrives."""
        unknown = self.tracker.unknown_positions()
        now = time.monotonic()
        if not unknown or now < self._next_committed_check:
            return
        self._next_committed_check = now + _COMMITTED_RETRY_SECONDS
        try:
            parts = consumer.committed(
                [TopicPartition(self.topic, p) for p in unknown], timeout=2.0
            )
        except KafkaException as exc:
            log.debug("committed offsets unavailable", extra={"error": str(exc)})
            return
        for tp in parts:
            if tp.error is None:
                self.tracker.set_committed(tp.partition, tp.offset)

    def _close(self, consumer: Consumer) -> None:
        try:
            self._before_close()
            if not self.broadcast:
                consumer.commit(asynchronous=False)
        except KafkaException as exc:
            # _NO_OFFSET: nothing stored since the last commit; anything else is logged.
            if exc.args[0].code() != KafkaError._NO_OFFSET:
                log.warning("final commit failed", extra={"error": str(exc)})
        finally:
            consumer.close()
            log.info("consumer closed")
