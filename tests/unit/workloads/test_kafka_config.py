"""Unit tests of the Kafka client configuration built from settings, and error classes."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import KafkaError

from dashstream_workloads import settings
from dashstream_workloads.common.kafka import (
    KafkaHealth,
    classify_kafka_error,
    client_config,
    consumer_config,
    producer_config,
)
from dashstream_workloads.contract import PROMETHEUS_EXPORTER, QUALITY_MONITOR, WEBSOCKET_SERVER


def load(component: str, **env: str) -> dict[str, Any]:
    return settings.load(component, env)


def test_plaintext_defaults() -> None:
    conf = client_config(load(WEBSOCKET_SERVER, KAFKA_BROKERS="b:9092"), "cid")
    assert conf.pop("logger").name == "librdkafka"  # its log lines go through logging
    assert conf == {"bootstrap.servers": "b:9092", "security.protocol": "PLAINTEXT",
                    "client.id": "cid"}


def test_sasl_ssl_is_wired() -> None:
    env = dict(KAFKA_SECURITY_PROTOCOL="SASL_SSL", KAFKA_SASL_MECHANISM="SCRAM-SHA-512",
               KAFKA_SASL_USERNAME="u", KAFKA_SASL_PASSWORD="p",
               KAFKA_SSL_CA_LOCATION="/ca.pem")
    conf = client_config(load(PROMETHEUS_EXPORTER, **env), "cid")
    assert conf["security.protocol"] == "SASL_SSL"
    assert (conf["sasl.mechanism"], conf["sasl.username"], conf["sasl.password"]) == (
        "SCRAM-SHA-512", "u", "p")
    assert conf["ssl.ca.location"] == "/ca.pem"


def test_mutual_tls_files() -> None:
    env = dict(KAFKA_SECURITY_PROTOCOL="SSL", KAFKA_SSL_CERTIFICATE_LOCATION="/c.pem",
               KAFKA_SSL_KEY_LOCATION="/k.pem")
    conf = client_config(load(QUALITY_MONITOR, **env), "cid")
    assert conf["ssl.certificate.location"] == "/c.pem" and conf["ssl.key.location"] == "/k.pem"
    assert "sasl.mechanism" not in conf


def test_sasl_without_credentials_is_an_error_naming_variables_only() -> None:
    with pytest.raises(ValueError) as err:
        client_config(load(WEBSOCKET_SERVER, KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT",
                           KAFKA_SASL_MECHANISM="PLAIN", KAFKA_SASL_PASSWORD="hunter2"), "c")
    assert "KAFKA_SASL_USERNAME" in str(err.value) and "hunter2" not in str(err.value)


def test_tls_files_with_plaintext_are_refused() -> None:
    with pytest.raises(ValueError, match="KAFKA_SSL_CA_LOCATION"):
        client_config(load(WEBSOCKET_SERVER, KAFKA_SSL_CA_LOCATION="/ca.pem"), "c")


def test_consumer_stores_offsets_itself() -> None:
    conf = consumer_config(load(PROMETHEUS_EXPORTER), "c")
    assert conf["enable.auto.offset.store"] is False and conf["enable.auto.commit"] is True
    assert conf["group.id"] == "dashstream-prometheus-exporter"
    assert conf["auto.offset.reset"] == "earliest"


def test_producer_is_idempotent() -> None:
    conf = producer_config(load(QUALITY_MONITOR), "c")
    assert conf["enable.idempotence"] is True and conf["acks"] == "all"


@pytest.mark.parametrize(("code", "label"), [
    (KafkaError._RESOLVE, "dns_failure"),
    (KafkaError._TIMED_OUT, "connection_timeout"),
    (KafkaError._ALL_BROKERS_DOWN, "broker_down"),
    (KafkaError._TRANSPORT, "broker_down"),
    (KafkaError._BAD_MSG, "decode_error"),
    (KafkaError.TOPIC_AUTHORIZATION_FAILED, "unknown"),
])
def test_classify_kafka_error(code: int, label: str) -> None:
    assert classify_kafka_error(KafkaError(code)) == label


def test_health_flips_only_on_total_outage() -> None:
    h = KafkaHealth()
    assert h.as_dict()["connected"] is None and not h.connected
    h.mark_ok()
    h.note_error(KafkaError(KafkaError._TRANSPORT, "one broker went away"))
    assert h.connected and h.as_dict()["last_error"] == "one broker went away"
    h.note_error(KafkaError(KafkaError._ALL_BROKERS_DOWN, "all down"))
    assert not h.connected
