"""Status assembly: sub-conditions in, the whole status (with Ready) out. Pure.

``lastTransitionTime`` moves only when a condition's status flips, and the caller
writes status only when the result differs from what the object has, so a no-op
reconcile writes nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from dashstream_operator.models import BaseStatus, Condition, merge_condition

__all__ = ["MAX_MESSAGE", "ConditionSpec", "apply_conditions", "as_specs", "invalid_spec_patch",
           "ready_of", "status_patch"]

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


def ready_of(parts: Sequence[ConditionSpec], tolerated: Collection[str] = ()) -> ConditionSpec:
    """Ready over the sub-conditions, the same rule for every kind: True only when each
    is True; otherwise the first that is not explains why — unless its type is in
    ``tolerated`` (a warning the spec accepts, e.g. unknown metrics under
    ``unknownMetrics: Warn``): then Ready is True with reason ``SyncedWithWarnings``."""
    warnings = []
    for type_, status, reason, message in parts:
        if type_ == "Ready" or status == "True":
            continue
        if type_ not in tolerated:
            return "Ready", "False", reason, message
        warnings.append(f"{type_} {reason}")
    if warnings:
        return ("Ready", "True", "SyncedWithWarnings",
                "all conditions are met, with warnings: " + ", ".join(warnings))
    return "Ready", "True", "Ready", "all conditions are met"


def as_specs(conditions: Sequence[Condition]) -> list[ConditionSpec]:
    return [(c.type, c.status, c.reason, c.message) for c in conditions]


def invalid_spec_patch(old: BaseStatus, body: Mapping[str, Any], condition: str,
                       error: str, now: datetime) -> dict[str, Any] | None:
    """Status of a spec the API server should have refused (its schema or CEL did not
    run, e.g. an older CRD): ``condition`` False with reason InvalidSpec, Ready after it."""
    generation = body["metadata"].get("generation")
    conditions = apply_conditions(old.conditions or [], [
        (condition, "False", "InvalidSpec", error[:MAX_MESSAGE])], generation, now)
    conditions = apply_conditions(conditions, [ready_of(as_specs(conditions))], generation, now)
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
