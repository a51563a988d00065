"""How a per-topic Kafka admin failure is named (pure): the reason becomes a condition
reason users and Argo CD health checks match on, so each class of error keeps its own."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException

from dashstream_operator.kafka.admin import ACL_HINT, _error_of


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
