"""kopf handlers of DashStreamPipeline: thin — parse, reconcile, write status if changed.

Level-based: creation, spec changes, operator restarts and the resync loop
(handlers/resync.py) all run the same reconcile and never look at kopf's diff. The
loop is what puts back topics changed or deleted directly in Kafka.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import kopf

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
from dashstream_operator.reconcile.status import apply_conditions, status_patch, with_ready
from dashstream_operator.reconcile.topics import Claim, owned_topics, reconcile_topics

log = logging.getLogger(__name__)

PLURAL = PIPELINE.plural
RETRY_DELAY = 5.0
MAX_MESSAGE = 4000


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


def reconcile(body: kopf.Body, memo: kopf.Memo,
              topic_claims: Mapping[str, Iterable[Claim]], repair: bool) -> None:
    kube: Kube = memo.kube
    ns, uid = str(body.metadata.namespace), str(body.metadata.uid)
    generation = body.metadata.get("generation")
    old = DashStreamPipelineStatus.from_body(body)
    now = datetime.now(UTC).replace(microsecond=0)
    with object_lock(uid):
        try:
            spec = DashStreamPipelineSpec.from_body(body)
        except SpecError as exc:
            # Admission (CEL) should have refused it; report, do not retry.
            updates = with_ready([("TopicsReady", "False", "InvalidSpec", str(exc)[:MAX_MESSAGE])])
            _write(kube, body, old.model_copy(update={
                "observed_generation": generation,
                "conditions": apply_conditions(old.conditions or [], updates, generation, now)}))
            raise kopf.PermanentError(f"invalid spec: {exc}") from exc
        outcome = reconcile_topics(
            spec, uid, _claims_for(spec, topic_claims), memo.kafka,
            lambda ref: kube.read_secret(ns, ref))
        updates = with_ready([("TopicsReady", outcome.status, outcome.reason,
                               outcome.message[:MAX_MESSAGE])])
        new = old.model_copy(update={
            "observed_generation": generation,
            "conditions": apply_conditions(old.conditions or [], updates, generation, now),
            "topics": outcome.topics,
            "topics_ready": f"{outcome.ready_count}/{len(outcome.topics)}",
        })
        before = old.condition("TopicsReady")
        if before is None or (before.reason, before.message) != (outcome.reason, outcome.message):
            for reason, message in outcome.warnings:
                kopf.warn(body, reason=reason, message=message[:1024])
        if repair and outcome.plan and outcome.reason != "KafkaUnavailable":
            kopf.event(body, type="Normal", reason="TopicsRepaired",
                       message="; ".join(outcome.plan)[:1024])
        _write(kube, body, new)
    if outcome.retry:
        raise kopf.TemporaryError(outcome.message, delay=RETRY_DELAY)


def _write(kube: Kube, body: kopf.Body, new: DashStreamPipelineStatus) -> None:
    patch = status_patch(body.get("status"), new)
    if patch is not None:
        kube.patch_status(PIPELINE, str(body.metadata.namespace), str(body.metadata.name), patch)


@kopf.on.resume(GROUP, VERSION, PLURAL, id="pipeline-resume")
@kopf.on.create(GROUP, VERSION, PLURAL, id="pipeline-create")
@kopf.on.update(GROUP, VERSION, PLURAL, id="pipeline-update", field="spec")
def on_change(body: kopf.Body, memo: kopf.Memo, topic_claims: kopf.Index[str, Claim],
              **_: Any) -> None:
    reconcile(body, memo, topic_claims, repair=False)


def _delete_policy_is_delete(spec: Any, **_: Any) -> bool:
    return bool(spec.get("topicDeletionPolicy") == "Delete")


@kopf.on.delete(GROUP, VERSION, PLURAL, id="pipeline-delete-topics",
                when=_delete_policy_is_delete)
def delete_topics(body: kopf.Body, memo: kopf.Memo, topic_claims: kopf.Index[str, Claim],
                  **_: Any) -> None:
    """Only with topicDeletionPolicy Delete (a finalizer exists only then): delete exactly
    the topics this pipeline owns — never one lost to an older claim."""
    kube: Kube = memo.kube
    ns, uid = body.metadata.namespace, body.metadata.uid
    spec = DashStreamPipelineSpec.from_body(body)
    mine, _lost = owned_topics(spec, uid, _claims_for(spec, topic_claims))
    try:
        admin = memo.kafka.get(admin_config(spec.kafka, lambda ref: kube.read_secret(ns, ref)))
        errors = admin.delete(t.name for t in mine)
    except (KafkaUnavailable, SecretMissing) as exc:
        errors_text = f"cannot delete topics yet: {exc}"
    else:
        if not errors:
            log.info("deleted topics %s", [t.name for t in mine])
            return
        errors_text = "; ".join(f"{e.topic}: {e.message}" for e in errors)
    old = DashStreamPipelineStatus.from_body(body)
    now = datetime.now(UTC).replace(microsecond=0)
    generation = body.metadata.get("generation")
    updates = [("Ready", "False", "TopicDeletionFailed", errors_text[:MAX_MESSAGE])]
    _write(kube, body, old.model_copy(update={
        "conditions": apply_conditions(old.conditions or [], updates, generation, now)}))
    kopf.warn(body, reason="TopicDeletionFailed", message=errors_text[:1024])
    raise kopf.TemporaryError(errors_text, delay=RETRY_DELAY)
