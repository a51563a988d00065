"""kopf handlers of DashStreamPipeline: thin — parse, reconcile, report.

Level-based: creation, spec changes, operator restarts, child watch events and the
resync loop (handlers/resync.py) all run the same reconcile and never look at
kopf's diff. The loop is what puts back topics changed or deleted in Kafka; child
watch events put back hand edits of Deployments, Services, ConfigMaps and monitors.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import kopf

from dashstream_operator.handlers.children import register_owner_callback
from dashstream_operator.handlers.startup import object_lock
from dashstream_operator.k8s import Kube, SecretMissing
from dashstream_operator.kafka.admin import KafkaUnavailable
from dashstream_operator.kafka.config import admin_config
from dashstream_operator.models import (
    GROUP,
    PIPELINE,
    VERSION,
    DashStreamPipelineSpec,
    DashStreamPipelineStatus,
    SpecError,
)
from dashstream_operator.observability import METRICS, about, reconcile_timer
from dashstream_operator.reconcile.pause import (
    PAUSE_ANNOTATION,
    is_paused,
    pause_reported,
    paused_patch,
)
from dashstream_operator.reconcile.pipeline import reconcile_pipeline, reconcile_pipeline_topics
from dashstream_operator.reconcile.status import (
    MAX_MESSAGE,
    apply_conditions,
    invalid_spec_patch,
    status_patch,
)
from dashstream_operator.reconcile.topics import Claim, owned_topics

__all__ = ["claims_index", "reconcile"]

log = logging.getLogger(__name__)

PLURAL = PIPELINE.plural
RETRY_DELAY = 5.0
KAFKA_REASONS = ("KafkaUnavailable", "InvalidTopicConfig", "KafkaError", "KafkaSecretMissing")


def _claim_key(bootstrap: str, topic: str) -> str:
    return f"{bootstrap}|{topic}"


@kopf.index(GROUP, VERSION, PLURAL, id="topic_claims")
def topic_claims(spec: Any, meta: Any, status: Any, namespace: str, name: str,
                 **_: Any) -> dict[str, Claim]:
    """(Kafka cluster, topic) -> the pipelines declaring it, to find the older claim."""
    return claims_of(spec, meta, status, namespace, name)


def claims_of(spec: Mapping[str, Any], meta: Mapping[str, Any], status: Mapping[str, Any],
              namespace: str, name: str) -> dict[str, Claim]:
    try:
        model = DashStreamPipelineSpec.from_body({"spec": dict(spec)})
    except SpecError:
        return {}
    established = {t.get("name") for t in status.get("topics") or [] if t.get("ready")}
    created, uid = meta.get("creationTimestamp", ""), meta.get("uid", "")
    return {_claim_key(model.kafka.bootstrap_servers, t.name):
            Claim(created, t.name not in established, uid, f"{namespace}/{name}")
            for t in model.resolved_topics()}


def claims_index(bodies: Iterable[Mapping[str, Any]]) -> dict[str, list[Claim]]:
    """The topic_claims index computed from a listing (for the resync loop)."""
    out: dict[str, list[Claim]] = {}
    for b in bodies:
        meta = b.get("metadata", {})
        for key, claim in claims_of(b.get("spec") or {}, meta, b.get("status") or {},
                                    meta.get("namespace", ""), meta.get("name", "")).items():
            out.setdefault(key, []).append(claim)
    return out


def _claims_for(spec: DashStreamPipelineSpec,
                index: Mapping[str, Iterable[Claim]]) -> dict[str, list[Claim]]:
    return {t.name: list(index.get(_claim_key(spec.kafka.bootstrap_servers, t.name), []))
            for t in spec.resolved_topics()}


def _write_status(memo: kopf.Memo, body: Mapping[str, Any], patch: dict[str, Any] | None) -> None:
    if patch is None:
        return
    meta = body["metadata"]
    kube: Kube = memo.kube
    updated = kube.patch_status(PIPELINE, meta["namespace"], meta["name"], patch)
    if updated:
        memo.bodies.put(updated)  # our write is the newest truth until the watch catches up


def reconcile(body: Mapping[str, Any], memo: kopf.Memo,
              topic_claims: Mapping[str, Iterable[Claim]] | None, repair: bool) -> None:
    """Full reconcile; with ``topic_claims`` None only the children and their status.

    Two locks per object: Kafka work (which may wait for a broker timeout) is serialised
    on its own, so it never delays the repair of a hand-edited child.
    """
    with reconcile_timer(PIPELINE.kind):
        _reconcile(dict(body), memo, topic_claims, repair)


def _reconcile(raw: dict[str, Any], memo: kopf.Memo,
               topic_claims: Mapping[str, Iterable[Claim]] | None, repair: bool) -> None:
    raw = _newest(raw, memo)  # a resync's LIST may predate a pause annotation
    topics = None
    if topic_claims is not None and not is_paused(raw):
        try:
            spec = DashStreamPipelineSpec.from_body(raw)
        except SpecError:
            spec = None  # reported below, under the object lock
        if spec is not None:
            with object_lock(f"{raw['metadata']['uid']}/kafka"):
                topics = reconcile_pipeline_topics(raw, spec, memo.kube, memo.kafka,
                                                   _claims_for(spec, topic_claims))
    with object_lock(raw["metadata"]["uid"]):
        # Re-read under the lock: another path may have written status meanwhile.
        raw = _newest(raw, memo)
        if is_paused(raw):  # checked again: it may have come while the Kafka half ran
            _write_status(memo, raw, paused_patch(raw, datetime.now(UTC).replace(microsecond=0)))
            return
        try:
            spec = DashStreamPipelineSpec.from_body(raw)
        except SpecError as exc:
            METRICS.validation_failures.labels(PIPELINE.kind, "InvalidSpec").inc()
            _report_invalid(memo, raw, exc)
            raise kopf.PermanentError(f"invalid spec: {exc}") from exc
        result = reconcile_pipeline(raw, spec, memo.kube, memo.children, topics, repair)
        for type_, reason, message in result.events:
            memo.kube.post_event(raw, type_, reason, message)
            if reason in ("DriftRepaired", "TopicsRepaired"):
                METRICS.drift_repairs.labels(PIPELINE.kind).inc()
        if topics is not None and topics.status != "True" and topics.reason in KAFKA_REASONS:
            METRICS.kafka_errors.labels(topics.reason).inc()
        _write_status(memo, raw, result.patch)
    if result.retry:
        raise kopf.TemporaryError(result.retry, delay=RETRY_DELAY)


def _newest(raw: dict[str, Any], memo: kopf.Memo) -> dict[str, Any]:
    """The given body or the watch cache's, whichever is newer (same object only)."""
    cached = memo.bodies.get(PIPELINE.kind, raw["metadata"]["namespace"],
                             raw["metadata"]["name"])
    if cached is not None and cached["metadata"].get("uid") == raw["metadata"]["uid"] and int(
            cached["metadata"].get("resourceVersion", 0)) >= int(
            raw["metadata"].get("resourceVersion", 0)):
        return dict(cached)
    return raw


def _report_invalid(memo: kopf.Memo, body: Mapping[str, Any], exc: SpecError) -> None:
    """Admission (CEL) should have refused it; say so in status and do not retry."""
    _write_status(memo, body, invalid_spec_patch(
        DashStreamPipelineStatus.from_body(body), body, "TopicsReady", str(exc),
        datetime.now(UTC).replace(microsecond=0)))


@kopf.on.resume(GROUP, VERSION, PLURAL, id="pipeline-resume")
@kopf.on.create(GROUP, VERSION, PLURAL, id="pipeline-create")
@kopf.on.update(GROUP, VERSION, PLURAL, id="pipeline-update", field="spec")
def on_change(body: kopf.Body, memo: kopf.Memo, topic_claims: kopf.Index[str, Claim],
              **_: Any) -> None:
    reconcile(body, memo, topic_claims, repair=False)


def _pause_not_yet_reported(body: kopf.Body, **_: Any) -> bool:
    """The annotation and the ReconcilePaused condition disagree (level, not diff)."""
    return is_paused(body) != pause_reported(body) and not body.metadata.get(
        "deletionTimestamp")


# Pausing or resuming takes effect at once, not at the next resync pass.
@kopf.on.event(GROUP, VERSION, PLURAL, id="pipeline-pause", when=_pause_not_yet_reported)
def on_pause_annotation(body: kopf.Body, memo: kopf.Memo,
                        topic_claims: kopf.Index[str, Claim], **_: Any) -> None:
    try:
        reconcile(body, memo, topic_claims, repair=True)
    except (kopf.TemporaryError, kopf.PermanentError) as exc:  # the resync retries
        log.info("after a pause change: %s", exc,
                 extra=about(PIPELINE.kind, body.metadata.namespace, body.metadata.name))


def on_children_changed(memo: kopf.Memo, namespace: str, name: str, uid: str,
                        child_deleted: bool) -> None:
    """A child of this pipeline changed or vanished: re-apply what differs."""
    body = memo.bodies.get(PIPELINE.kind, namespace, name)
    if body is None or body["metadata"].get("uid") != uid:
        return  # not (yet) known, or a child of an older pipeline of the same name
    if body["metadata"].get("deletionTimestamp"):
        return
    if child_deleted:
        # The child may be going because its owner was deleted (garbage collection):
        # ask the API server, not the cache, before re-creating anything.
        fresh = memo.kube.get_cr(PIPELINE, namespace, name)
        if fresh is None or fresh["metadata"].get("uid") != uid or fresh["metadata"].get(
                "deletionTimestamp"):
            return
    try:
        reconcile(body, memo, None, repair=True)
    except (kopf.TemporaryError, kopf.PermanentError) as exc:
        log.info("children of %s/%s: %s", namespace, name, exc,
                 extra=about(PIPELINE.kind, namespace, name))


register_owner_callback(PIPELINE.kind, on_children_changed)


def _delete_policy_is_delete(spec: Any, **_: Any) -> bool:
    return bool(spec.get("topicDeletionPolicy") == "Delete")


@kopf.on.delete(GROUP, VERSION, PLURAL, id="pipeline-delete-topics",
                when=_delete_policy_is_delete)
def delete_topics(body: kopf.Body, memo: kopf.Memo, topic_claims: kopf.Index[str, Claim],
                  **_: Any) -> None:
    """Only with topicDeletionPolicy Delete (a finalizer exists only then): delete exactly
    the topics this pipeline owns — never one lost to an older claim."""
    kube: Kube = memo.kube
    ns, uid = str(body.metadata.namespace), str(body.metadata.uid)
    spec = DashStreamPipelineSpec.from_body(body)
    if is_paused(body):
        # The way out when the broker is gone for good: nothing to wait for.
        names = ", ".join(t.name for t in spec.resolved_topics())
        kube.post_event(body, "Normal", "TopicsKept", f"paused ({PAUSE_ANNOTATION}): "
                        f"topics kept despite topicDeletionPolicy Delete: {names}"[:1024])
        log.info("paused: topics kept", extra=about(PIPELINE.kind, ns, body.metadata.name))
        return
    mine, _lost = owned_topics(spec, uid, _claims_for(spec, topic_claims))
    try:
        admin = memo.kafka.get(admin_config(spec.kafka, lambda ref: kube.read_secret(ns, ref)))
        errors = admin.delete(t.name for t in mine)
    except (KafkaUnavailable, SecretMissing) as exc:
        errors_text = f"cannot delete topics yet: {exc}"
    else:
        if not errors:
            log.info("deleted topics %s", [t.name for t in mine],
                     extra=about(PIPELINE.kind, ns, body.metadata.name))
            return
        errors_text = "; ".join(f"{e.topic}: {e.message}" for e in errors)
    old = DashStreamPipelineStatus.from_body(body)
    now = datetime.now(UTC).replace(microsecond=0)
    generation = body.metadata.get("generation")
    conditions = apply_conditions(old.conditions or [], [
        ("Ready", "False", "TopicDeletionFailed", errors_text[:MAX_MESSAGE])], generation, now)
    _write_status(memo, body, status_patch(body.get("status"),
                                           old.model_copy(update={"conditions": conditions})))
    kube.post_event(body, "Warning", "TopicDeletionFailed", errors_text)
    raise kopf.TemporaryError(errors_text, delay=RETRY_DELAY)
