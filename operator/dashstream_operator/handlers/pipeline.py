"""kopf handlers of DashStreamPipeline: thin — parse, reconcile, report.

Level-based: creation, spec changes, operator restarts, child watch events and the
resync loop (handlers/resync.py) all run the same reconcile and never look at
kopf's diff. The loop is what puts back topics changed or deleted in Kafka; child
watch events put back hand edits of Deployments, Services, ConfigMaps and monitors.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

import kopf

from dashstream_operator.handlers.children import register_owner_callback
from dashstream_operator.handlers.prometheuses import register_reselect, selection_check
from dashstream_operator.handlers.skeleton import (
    child_event_matters,
    leave_alone,
    locked_newest,
    log_failure,
    now,
    object_lock,
    post_events,
    refuse_invalid_spec,
    retry_done,
    retry_soon,
    write_status,
)
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
from dashstream_operator.reconcile.claims import claims_for, claims_of
from dashstream_operator.reconcile.pause import (
    PAUSE_ANNOTATION,
    is_paused,
    pause_reported,
)
from dashstream_operator.reconcile.pipeline import (
    current_topics,
    reconcile_pipeline,
    reconcile_pipeline_topics,
)
from dashstream_operator.reconcile.status import (
    MAX_MESSAGE,
    apply_conditions,
    status_patch,
)
from dashstream_operator.reconcile.topics import Claim, owned_topics

__all__ = ["reconcile"]

log = logging.getLogger(__name__)

PLURAL = PIPELINE.plural
RETRY_DELAY = 5.0
KAFKA_REASONS = ("KafkaUnavailable", "InvalidTopicConfig", "KafkaError", "KafkaSecretMissing")


@kopf.index(GROUP, VERSION, PLURAL, id="topic_claims")
def topic_claims(spec: Any, meta: Any, status: Any, namespace: str, name: str,
                 **_: Any) -> dict[str, Claim]:
    """(Kafka cluster, topic) -> the pipelines declaring it, to find the older claim."""
    return claims_of(spec, meta, status, namespace, name)


def reconcile(body: Mapping[str, Any], memo: kopf.Memo,
              topic_claims: Mapping[str, Iterable[Claim]] | None) -> None:
    """Full reconcile; with ``topic_claims`` None only the children and their status.

    Never raises: kopf must not retry it (its retries write ``status.kopf`` each time).
    A failure is logged and retried here, soon, and by the resync pass. Two locks per
    object: Kafka work (which may wait for a broker timeout) is serialised on its own,
    so it never delays the repair of a hand-edited child.
    """
    meta = body["metadata"]
    with reconcile_timer(PIPELINE.kind) as timed:
        try:
            timed.result = _reconcile(dict(body), memo, topic_claims)
        except Exception as exc:
            timed.result = "error"
            log_failure(PIPELINE.kind, meta["namespace"], meta["name"], "reconcile", exc)
    if timed.result in ("retry", "error"):
        retry_soon(memo, meta["uid"], lambda: _retry(memo, meta["namespace"], meta["name"]))
    elif topic_claims is not None:  # only a whole reconcile ends a retry streak
        retry_done(memo, meta["uid"])


def _reconcile(raw: dict[str, Any], memo: kopf.Memo,
               topic_claims: Mapping[str, Iterable[Claim]] | None) -> str:
    """Returns the result for the reconcile metric."""
    topics, topics_generation = None, None
    if topic_claims is not None:
        with object_lock(f"{raw['metadata']['uid']}/kafka"):
            # The newest spec known, under the Kafka lock: a resync's LIST may be older
            # than a spec change already applied, and applying it would set topic
            # configs back to old values.
            raw = memo.bodies.newest(raw)
            spec = None if is_paused(raw) or raw["metadata"].get(
                "deletionTimestamp") else _parsed(raw)
            if spec is not None:
                topics_generation = raw["metadata"].get("generation")
                topics = reconcile_pipeline_topics(raw, spec, memo.kube, memo.kafka,
                                                   claims_for(spec, topic_claims))
    with locked_newest(memo, raw) as raw:
        if leave_alone(memo, PIPELINE, raw, DashStreamPipelineStatus):
            return "success"
        topics = current_topics(topics, topics_generation, raw)
        try:
            spec = DashStreamPipelineSpec.from_body(raw)
        except SpecError as exc:
            refuse_invalid_spec(memo, PIPELINE, raw, DashStreamPipelineStatus, "TopicsReady",
                                exc)
            return "invalid"
        result = reconcile_pipeline(raw, spec, memo.kube, memo.children, topics,
                                    selection_check(memo))
        post_events(memo, raw, result.events)
        if topics is not None and topics.status != "True" and topics.reason in KAFKA_REASONS:
            METRICS.kafka_errors.labels(topics.reason).inc()
        write_status(memo, PIPELINE, raw, result.patch)
    return "retry" if result.retry else "success"


def _parsed(raw: Mapping[str, Any]) -> DashStreamPipelineSpec | None:
    try:
        return DashStreamPipelineSpec.from_body(raw)
    except SpecError:
        return None  # reported under the object lock


def _retry(memo: kopf.Memo, namespace: str, name: str) -> None:
    body = memo.bodies.find(PIPELINE.kind, namespace, name)
    if body is not None and not body["metadata"].get("deletionTimestamp"):
        reconcile(body, memo, getattr(memo, "topic_claims", None))


@kopf.on.startup(id="pipeline-claims")
async def keep_claims(memo: kopf.Memo, topic_claims: kopf.Index[str, Claim], **_: Any) -> None:
    # A live view kopf keeps current; retries run outside any handler and need it.
    memo.topic_claims = topic_claims


@kopf.on.resume(GROUP, VERSION, PLURAL, id="pipeline-resume")
@kopf.on.create(GROUP, VERSION, PLURAL, id="pipeline-create")
@kopf.on.update(GROUP, VERSION, PLURAL, id="pipeline-update", field="spec")
def on_change(body: kopf.Body, memo: kopf.Memo, topic_claims: kopf.Index[str, Claim],
              **_: Any) -> None:
    reconcile(body, memo, topic_claims)


def _pause_not_yet_reported(body: kopf.Body, **_: Any) -> bool:
    """The annotation and the ReconcilePaused condition disagree (level, not diff)."""
    return is_paused(body) != pause_reported(body) and not body.metadata.get(
        "deletionTimestamp")


# Pausing or resuming takes effect at once, not at the next resync pass.
@kopf.on.event(GROUP, VERSION, PLURAL, id="pipeline-pause", when=_pause_not_yet_reported)
def on_pause_annotation(body: kopf.Body, memo: kopf.Memo,
                        topic_claims: kopf.Index[str, Claim], **_: Any) -> None:
    reconcile(body, memo, topic_claims)


def on_children_changed(memo: kopf.Memo, namespace: str, name: str, uid: str,
                        child_deleted: bool) -> None:
    """A child of this pipeline changed or vanished: re-apply what differs."""
    body = child_event_matters(memo, PIPELINE, namespace, name, uid, child_deleted)
    if body is not None:
        reconcile(body, memo, None)


register_owner_callback(PIPELINE.kind, on_children_changed)


def _reselect(body: dict[str, Any], memo: kopf.Memo) -> None:
    # The children half only: the Prometheus objects changed, Kafka did not.
    reconcile(body, memo, None)


register_reselect(PIPELINE.kind, _reselect)


def _delete_policy_is_delete(spec: Any, **_: Any) -> bool:
    return bool(spec.get("topicDeletionPolicy") == "Delete")


@kopf.on.delete(GROUP, VERSION, PLURAL, id="pipeline-delete-topics",
                when=_delete_policy_is_delete)
def delete_topics(body: kopf.Body, memo: kopf.Memo, topic_claims: kopf.Index[str, Claim],
                  **_: Any) -> None:
    """Only with topicDeletionPolicy Delete (a finalizer exists only then): delete exactly
    the topics this pipeline owns — never one lost to an older claim.

    Deletion always completes unless Kafka itself is unreachable (then it waits, and
    pausing is the way out): a paused pipeline, a spec that cannot be read, credentials
    that are gone (a namespace being deleted takes its Secrets first) and a deletion
    Kafka refuses for good keep the topics, say why in a TopicsKept Event, and let go.
    """
    kube: Kube = memo.kube
    ns, uid = str(body.metadata.namespace), str(body.metadata.uid)
    if is_paused(body):
        _keep_topics(memo, body, f"paused ({PAUSE_ANNOTATION})")
        return
    try:
        spec = DashStreamPipelineSpec.from_body(body)
        conf = admin_config(spec.kafka, lambda ref: kube.read_secret(ns, ref))
    except SpecError as exc:
        _keep_topics(memo, body, f"the spec cannot be read ({exc})")
        return
    except SecretMissing as exc:
        _keep_topics(memo, body, f"the Kafka credentials are gone ({exc})")
        return
    mine, _lost = owned_topics(spec, uid, claims_for(spec, topic_claims))
    try:
        errors = memo.kafka.get(conf).delete(t.name for t in mine)
    except KafkaUnavailable as exc:
        # The one thing worth waiting for: Kafka coming back (pausing lets go).
        _deletion_waits(memo, body, f"cannot delete topics yet: {exc}")
        raise kopf.TemporaryError(str(exc), delay=RETRY_DELAY) from exc
    if errors:
        # Refused for good (no Delete ACL, a policy): waiting would hold the namespace
        # forever; say what was kept and why.
        _keep_topics(memo, body, "Kafka refused to delete: " + "; ".join(
            f"{e.topic}: {e.message}" for e in errors))
        return
    log.info("deleted topics %s", [t.name for t in mine],
             extra=about(PIPELINE.kind, ns, body.metadata.name))


def _deletion_waits(memo: kopf.Memo, body: kopf.Body, why: str) -> None:
    """Ready False TopicDeletionFailed, and its Event once per distinct reason."""
    old = DashStreamPipelineStatus.from_body(body)
    before = old.condition("Ready")
    conditions = apply_conditions(old.conditions or [], [
        ("Ready", "False", "TopicDeletionFailed", why[:MAX_MESSAGE])],
        body.metadata.get("generation"), now())
    write_status(memo, PIPELINE, body, status_patch(
        body.get("status"), old.model_copy(update={"conditions": conditions})))
    if before is None or (before.reason, before.message) != ("TopicDeletionFailed",
                                                             why[:MAX_MESSAGE]):
        memo.kube.post_event(body, "Warning", "TopicDeletionFailed", why)


def _keep_topics(memo: kopf.Memo, body: kopf.Body, why: str) -> None:
    names = ", ".join(t.get("name", "") for t in spec_topics(body))
    memo.kube.post_event(body, "Normal", "TopicsKept",
                         f"{why}: topics kept despite topicDeletionPolicy Delete: {names}")
    log.info("topics kept: %s", why, extra=about(PIPELINE.kind, body.metadata.namespace,
                                                  body.metadata.name))


def spec_topics(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The declared topic entries, read without the model (the spec may not parse)."""
    topics = (body.get("spec") or {}).get("topics")
    return [t for t in topics if isinstance(t, dict)] if isinstance(topics, list) else []
