"""Operator-wide settings and shared clients (kopf startup/cleanup handlers)."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any

import kopf

from dashstream_operator.handlers.children import CHILD_RESOURCES, MANAGED_BY_SELECTOR
from dashstream_operator.handlers.prometheuses import PrometheusIndex, refresh_prometheuses
from dashstream_operator.handlers.retry import RetryQueue
from dashstream_operator.k8s import Kube
from dashstream_operator.kafka.admin import AdminPool
from dashstream_operator.observability import serve
from dashstream_operator.reconcile.cache import BodyCache, ChildCache

__all__ = ["KAFKA_TIMEOUT_SECONDS", "RESYNC_SECONDS", "SHUTDOWN_GRACE_SECONDS"]

log = logging.getLogger(__name__)

# The timer interval must be known when handlers are registered (import time), so it
# comes from the environment; `dashstream-operator --resync-interval` sets it.
RESYNC_SECONDS = float(os.environ.get("DASHSTREAM_RESYNC_SECONDS", "15"))
KAFKA_TIMEOUT_SECONDS = float(os.environ.get("DASHSTREAM_KAFKA_TIMEOUT_SECONDS", "10"))
# After SIGTERM, handlers still inside a Kafka call (a hanging broker answers only at
# the client's timeout, several times over) would hold the process past the pod's grace
# period; nothing they could still write matters once we stop, so kopf ends the process
# after this (its ultimate exiting timeout, 10 minutes by default).
SHUTDOWN_GRACE_SECONDS = 3.0


@kopf.on.startup(id="configure")
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    # GitOps: keep kopf's bookkeeping out of metadata.annotations (Argo CD owns them);
    # it goes to status.kopf, which the CRD declares as free-form.
    settings.persistence.progress_storage = kopf.StatusProgressStorage()
    settings.persistence.diffbase_storage = kopf.StatusDiffBaseStorage()
    settings.persistence.finalizer = "dashstream.io/topic-deletion"
    # Events only for what a person must see (refusals, repairs), not every success.
    settings.posting.level = 30  # logging.WARNING
    settings.networking.request_timeout = 30
    settings.networking.connect_timeout = 10
    settings.watching.server_timeout = 120
    settings.watching.client_timeout = 150
    settings.watching.connect_timeout = 10
    settings.execution.max_workers = int(os.environ.get("DASHSTREAM_WORKERS", "16"))
    settings.process.ultimate_exiting_timeout = SHUTDOWN_GRACE_SECONDS
    # The API server sends only our children, not every Deployment or Service of the
    # namespaces. ConfigMaps are the exception: rule and dashboard sources are the
    # users' own, unlabelled ConfigMaps.
    for group, version, plural, _kind in CHILD_RESOURCES:
        if plural != "configmaps":
            settings.watching.label_selectors[group, version, plural] = MANAGED_BY_SELECTOR
    memo.kube = Kube()
    memo.kafka = AdminPool(timeout=KAFKA_TIMEOUT_SECONDS)
    memo.children = ChildCache()
    memo.bodies = BodyCache()
    memo.retries = RetryQueue(asyncio.get_running_loop(), longest=RESYNC_SECONDS)
    memo.prometheuses = PrometheusIndex()
    try:
        # Before the first reconcile, so none reports "not listed yet" and then flips.
        await asyncio.get_running_loop().run_in_executor(
            None, refresh_prometheuses, memo.kube, memo.prometheuses)
    except Exception as exc:  # the resync pass lists them again
        log.warning("cannot list Prometheus objects yet: %s", exc)


@kopf.on.startup(id="http-endpoint")
async def http_endpoint(memo: kopf.Memo, **_: Any) -> None:
    """/healthz and /metrics on the liveness URL (kopf's own liveness server is off)."""
    url = os.environ.get("DASHSTREAM_LIVENESS", "none")
    if url != "none":
        memo.http = await serve(url, alive=lambda: _not_alive(memo))


# How long the resync loop may go without progress: the pause between passes, plus one
# object's reconcile at its slowest (a dozen Kafka requests at their timeout, and the
# API requests' own), plus a margin.
STALL_SECONDS = RESYNC_SECONDS + 12 * KAFKA_TIMEOUT_SECONDS + 60


def _not_alive(memo: kopf.Memo) -> str | None:
    """Why the operator is not alive (its resync loop died or stopped moving), or None."""
    task = getattr(memo, "resync_task", None)
    if task is not None and task.done() and not task.cancelled():
        return f"resync loop ended: {task.exception()!r}"
    last = getattr(memo, "progress", None)
    age = time.monotonic() - last if last is not None else 0.0
    if age > STALL_SECONDS:
        return f"resync loop made no progress for {age:.0f}s"
    return None


@kopf.on.cleanup(id="http-endpoint-stop")
async def http_endpoint_stop(memo: kopf.Memo, **_: Any) -> None:
    retries = getattr(memo, "retries", None)
    if retries is not None:
        retries.cancel_all()
    runner = getattr(memo, "http", None)
    if runner is not None:
        await runner.cleanup()
