"""Kafka admin helpers (pure): how a per-topic failure is named (the reason becomes a
condition reason users and Argo CD health checks match on, so each class of error keeps
its own), and how create requests are split below the broker's partition limit."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException

from dashstream_operator.kafka.admin import (
    ACL_HINT,
    MAX_PARTITIONS_PER_REQUEST,
    _error_of,
    partition_batches,
)


@pytest.mark.parametrize(("code", "reason", "transient"), [
    (KafkaError.TOPIC_AUTHORIZATION_FAILED, "KafkaNotAuthorized", False),
    (KafkaError.CLUSTER_AUTHORIZATION_FAILED, "KafkaNotAuthorized", False),
    (KafkaError.INVALID_CONFIG, "InvalidTopicConfig", False),
    (KafkaError.POLICY_VIOLATION, "InvalidTopicConfig", False),
    (KafkaError._TRANSPORT, "KafkaError", True),
    (KafkaError._TIMED_OUT, "KafkaError", True),
    (KafkaError.NOT_CONTROLLER, "KafkaError", False),
])
def test_error_reasons(code: int, reason: str, transient: bool) -> None:
    got_reason, message, got_transient = _error_of(KafkaException(KafkaError(code)))
    assert (got_reason, got_transient) == (reason, transient)
    assert (ACL_HINT in message) == (reason == "KafkaNotAuthorized")


def test_an_error_the_broker_marks_retriable_is_transient() -> None:
    err = KafkaError(KafkaError.NOT_CONTROLLER, retriable=True)
    assert _error_of(KafkaException(err))[2] is True


def test_a_non_kafka_exception_is_a_plain_error() -> None:
    assert _error_of(RuntimeError("boom")) == ("KafkaError", "boom", False)


@pytest.mark.parametrize(("sizes", "expected"), [
    ([], []),
    ([3, 1], [["t0", "t1"]]),
    ([6000, 4000, 1], [["t0", "t1"], ["t2"]]),
    ([12000, 5, 9995, 1], [["t0"], ["t1", "t2"], ["t3"]]),  # an oversized one goes alone
])
def test_create_requests_stay_under_the_partition_limit(sizes: list[int],
                                                        expected: list[list[str]]) -> None:
    batches = partition_batches([(f"t{i}", n) for i, n in enumerate(sizes)])
    assert batches == expected
    assert MAX_PARTITIONS_PER_REQUEST == 10_000
