"""Kafka admin I/O: describe, create, grow, configure and delete topics in batches.

One admin request per operation kind per pipeline (confluent-kafka sends one
protocol request per call and completes each topic's future separately), and every
call carries a timeout so an unreachable broker becomes ``KafkaUnavailable`` quickly.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewPartitions,
    NewTopic,
    ResourceType,
)

from dashstream_operator.kafka.logs import LIBRDKAFKA_LOG
from dashstream_operator.kafka.plan import ObservedTopic, TopicPlan
from dashstream_operator.kafka.snapshot import MetadataSnapshots
from dashstream_operator.observability import METRICS

__all__ = ["MAX_PARTITIONS_PER_REQUEST", "NOT_AUTHORIZED", "AdminPool", "KafkaAdmin",
           "KafkaUnavailable", "TopicError", "partition_batches"]

log = logging.getLogger(__name__)

INVALID_TOPIC_CONFIG = "InvalidTopicConfig"
KAFKA_ERROR = "KafkaError"
NOT_AUTHORIZED = "KafkaNotAuthorized"
_DENIED_CODES = {KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.CLUSTER_AUTHORIZATION_FAILED}
# What the operator's Kafka principal needs (docs/operator.md, "Kafka permissions").
ACL_HINT = ("the operator's Kafka principal needs Describe, DescribeConfigs, Create, Alter "
            "and AlterConfigs on the pipeline's topics (Delete too for "
            "topicDeletionPolicy Delete)")
_INVALID_CODES = {
    KafkaError.INVALID_CONFIG, KafkaError.INVALID_REQUEST, KafkaError.POLICY_VIOLATION,
    KafkaError.INVALID_PARTITIONS, KafkaError.INVALID_REPLICATION_FACTOR,
    KafkaError.TOPIC_EXCEPTION, KafkaError._INVALID_ARG,
}


# KRaft refuses a CreateTopics request of more than 10,000 partitions as a whole
# ("Excessively large number of partitions per request", KAFKA-17870), and oversized
# requests have made controllers fail over (KAFKA-14996): requests are split below it.
MAX_PARTITIONS_PER_REQUEST = 10_000
T = TypeVar("T")


def partition_batches(items: Sequence[tuple[T, int]],
                      limit: int = MAX_PARTITIONS_PER_REQUEST) -> list[list[T]]:
    """Consecutive batches whose partition counts sum to at most ``limit`` (an item over
    the limit on its own goes alone, for the broker to refuse by name)."""
    batches: list[list[T]] = []
    total = 0
    for item, partitions in items:
        if not batches or total + partitions > limit:
            batches.append([])
            total = 0
        batches[-1].append(item)
        total += partitions
    return batches


def _is_override(entry: ConfigEntry) -> bool:
    """Set on the topic itself; the client reports the source as the enum or its int."""
    source = getattr(entry.source, "value", entry.source)
    return bool(source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value)


def _config_ops(set_: Mapping[str, str], reset: Sequence[str]) -> list[ConfigEntry]:
    """One incremental alter per topic: declared values set, dropped keys deleted
    (deleting a topic override puts the broker's default back)."""
    ops = [ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET)
           for k, v in sorted(set_.items())]
    return ops + [ConfigEntry(k, None, incremental_operation=AlterConfigOpType.DELETE)
                  for k in reset]


def connection_key(conf: Mapping[str, str]) -> int:
    """One Kafka connection: cluster and credentials (a hash: no secret kept as a key)."""
    return hash(frozenset(conf.items()))


class KafkaUnavailable(Exception):
    """The broker could not be reached or did not answer in time."""


@dataclass(frozen=True)
class TopicError:
    topic: str
    reason: str  # InvalidTopicConfig | KafkaError
    message: str


def _error_of(exc: BaseException) -> tuple[str, str, bool]:
    """(reason, message, transient) of a per-topic admin failure."""
    err = exc.args[0] if isinstance(exc, KafkaException) and exc.args else None
    if isinstance(err, KafkaError):
        if err.code() in _DENIED_CODES:
            return NOT_AUTHORIZED, f"{err.str()}: {ACL_HINT}", False
        if err.code() in _INVALID_CODES:
            return INVALID_TOPIC_CONFIG, err.str(), False
        transient = err.retriable() or err.code() in (
            KafkaError._TRANSPORT, KafkaError._TIMED_OUT, KafkaError._ALL_BROKERS_DOWN)
        return KAFKA_ERROR, err.str(), transient
    return KAFKA_ERROR, str(exc), False




class KafkaAdmin:
    """Topic operations against one Kafka cluster (one AdminClient, reused)."""

    def __init__(self, conf: Mapping[str, str], timeout: float = 10.0,
                 down: dict[int, str] | None = None,
                 snapshots: MetadataSnapshots | None = None) -> None:
        self.timeout = timeout
        self._snapshots = snapshots if snapshots is not None else MetadataSnapshots()
        # Connections (cluster and credentials) whose metadata request failed in this
        # resync pass, shared by the pool's clients: the other pipelines using the same
        # connection then fail at once instead of each waiting the timeout. Keyed by the
        # whole configuration: one pipeline's wrong password must not stop another's.
        self._down = down if down is not None else {}
        self._key = connection_key(conf)
        # allow.auto.create.topics: librdkafka runs an admin client as a producer, whose
        # default is true, so asking for one topic by name (describe) would make a broker
        # with auto.create.topics.enable (Kafka's default) create it with its defaults.
        base = {"socket.timeout.ms": str(int(timeout * 1000)), "log_level": "3",
                "reconnect.backoff.max.ms": "2000", "allow.auto.create.topics": "false"}
        # error_cb: connection errors are reported through KafkaUnavailable and status;
        # librdkafka's own stderr lines would only repeat them (with the broker address).
        full: dict[str, Any] = {**base, **conf, "error_cb": lambda _e: None,
                                "logger": LIBRDKAFKA_LOG}
        self._client = AdminClient(full)

    def _check(self, futures: Mapping[Any, Any]) -> dict[str, BaseException | None]:
        out: dict[str, BaseException | None] = {}
        for key, fut in futures.items():
            name = key.name if isinstance(key, ConfigResource) else key
            try:
                fut.result(timeout=self.timeout * 3)
                out[name] = None
            except Exception as exc:
                out[name] = exc
        return out

    def drain_logs(self) -> None:
        """Hand librdkafka's queued log lines to LIBRDKAFKA_LOG: with a ``logger`` set they
        wait in the client's queue until polled (and would pile up in memory)."""
        self._client.poll(0)

    def describe(self, names: Iterable[str]) -> dict[str, ObservedTopic | TopicError | None]:
        down = self._down.get(self._key)
        if down is not None:
            raise KafkaUnavailable(down)
        try:
            with METRICS.kafka_in_flight.track_inprogress():
                return self._describe(names)
        finally:
            self.drain_logs()

    def _describe(self, names: Iterable[str]) -> dict[str, ObservedTopic | TopicError | None]:
        """Each topic as the broker describes it; None when absent; a TopicError when the
        broker refuses to say (then creating it must not even be tried: a denied
        describe of an existing topic would otherwise read as "not found")."""
        names = list(names)
        try:
            md = self._snapshots.get(self._key, self._list_topics)
        except KafkaException as exc:
            self._down[self._key] = _error_of(exc)[1]  # the connection itself failed
            raise KafkaUnavailable(self._down[self._key]) from exc
        observed: dict[str, ObservedTopic | TopicError | None] = {n: None for n in names}
        for n in names:
            err = md.topics[n].error if n in md.topics else self._absent_or_denied(n)
            if err is not None and err.code() in _DENIED_CODES:
                observed[n] = TopicError(n, NOT_AUTHORIZED, f"describe: {err.str()}: {ACL_HINT}")
        existing = [n for n in names if n in md.topics and md.topics[n].error is None]
        if not existing:
            return observed
        resources = [ConfigResource(ResourceType.TOPIC, n) for n in existing]
        configs = self._client.describe_configs(resources, request_timeout=self.timeout)
        for res, fut in configs.items():
            try:
                entries = fut.result(timeout=self.timeout * 3)
            except KafkaException as exc:
                reason, msg, transient = _error_of(exc)
                if transient:
                    raise KafkaUnavailable(msg) from exc
                if reason == NOT_AUTHORIZED:
                    observed[res.name] = TopicError(res.name, reason, f"describe configs: {msg}")
                continue  # else deleted between the two calls: reported as missing
            parts = md.topics[res.name].partitions
            rf = len(parts[0].replicas) if parts else 0
            observed[res.name] = ObservedTopic(
                res.name, len(parts), rf, {k: e.value for k, e in entries.items()},
                frozenset(k for k, e in entries.items() if _is_override(e)))
        return observed

    def _list_topics(self) -> Any:
        METRICS.kafka_metadata_requests.inc()
        return self._client.list_topics(timeout=self.timeout)

    def _absent_or_denied(self, name: str) -> KafkaError | None:
        """A listing of all topics leaves out those the principal may not describe, so a
        topic missing from it is asked for by name: the broker then says which. (Only
        missing topics cost this request; in a steady state there are none.)"""
        try:
            md = self._client.list_topics(topic=name, timeout=self.timeout)
        except KafkaException as exc:
            raise KafkaUnavailable(_error_of(exc)[1]) from exc
        topic = md.topics.get(name)
        return topic.error if topic is not None else None

    def apply(self, plan: TopicPlan) -> list[TopicError]:
        """Execute a plan; per-topic failures are returned, an unreachable broker raises."""
        try:
            with METRICS.kafka_in_flight.track_inprogress():
                return self._apply(plan)
        finally:
            if not plan.empty:
                self._snapshots.invalidate(self._key)
            self.drain_logs()

    def _apply(self, plan: TopicPlan) -> list[TopicError]:
        errors: list[TopicError] = []
        results: dict[str, BaseException | None] = {}
        for batch in partition_batches([(t, t.partitions) for t in plan.create]):
            results |= self._check(self._client.create_topics(
                [NewTopic(t.name, num_partitions=t.partitions,
                          replication_factor=t.replication_factor or -1, config=dict(t.config))
                 for t in batch],
                operation_timeout=self.timeout, request_timeout=self.timeout))
        for grow in partition_batches([((n, p), p) for n, p in plan.add_partitions.items()]):
            results |= self._check(self._client.create_partitions(
                [NewPartitions(n, p) for n, p in grow],
                operation_timeout=self.timeout, request_timeout=self.timeout))
        altered = sorted({*plan.alter_configs, *plan.reset_configs})
        if altered:
            results |= self._check(self._client.incremental_alter_configs(
                [ConfigResource(ResourceType.TOPIC, n, incremental_configs=_config_ops(
                    plan.alter_configs.get(n, {}), plan.reset_configs.get(n, [])))
                 for n in altered], request_timeout=self.timeout))
        for name, exc in results.items():
            if exc is None:
                continue
            reason, msg, transient = _error_of(exc)
            err = exc.args[0] if exc.args else None
            if isinstance(err, KafkaError) and err.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                continue  # created concurrently (e.g. by our previous, killed run): fine
            if transient:
                raise KafkaUnavailable(msg) from exc
            errors.append(TopicError(name, reason, msg))
        return errors

    def delete(self, names: Iterable[str]) -> list[TopicError]:
        names = list(names)
        try:
            with METRICS.kafka_in_flight.track_inprogress():
                return self._delete(names)
        finally:
            if names:
                self._snapshots.invalidate(self._key)
            self.drain_logs()

    def _delete(self, names: list[str]) -> list[TopicError]:
        if not names:
            return []
        try:
            futures = self._client.delete_topics(names, operation_timeout=self.timeout,
                                                 request_timeout=self.timeout)
        except KafkaException as exc:
            raise KafkaUnavailable(_error_of(exc)[1]) from exc
        errors: list[TopicError] = []
        for name, failure in self._check(futures).items():
            if failure is None:
                continue
            err = failure.args[0] if failure.args else None
            if isinstance(err, KafkaError) and err.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                continue  # already gone: the goal is reached
            reason, msg, transient = _error_of(failure)
            if transient:
                raise KafkaUnavailable(msg) from failure
            errors.append(TopicError(name, reason, msg))
        return errors


class AdminPool:
    """One KafkaAdmin per distinct client configuration, shared across reconciles.

    Keys are a hash of the configuration, so credentials are never kept as dict keys
    in logs or reprs.
    """

    def __init__(self, timeout: float = 10.0) -> None:
        self._timeout = timeout
        self._admins: dict[int, KafkaAdmin] = {}
        self._down: dict[int, str] = {}  # connection -> why unreachable, this pass
        self._snapshots = MetadataSnapshots()
        self._lock = threading.Lock()

    def begin_pass(self) -> None:
        """A new resync pass: every cluster is asked again, once (see snapshot.py)."""
        self._down.clear()
        self._snapshots.begin()

    def end_pass(self) -> None:
        self._snapshots.end()

    def get(self, conf: Mapping[str, str]) -> KafkaAdmin:
        key = connection_key(conf)
        with self._lock:
            if key not in self._admins:
                self._admins[key] = KafkaAdmin(conf, self._timeout, self._down,
                                               self._snapshots)
            return self._admins[key]
