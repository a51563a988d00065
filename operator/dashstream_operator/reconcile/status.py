"""Status assembly: sub-conditions in, the whole status (with Ready) out. Pure.

``lastTransitionTime`` moves only when a condition's status flips, and the caller
writes status only when the result differs from what the object has, so a no-op
reconcile writes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from dashstream_operator.models import BaseStatus, Condition, merge_condition

__all__ = ["MAX_MESSAGE", "ConditionSpec", "apply_conditions", "invalid_spec_patch",
           "ready_condition", "status_patch", "with_ready"]

# (type, status, reason, message)
ConditionSpec = tuple[str, str, str, str]
# Condition messages are cut here: a status must stay readable (and far below etcd's
# object size limit) whatever an error text holds.
MAX_MESSAGE = 4000


def apply_conditions(conditions: Sequence[Condition], updates: Sequence[ConditionSpec],
                     generation: int | None, now: datetime) -> list[Condition]:
    out = list(conditions)
    for type_, status, reason, message in updates:
        out = merge_condition(out, type_, status, reason, message,  # type: ignore[arg-type]
                              observed_generation=generation, now=now)
    return out


def with_ready(updates: Sequence[ConditionSpec]) -> list[ConditionSpec]:
    """Ready = every sub-condition True; otherwise the first False one explains why."""
    failing = [u for u in updates if u[1] != "True"]
    if not failing:
        return [*updates, ("Ready", "True", "Ready", "all conditions are met")]
    _, _, reason, message = failing[0]
    return [*updates, ("Ready", "False", reason, message)]


def ready_condition(conditions: Sequence[Condition]) -> ConditionSpec:
    """Ready over every sub-condition present (e.g. TopicsReady, WorkloadsReady,
    MonitoringReady): True only when all are True; else the first that is not says why."""
    for cond in conditions:
        if cond.type != "Ready" and cond.status != "True":
            return "Ready", "False", cond.reason, cond.message
    return "Ready", "True", "Ready", "all conditions are met"


def invalid_spec_patch(old: BaseStatus, body: Mapping[str, Any], condition: str,
                       error: str, now: datetime) -> dict[str, Any] | None:
    """Status of a spec the API server should have refused (its schema or CEL did not
    run, e.g. an older CRD): ``condition`` False with reason InvalidSpec, Ready after it."""
    generation = body["metadata"].get("generation")
    conditions = apply_conditions(old.conditions or [], [
        (condition, "False", "InvalidSpec", error[:MAX_MESSAGE])], generation, now)
    conditions = apply_conditions(conditions, [ready_condition(conditions)], generation, now)
    new = old.model_copy(update={"observed_generation": generation, "conditions": conditions})
    return status_patch(body.get("status"), new)


def status_patch(old: Mapping[str, Any] | None, new: BaseStatus) -> dict[str, Any] | None:
    """The merge patch that turns ``old`` into ``new``, or None when nothing changed.

    kopf's own ``status.kopf`` is left alone; fields we no longer report are nulled.
    """
    old = {k: v for k, v in (old or {}).items() if k != "kopf"}
    wire = {k: v for k, v in new.to_wire().items() if k != "kopf"}
    if wire == old:
        return None
    patch: dict[str, Any] = dict(wire)
    for key in old:
        if key not in wire:
            patch[key] = None
    return patch
