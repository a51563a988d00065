"""Pieces the three DashStream servers share: Kafka client configuration and
health, consumer-lag bookkeeping, JSON logging, the /health /metrics /version
endpoints and SIGTERM handling.

Every server reads its configuration with :func:`dashstream_workloads.settings.load`
and passes the resulting dict here; nothing in this package reads the
environment itself.
"""

from __future__ import annotations

from dashstream_workloads.common.consumer import ConsumerLoop
from dashstream_workloads.common.http import ServerInfo, add_common_routes, serve_until
from dashstream_workloads.common.kafka import (
    KafkaHealth,
    classify_kafka_error,
    client_config,
    consumer_config,
    producer_config,
)
from dashstream_workloads.common.lag import LagMonitor, LagSnapshot, LagTracker
from dashstream_workloads.common.logs import setup_logging

__all__ = [
    "ConsumerLoop",
    "KafkaHealth",
    "LagMonitor",
    "LagSnapshot",
    "LagTracker",
    "ServerInfo",
    "add_common_routes",
    "classify_kafka_error",
    "client_config",
    "consumer_config",
    "producer_config",
    "serve_until",
    "setup_logging",
]
