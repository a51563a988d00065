"""Which pipeline owns a topic name of a Kafka cluster: every pipeline declaring it holds
a claim, and the oldest claim wins (reconcile/topics.py decides with them). Pure.

Claims come from kopf's index (kept current from the watch) in handlers, and from a
LIST in the resync pass; both go through :func:`claims_of`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from dashstream_operator.models import DashStreamPipelineSpec, SpecError
from dashstream_operator.reconcile.topics import Claim

__all__ = ["claim_key", "claims_for", "claims_index", "claims_of"]


def claim_key(bootstrap: str, topic: str) -> str:
    return f"{bootstrap}|{topic}"


def claims_of(spec: Mapping[str, Any], meta: Mapping[str, Any], status: Mapping[str, Any],
              namespace: str, name: str) -> dict[str, Claim]:
    try:
        model = DashStreamPipelineSpec.from_body({"spec": dict(spec)})
    except SpecError:
        return {}
    established = {t.get("name") for t in status.get("topics") or [] if t.get("ready")}
    created, uid = meta.get("creationTimestamp", ""), meta.get("uid", "")
    return {claim_key(model.kafka.bootstrap_servers, t.name):
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


def claims_for(spec: DashStreamPipelineSpec,
               index: Mapping[str, Iterable[Claim]]) -> dict[str, list[Claim]]:
    """The claims on each topic ``spec`` declares, from a claims index."""
    return {t.name: list(index.get(claim_key(spec.kafka.bootstrap_servers, t.name), []))
            for t in spec.resolved_topics()}
