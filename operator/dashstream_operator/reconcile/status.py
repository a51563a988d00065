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

__all__ = ["ConditionSpec", "apply_conditions", "ready_condition", "status_patch", "with_ready"]

# (type, status, reason, message)
ConditionSpec = tuple[str, str, str, str]


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
