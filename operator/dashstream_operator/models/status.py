"""Status building blocks shared by the three kinds: conditions and the base status.

Conditions follow the Kubernetes convention (type, status, CamelCase reason,
message, lastTransitionTime, observedGeneration); :func:`merge_condition` keeps
``lastTransitionTime`` stable while the status does not change, so an unchanged
reconcile produces an identical status and writes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal, Self

from pydantic import Field

from .common import FreeForm, StatusModel, parse_model

__all__ = ["BaseStatus", "Condition", "ConditionStatus", "merge_condition"]

ConditionStatus = Literal["True", "False", "Unknown"]


class Condition(StatusModel):
    """One observation of the object's state, in the Kubernetes condition convention."""

    type: str = Field(
        min_length=1,
        max_length=316,
        pattern=r"^[A-Z][A-Za-z0-9]*$",
        description="Condition type in CamelCase, e.g. Ready, TopicsReady, Valid, Synced.",
    )
    status: ConditionStatus = Field(description="True, False or Unknown.")
    reason: str = Field(
        min_length=1,
        max_length=1024,
        pattern=r"^[A-Z][A-Za-z0-9]*$",
        description="Machine-readable CamelCase reason for the last transition, e.g. "
        "KafkaUnavailable or PartitionDecreaseRefused.",
    )
    message: str = Field(
        default="", max_length=32768, description="Human-readable details about the condition."
    )
    last_transition_time: datetime = Field(
        description="When the status last changed (not when the condition was last checked)."
    )
    observed_generation: int | None = Field(
        default=None,
        ge=0,
        description="The metadata.generation of the CR that this condition was computed from.",
    )


def merge_condition(
    conditions: Sequence[Condition],
    type_: str,
    status: ConditionStatus,
    reason: str,
    message: str = "",
    observed_generation: int | None = None,
    now: datetime | None = None,
) -> list[Condition]:
    """Return ``conditions`` with ``type_`` set; ``lastTransitionTime`` moves only when the
    status changes, so an unchanged reconcile produces an identical list (no status write)."""
    now = now or datetime.now(UTC).replace(microsecond=0)
    result: list[Condition] = []
    found = False
    for cond in conditions:
        if cond.type != type_:
            result.append(cond)
            continue
        found = True
        since = cond.last_transition_time if cond.status == status else now
        result.append(
            Condition(
                type=type_,
                status=status,
                reason=reason,
                message=message,
                last_transition_time=since,
                observed_generation=observed_generation,
            )
        )
    if not found:
        result.append(
            Condition(
                type=type_,
                status=status,
                reason=reason,
                message=message,
                last_transition_time=now,
                observed_generation=observed_generation,
            )
        )
    return result


class BaseStatus(StatusModel):
    """Status fields every DashStream kind has."""

    observed_generation: int | None = Field(
        default=None,
        ge=0,
        description="The metadata.generation the operator last reconciled.",
    )
    conditions: list[Condition] | None = Field(
        default=None,
        max_length=16,
        description="Current conditions of the object; always includes Ready once reconciled.",
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["type"],
        },
    )
    # kopf keeps handler progress in status.kopf; declaring it as free-form keeps
    # it from being pruned (kopf #321) while the rest of status stays structural.
    kopf: FreeForm | None = Field(
        default=None,
        description="Handler progress kept by the kopf framework; not part of the API.",
    )

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Self:
        """The status of a CR body, or an empty status when it has none yet."""
        return parse_model(cls, body.get("status") or {}, "status")

    def condition(self, type_: str) -> Condition | None:
        """The condition of the given type, if present."""
        return next((c for c in self.conditions or [] if c.type == type_), None)
