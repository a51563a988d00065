"""Fixtures of the workload tests: a fresh topic pair, a private Redis, and a
registry that stops every server a test started (SIGTERM, then SIGKILL)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from integration.workloads.servers import ServerProc, run_redis, start_server
from support.env import require_env

StartServer = Callable[..., ServerProc]


@pytest.fixture
def logs_dir(artifacts_dir: Path, request: pytest.FixtureRequest) -> Path:
    """Per-test folder for server logs (kept as test artifacts)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)[:80]
    path = artifacts_dir / "workloads" / safe
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def topic_pair(topic_factory: Callable[..., str]) -> tuple[str, str]:
    """(events topic with 3 partitions, DLQ topic), both new and deleted afterwards."""
    return topic_factory("events", partitions=3), topic_factory("dlq", partitions=1)


@pytest.fixture
def redis_url(logs_dir: Path) -> Iterator[str]:
    with run_redis(require_env("REDIS_SERVER"), logs_dir / "redis") as url:
        yield url


@pytest.fixture
def servers(
    kafka_bootstrap: str, topic_pair: tuple[str, str], logs_dir: Path
) -> Iterator[StartServer]:
    """start(component, env=None, args=(), name=None) -> a running server on the topic pair.

    Every server gets the test's topics, a consumer group of its own per test,
    and is stopped at teardown (a test may stop it earlier).
    """
    started: list[ServerProc] = []
    events, dlq = topic_pair

    def start(component: str, env: dict[str, str] | None = None, args: tuple[str, ...] = (),
              name: str | None = None) -> ServerProc:
        base = {
            "KAFKA_BROKERS": kafka_bootstrap,
            "KAFKA_TOPIC": events,
            "KAFKA_DLQ_TOPIC": dlq,
            "KAFKA_GROUP_ID": f"{component}-{events}",
        }
        server = start_server(component, {**base, **(env or {})}, logs_dir, args=args, name=name)
        started.append(server)
        return server

    yield start
    # Every server must honour SIGTERM; all are stopped before a failure is reported.
    failures = []
    for server in reversed(started):
        try:
            server.stop()
        except AssertionError as exc:
            failures.append(str(exc))
    assert not failures, failures
