"""A DashboardSet's status: per-dashboard outcomes into conditions, entries and Events.

Kopf-free, as the reconcile that fills in the outcomes (reconcile/dashboardset.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from dashstream_operator.models import DashboardSetStatus, DashboardStatus
from dashstream_operator.reconcile.pause import without_pause
from dashstream_operator.reconcile.status import (
    MAX_MESSAGE,
    ConditionSpec,
    apply_conditions,
    ready_of,
    status_patch,
)

__all__ = ["CONFLICT", "Outcome", "build_status"]

CONFLICT = "UidConflict"
MAX_ERRORS, MAX_ERROR = 10, 500
# Synced's reason when several dashboards are out: the first of these that applies.
_PRIORITY = (CONFLICT, "TooLarge", "InvalidDashboard", "SourceError", "UnknownMetrics")


@dataclass
class Outcome:
    name: str
    uid: str = ""
    title: str = ""
    panels: int | None = None
    payload: bytes | None = None
    errors: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    invalid: str | None = None  # SourceError or InvalidDashboard (the Valid condition)
    problem: str | None = None  # one of _PRIORITY: why it is not synced
    conflict: bool = False
    kept: bool = False
    packed: bool = False  # stored gzipped for the sidecar
    synced: bool = False

    def fail(self, problem: str, message: str) -> None:
        self.errors.append(message)
        self.problem = self.problem or problem


def _conditions(outcomes: Sequence[Outcome], reject: bool,
                target_problem: ConditionSpec | None) -> list[ConditionSpec]:
    n = len(outcomes)
    invalid = [o for o in outcomes if o.invalid]
    valid: ConditionSpec = ("Valid", "True", "Valid", f"{n} dashboards valid")
    if invalid:
        valid = ("Valid", "False", str(invalid[0].invalid),
                 "; ".join(f"{o.name}: {o.errors[0]}" for o in invalid))
    unknown = [o for o in outcomes if o.unknown]
    metrics: ConditionSpec = ("MetricsResolved", "True", "MetricsResolved",
                              "every metric is exported by a selected component or recorded")
    if unknown:
        note = "" if reject else " (unknownMetrics: Warn, synced anyway)"
        metrics = ("MetricsResolved", "False", "UnknownMetrics", "; ".join(
            f"{o.name}: {', '.join(o.unknown)}" for o in unknown) + note)
    done = sum(o.synced for o in outcomes)
    out = [o for o in outcomes if not o.synced]
    packed = [o.name for o in outcomes if o.synced and o.packed]
    synced: ConditionSpec = ("Synced", "True", "Synced", f"{done}/{n} dashboards synced" + (
        f"; gzipped in binaryData, which the stock Grafana sidecar does not unpack: "
        f"{', '.join(packed)}" if packed else ""))
    if target_problem:
        synced = target_problem
    elif out:
        problems = {o.problem for o in out}
        reason = next((p for p in _PRIORITY if p in problems), "NotSynced")
        synced = ("Synced", "False", reason, f"{done}/{n} synced; not synced: " + ", ".join(
            f"{o.name} ({o.problem}{', last synced version kept' if o.kept else ''})"
            for o in out))
    ready = ready_of([valid, metrics, synced], tolerated=() if reject else ("MetricsResolved",))
    return [(t, s, r, m[:MAX_MESSAGE]) for t, s, r, m in (valid, metrics, synced, ready)]


def _events(old: DashboardSetStatus, updates: Sequence[ConditionSpec]) -> list[Any]:
    """Only on transitions: a condition turning False (Warning), Synced turning True."""
    events = []
    for type_, status, reason, message in updates:
        before = old.condition(type_)
        if type_ == "Ready" or (before and (before.status, before.reason) == (status, reason)):
            continue
        if status == "False":
            events.append(("Warning", reason, message[:1024]))
        elif type_ == "Synced":
            events.append(("Normal", "Synced", message[:1024]))
    return events


def _entry(o: Outcome) -> DashboardStatus:
    # Bounded: a status near etcd's limit would make every status write fail.
    errors = [e[:MAX_ERROR] for e in o.errors[:MAX_ERRORS]]
    if len(o.errors) > MAX_ERRORS:
        errors[-1] = f"... and {len(o.errors) - MAX_ERRORS + 1} more errors"
    return DashboardStatus(
        name=o.name, uid=o.uid[:128] or None, title=o.title[:512] or None, panels=o.panels,
        bytes=len(o.payload) if o.payload is not None else None,
        unknown_metrics=[m[:256] for m in o.unknown[:64]] or None, errors=errors or None,
        synced=o.synced)


def build_status(body: Mapping[str, Any], outcomes: Sequence[Outcome], reject: bool,
                 problem: ConditionSpec | None,
                 ) -> tuple[dict[str, Any] | None, list[Any]]:
    """(the status patch, the Events) for these outcomes; ``problem``: a Synced=False
    condition that overrides the outcomes' (no usable target, apply failed)."""
    meta = body["metadata"]
    updates = _conditions(outcomes, reject, problem)
    old = DashboardSetStatus.from_body(body)
    events = _events(old, updates)
    generation = meta.get("generation")
    conditions = apply_conditions(without_pause(old.conditions), updates, generation,
                                  datetime.now(UTC).replace(microsecond=0))
    new = old.model_copy(update={
        "observed_generation": generation, "conditions": conditions,
        "dashboards": [_entry(o) for o in outcomes],
        "dashboards_synced": f"{sum(o.synced for o in outcomes)}/{len(outcomes)}"})
    return status_patch(body.get("status"), new), events
