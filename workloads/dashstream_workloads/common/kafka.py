"""Kafka client configuration from settings, error classification and a
connection-health record.

The old stack supported TLS/SASL in code but no deployment wired it, so a
"secure" install could silently run without it; here every client of every
server is built by :func:`client_config` from the one settings table, so a
secure cluster needs nothing but the
``KAFKA_SECURITY_PROTOCOL``/``KAFKA_SASL_*``/``KAFKA_SSL_*`` variables.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from confluent_kafka import KafkaError

__all__ = [
    "KafkaHealth",
    "classify_kafka_error",
    "client_config",
    "consumer_config",
    "producer_config",
]

_LIBRDKAFKA_LOG: Final = logging.getLogger("librdkafka")
_TLS_PROTOCOLS: Final = frozenset({"SSL", "SASL_SSL"})
_SASL_PROTOCOLS: Final = frozenset({"SASL_PLAINTEXT", "SASL_SSL"})
_SSL_FILES: Final = {
    "KAFKA_SSL_CA_LOCATION": "ssl.ca.location",
    "KAFKA_SSL_CERTIFICATE_LOCATION": "ssl.certificate.location",
    "KAFKA_SSL_KEY_LOCATION": "ssl.key.location",
}


def client_config(settings: Mapping[str, Any], client_id: str) -> dict[str, Any]:
    """librdkafka settings shared by every producer, consumer and probe.

    Parameters
    ----------
    settings
        The component's :func:`dashstream_workloads.settings.load` result.
    client_id
        ``client.id``, shown in broker logs and quotas.

    Raises
    ------
    ValueError
        If the security settings contradict each other (a SASL protocol
        without mechanism or credentials, TLS files with a plaintext
        protocol). The message names variables, never their secret values.
    """
    protocol = settings["KAFKA_SECURITY_PROTOCOL"]
    conf: dict[str, Any] = {
        "bootstrap.servers": settings["KAFKA_BROKERS"],
        "security.protocol": protocol,
        "client.id": client_id,
        # librdkafka's own log lines go through Python logging (JSON like the rest),
        # not straight to stderr.
        "logger": _LIBRDKAFKA_LOG,
    }
    if protocol in _SASL_PROTOCOLS:
        missing = [
            name
            for name in ("KAFKA_SASL_MECHANISM", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD")
            if not settings.get(name)
        ]
        if missing:
            raise ValueError(f"KAFKA_SECURITY_PROTOCOL={protocol} needs {', '.join(missing)}")
        conf["sasl.mechanism"] = settings["KAFKA_SASL_MECHANISM"]
        conf["sasl.username"] = settings["KAFKA_SASL_USERNAME"]
        conf["sasl.password"] = settings["KAFKA_SASL_PASSWORD"]
    ssl_set = [name for name in _SSL_FILES if settings.get(name)]
    if protocol in _TLS_PROTOCOLS:
        for name in ssl_set:
            conf[_SSL_FILES[name]] = settings[name]
    elif ssl_set:
        # Silently ignoring them would look like TLS while sending plaintext.
        raise ValueError(
            f"{', '.join(ssl_set)} set but KAFKA_SECURITY_PROTOCOL={protocol} does not use TLS"
        )
    return conf


def consumer_config(
    settings: Mapping[str, Any], client_id: str, *, group_id: str | None = None
) -> dict[str, Any]:
    """An at-least-once consumer: offsets are *stored* by the application only
    after a record is processed and committed from the store in the background
    and on close, so a crash re-delivers instead of skipping."""
    conf = client_config(settings, client_id)
    conf.update(
        {
            "group.id": group_id or settings["KAFKA_GROUP_ID"],
            "auto.offset.reset": settings["KAFKA_AUTO_OFFSET_RESET"],
            "session.timeout.ms": settings["KAFKA_SESSION_TIMEOUT_MS"],
            "enable.auto.commit": True,
            "enable.auto.offset.store": False,
            "enable.partition.eof": False,
            # When the local queue is full (queued.min.messages or ...kbytes), librdkafka
            # waits this long before fetching again; its default of 1 s idled the
            # exporter's consuming thread half of the time at ingest (docs/benchmarks.md:
            # 105k -> 200k events/s on the same topic).
            "fetch.queue.backoff.ms": 50,
        }
    )
    return conf


def producer_config(settings: Mapping[str, Any], client_id: str) -> dict[str, Any]:
    """An idempotent producer: broker-side dedup of retries and per-partition
    ordering, so sequence numbers arrive as sent (no producer-made duplicates
    or reorders for the validator to mistake for faults)."""
    conf = client_config(settings, client_id)
    conf.update(
        {
            "enable.idempotence": True,
            "acks": "all",
            "max.in.flight.requests.per.connection": 5,
            # Payloads are compressed by our framing above a threshold (wire.py);
            # compressing again in librdkafka would only burn CPU.
            "compression.type": "none",
            "linger.ms": 5,
        }
    )
    return conf


_DNS: Final = {KafkaError._RESOLVE}
_TIMEOUT: Final = {KafkaError._TIMED_OUT, KafkaError.REQUEST_TIMED_OUT, KafkaError._MSG_TIMED_OUT}
_DOWN: Final = {
    KafkaError._ALL_BROKERS_DOWN,
    KafkaError._TRANSPORT,
    KafkaError.BROKER_NOT_AVAILABLE,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.NOT_LEADER_FOR_PARTITION,
}
_DECODE: Final = {KafkaError._BAD_MSG, KafkaError._BAD_COMPRESSION}


def classify_kafka_error(error: KafkaError) -> str:
    """The ``websocket_kafka_errors_by_type_total`` label of a client error."""
    code = error.code()
    if code in _DNS:
        return "dns_failure"
    if code in _TIMEOUT:
        return "connection_timeout"
    if code in _DOWN:
        return "broker_down"
    if code in _DECODE:
        return "decode_error"
    return "unknown"


@dataclass
class _HealthState:
    connected: bool | None = None  # None: not probed yet
    last_error: str | None = None
    last_ok: float | None = None


class KafkaHealth:
    """What ``/health`` says about Kafka; updated from any thread.

    ``connected`` turns true on any successful broker round trip (a probe, a
    delivered or consumed message) and false when a probe fails or librdkafka
    reports all brokers down. A single broker's transport error is not an
    outage: librdkafka reconnects by itself.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state = _HealthState()

    def mark_ok(self) -> None:
        with self._lock:
            self._state.connected = True
            self._state.last_ok = time.monotonic()

    def mark_down(self, reason: str) -> None:
        with self._lock:
            self._state.connected = False
            self._state.last_error = reason

    def note_error(self, error: KafkaError) -> None:
        """librdkafka ``error_cb``: only a total outage flips the state."""
        if error.code() == KafkaError._ALL_BROKERS_DOWN or error.fatal():
            self.mark_down(error.str())
        else:
            with self._lock:
                self._state.last_error = error.str()

    @property
    def connected(self) -> bool:
        with self._lock:
            return bool(self._state.connected)

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            s = self._state
            since = None if s.last_ok is None else round(time.monotonic() - s.last_ok, 3)
            return {"connected": s.connected, "last_error": s.last_error, "seconds_since_ok": since}
