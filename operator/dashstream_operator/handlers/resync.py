"""The resync loop: every interval, reconcile every object of our three kinds, from one
LIST per kind (and watched namespace).

Each pass starts by refreshing the caches from LISTs: the children of every kind we
manage (by our managed-by label) and our own objects. Whatever a watch missed while
it reconnected (an object deleted in the gap emits no DELETED event after a relist)
is then known, so it is repaired in the same pass.

Why not ``@kopf.timer``: kopf puts a finalizer on every object that has a timer or
daemon, and a finalizer on a ``Retain`` pipeline would block namespace deletion
whenever the operator is gone (Strimzi's most-reported problem). One operator-level
loop needs no finalizer, costs one LIST per interval, and is where out-of-band
changes in Kafka are found and put back (as Strimzi's full reconciliation does).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import time
from collections.abc import Callable
from typing import Any

import kopf
from kubernetes import client

from dashstream_operator.handlers.children import CHILD_RESOURCES, MANAGED_BY_SELECTOR
from dashstream_operator.handlers.pipeline import reconcile
from dashstream_operator.handlers.prometheuses import refresh_prometheuses
from dashstream_operator.handlers.skeleton import log_failure
from dashstream_operator.handlers.startup import RESYNC_SECONDS
from dashstream_operator.k8s import Kube, api_forbidden, api_unavailable
from dashstream_operator.models import GROUP, PIPELINE, VERSION, KindInfo
from dashstream_operator.observability import METRICS
from dashstream_operator.reconcile.cache import ObjectCache
from dashstream_operator.reconcile.claims import claims_index

__all__ = ["list_objects", "list_pipelines", "refresh_children", "register_resync",
           "resync_once"]

log = logging.getLogger(__name__)
CONCURRENCY = int(os.environ.get("DASHSTREAM_RESYNC_CONCURRENCY", "8"))

# Further kinds the loop re-checks after the pipelines: (kind, reconcile(body, memo)),
# registered by their handler modules (AlertRuleSet, DashboardSet: a retry after a
# failure, a CRD installed later, a missed watch event). Their reconcile must log and
# swallow its own refusals.
_OTHER_KINDS: list[tuple[KindInfo, Callable[[dict[str, Any], kopf.Memo], None]]] = []


def register_resync(kind: KindInfo, fn: Callable[[dict[str, Any], kopf.Memo], None]) -> None:
    _OTHER_KINDS.append((kind, fn))


def watched_namespaces() -> list[str] | None:
    """The namespaces the operator watches; None: all of them."""
    found = [n for n in os.environ.get("DASHSTREAM_WATCH_NAMESPACES", "").split(",") if n]
    return found or None


def list_objects(custom: client.CustomObjectsApi, plural: str) -> list[dict[str, Any]]:
    """Our CRs of one kind in the watched namespaces (one LIST each, or one cluster-wide)."""
    namespaces = watched_namespaces()
    if not namespaces:
        listing: Any = custom.list_cluster_custom_object(GROUP, VERSION, plural)
        return list(listing["items"])
    out: list[dict[str, Any]] = []
    for ns in namespaces:
        listing = custom.list_namespaced_custom_object(GROUP, VERSION, ns, plural)
        out += listing["items"]
    return out


def list_pipelines(custom: client.CustomObjectsApi) -> list[dict[str, Any]]:
    """Pipelines of the watched namespaces."""
    return list_objects(custom, PIPELINE.plural)


def refresh_children(kube: Kube, cache: ObjectCache) -> int:
    """Refresh the child cache from one labelled metadata-only LIST per kind (and watched
    namespace); returns how many entries were dropped (gone, or changed unseen)."""
    namespaces = watched_namespaces()
    dropped = 0
    for group, version, _plural, kind in CHILD_RESOURCES:
        api_version = f"{group}/{version}" if group else version
        if not kube.has_kind(api_version, kind):
            continue
        since = cache.mark()
        items: list[dict[str, Any]] = []
        scopes: list[str | None] = list(namespaces) if namespaces else [None]
        for ns in scopes:
            items += kube.list_metadata(api_version, kind, ns, MANAGED_BY_SELECTOR)
        gone = cache.refresh(api_version, kind, namespaces, items, since, add=False)
        if gone:  # said at once: a later kind's LIST may fail this pass
            log.info("resync: %d %s(s) no watch reported gone or changed were dropped from "
                     "the cache", gone, kind)
        dropped += gone
    return dropped


def _refresh_bodies(cache: ObjectCache, kind: KindInfo, listed: list[dict[str, Any]],
                    since: int) -> None:
    cache.refresh(f"{GROUP}/{VERSION}", kind.kind, watched_namespaces(),
                  [{**b, "kind": kind.kind} for b in listed], since)


def _reconcile_quietly(body: dict[str, Any], memo: kopf.Memo,
                       claims: dict[str, Any]) -> None:
    meta = body["metadata"]
    known = memo.bodies.find(PIPELINE.kind, meta.get("namespace", ""), meta["name"])
    if known is None or known["metadata"].get("uid") != meta.get("uid"):
        return  # deleted since the LIST (a long pass): its topics must not come back
    try:
        reconcile(body, memo, claims)
    except Exception as exc:
        log_failure(PIPELINE.kind, meta.get("namespace"), meta.get("name"), "resync", exc)


async def resync_once(memo: kopf.Memo) -> int:
    memo.kafka.begin_pass()
    try:
        return await _pass(memo)
    finally:
        memo.kafka.end_pass()


async def _pass(memo: kopf.Memo) -> int:
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, refresh_children, memo.kube, memo.children)
    # Every object of the pass is judged against the Prometheus objects listed now.
    await loop.run_in_executor(None, refresh_prometheuses, memo.kube, memo.prometheuses)
    since = memo.bodies.mark()
    bodies = await loop.run_in_executor(None, list_pipelines, memo.kube.custom)
    _refresh_bodies(memo.bodies, PIPELINE, bodies, since)
    live = [b for b in bodies if not b["metadata"].get("deletionTimestamp")]
    claims = claims_index(live)
    sem = asyncio.Semaphore(CONCURRENCY)

    async def one(body: dict[str, Any]) -> None:
        async with sem:
            # copy_context: keeps the operator's logging context in the worker thread.
            ctx = contextvars.copy_context()
            await loop.run_in_executor(None, ctx.run, _reconcile_quietly, body, memo, claims)
            progress(memo)

    await asyncio.gather(*(one(b) for b in live))
    count = len(live)
    for kind, fn in _OTHER_KINDS:
        since = memo.bodies.mark()
        try:
            others = await loop.run_in_executor(None, list_objects, memo.kube.custom,
                                                kind.plural)
        except client.ApiException as exc:  # e.g. that CRD is not installed: skip the kind
            log.warning("resync cannot list %s: %s %s", kind.plural, exc.status, exc.reason)
            continue
        _refresh_bodies(memo.bodies, kind, others, since)
        others = [b for b in others if not b["metadata"].get("deletionTimestamp")]

        async def other(body: dict[str, Any],
                        fn: Callable[[dict[str, Any], kopf.Memo], None] = fn) -> None:
            async with sem:
                ctx = contextvars.copy_context()
                await loop.run_in_executor(None, ctx.run, fn, body, memo)
                progress(memo)

        await asyncio.gather(*(other(b) for b in others))
        count += len(others)
    METRICS.resync_objects.set(count)
    METRICS.last_resync.set_to_current_time()
    METRICS.resync_passes.inc()
    return count


def progress(memo: kopf.Memo) -> None:
    """The resync loop moves: /healthz reads this (handlers/startup.py)."""
    memo.progress = time.monotonic()
    METRICS.progress.set_to_current_time()


async def _loop(memo: kopf.Memo) -> None:
    api_down = False
    while True:
        progress(memo)
        await asyncio.sleep(RESYNC_SECONDS)  # the loop's own cadence, not a retry wait
        progress(memo)
        try:
            await resync_once(memo)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            refusal = api_forbidden(exc)
            if refusal:
                log.error("resync pass forbidden: %s; grant the operator's ServiceAccount "
                          "this permission (the chart's Role does); retrying in %.0fs",
                          refusal, RESYNC_SECONDS)
            elif not api_unavailable(exc):
                log.exception("resync pass failed; retrying in %.0fs", RESYNC_SECONDS)
            elif not api_down:  # once per outage, not once per pass
                log.warning("resync pass: API server unavailable (%s); retrying every %.0fs",
                            type(exc).__name__, RESYNC_SECONDS)
            api_down = api_unavailable(exc)
            continue
        if api_down:
            log.info("resync pass: API server available again")
            api_down = False


@kopf.on.startup(id="resync-start")
async def start_resync(memo: kopf.Memo, **_: Any) -> None:
    memo.resync_task = asyncio.create_task(_loop(memo))


@kopf.on.cleanup(id="resync-stop")
async def stop_resync(memo: kopf.Memo, **_: Any) -> None:
    task = getattr(memo, "resync_task", None)
    if task is not None:
        task.cancel()
