"""Pausing one of our objects by annotation (as Strimzi's ``strimzi.io/pause-reconciliation``).

While ``dashstream.io/paused: "true"`` is set the operator leaves the object's topics
and children exactly as they are (no creates, no repairs, no pruning) and says so in a
``ReconcilePaused`` condition; deleting a paused pipeline keeps its topics even under
``topicDeletionPolicy: Delete``, which is the way out when the broker is gone for good
and the finalizer would otherwise wait for it. Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from dashstream_operator.models import BaseStatus, DashStreamPipelineStatus
from dashstream_operator.models.status import Condition
from dashstream_operator.reconcile.status import apply_conditions, status_patch

__all__ = ["PAUSED", "PAUSE_ANNOTATION", "is_paused", "pause_reported", "paused_patch",
           "without_pause"]

PAUSE_ANNOTATION = "dashstream.io/paused"
PAUSED = "ReconcilePaused"


def is_paused(body: Mapping[str, Any]) -> bool:
    annotations = (body.get("metadata") or {}).get("annotations") or {}
    return str(annotations.get(PAUSE_ANNOTATION, "")).strip().lower() == "true"


def pause_reported(body: Mapping[str, Any]) -> bool:
    """The status already says ReconcilePaused=True."""
    return any(c.get("type") == PAUSED and c.get("status") == "True"
               for c in (body.get("status") or {}).get("conditions") or [])


def paused_patch(body: Mapping[str, Any], now: datetime,
                 status_type: type[BaseStatus] = DashStreamPipelineStatus,
                 ) -> dict[str, Any] | None:
    """ReconcilePaused=True; every other condition keeps what was last observed."""
    old = status_type.from_body(body)
    conditions = apply_conditions(old.conditions or [], [(
        PAUSED, "True", "Paused", f"annotation {PAUSE_ANNOTATION}=true: what this object manages "
        "is left as it is; remove the annotation to resume")],
        body["metadata"].get("generation"), now)
    return status_patch(body.get("status"), old.model_copy(update={"conditions": conditions}))


def without_pause(conditions: list[Condition] | None) -> list[Condition]:
    """The conditions once resumed: ReconcilePaused goes (Ready is computed over every
    condition present, and a pause that ended explains nothing)."""
    return [c for c in conditions or [] if c.type != PAUSED]
