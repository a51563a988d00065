"""The resync loop: every interval, reconcile every object of our three kinds, from one
LIST per kind (and watched namespace).

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
from collections.abc import Callable
from typing import Any

import kopf
from kubernetes import client

from dashstream_operator.handlers.pipeline import claims_index, reconcile
from dashstream_operator.handlers.startup import RESYNC_SECONDS
from dashstream_operator.models import GROUP, PIPELINE, VERSION, KindInfo
from dashstream_operator.observability import METRICS, about

__all__ = ["list_objects", "list_pipelines", "register_resync", "resync_once"]

log = logging.getLogger(__name__)
CONCURRENCY = int(os.environ.get("DASHSTREAM_RESYNC_CONCURRENCY", "8"))

# Further kinds the loop re-checks after the pipelines: (kind, reconcile(body, memo)),
# registered by their handler modules (AlertRuleSet, DashboardSet: a retry after a
# failure, a CRD installed later, a missed watch event). Their reconcile must log and
# swallow its own refusals.
_OTHER_KINDS: list[tuple[KindInfo, Callable[[dict[str, Any], kopf.Memo], None]]] = []


def register_resync(kind: KindInfo, fn: Callable[[dict[str, Any], kopf.Memo], None]) -> None:
    _OTHER_KINDS.append((kind, fn))


def list_objects(custom: client.CustomObjectsApi, plural: str) -> list[dict[str, Any]]:
    """Our CRs of one kind in the watched namespaces (one LIST each, or one cluster-wide)."""
    namespaces = [n for n in os.environ.get("DASHSTREAM_WATCH_NAMESPACES", "").split(",") if n]
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


def _reconcile_quietly(body: dict[str, Any], memo: kopf.Memo,
                       claims: dict[str, Any]) -> None:
    try:
        memo.bodies.put(body)
        reconcile(body, memo, claims, repair=True)
    except (kopf.TemporaryError, kopf.PermanentError) as exc:
        # Already reported in status; the next tick tries again.
        meta = body["metadata"]
        log.info("resync of %s/%s: %s", meta.get("namespace"), meta.get("name"), exc,
                 extra=about(body.get("kind", ""), meta.get("namespace"), meta.get("name")))
    except Exception:
        meta = body["metadata"]
        log.exception("resync of %s/%s failed", meta.get("namespace"), meta.get("name"),
                      extra=about(body.get("kind", ""), meta.get("namespace"), meta.get("name")))


async def resync_once(memo: kopf.Memo) -> int:
    loop = asyncio.get_running_loop()
    bodies = await loop.run_in_executor(None, list_pipelines, memo.kube.custom)
    live = [b for b in bodies if not b["metadata"].get("deletionTimestamp")]
    claims = claims_index(live)
    sem = asyncio.Semaphore(CONCURRENCY)

    async def one(body: dict[str, Any]) -> None:
        async with sem:
            # copy_context: kopf.event() needs the operator's event queue (a context var).
            ctx = contextvars.copy_context()
            await loop.run_in_executor(None, ctx.run, _reconcile_quietly, body, memo, claims)

    await asyncio.gather(*(one(b) for b in live))
    count = len(live)
    for kind, fn in _OTHER_KINDS:
        try:
            others = await loop.run_in_executor(None, list_objects, memo.kube.custom,
                                                kind.plural)
        except client.ApiException as exc:  # e.g. that CRD is not installed: skip the kind
            log.warning("resync cannot list %s: %s %s", kind.plural, exc.status, exc.reason)
            continue
        others = [b for b in others if not b["metadata"].get("deletionTimestamp")]

        async def other(body: dict[str, Any],
                        fn: Callable[[dict[str, Any], kopf.Memo], None] = fn) -> None:
            async with sem:
                ctx = contextvars.copy_context()
                await loop.run_in_executor(None, ctx.run, fn, body, memo)

        await asyncio.gather(*(other(b) for b in others))
        count += len(others)
    METRICS.resync_objects.set(count)
    METRICS.last_resync.set_to_current_time()
    return count


async def _loop(memo: kopf.Memo) -> None:
    while True:
        await asyncio.sleep(RESYNC_SECONDS)  # the loop's own cadence, not a retry wait
        try:
            await resync_once(memo)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("resync pass failed; retrying in %.0fs", RESYNC_SECONDS)


@kopf.on.startup(id="resync-start")
async def start_resync(memo: kopf.Memo, **_: Any) -> None:
    memo.resync_task = asyncio.create_task(_loop(memo))


@kopf.on.cleanup(id="resync-stop")
async def stop_resync(memo: kopf.Memo, **_: Any) -> None:
    task = getattr(memo, "resync_task", None)
    if task is not None:
        task.cancel()
