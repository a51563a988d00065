"""``DashStreamPipeline.spec.scheduling``: where the components' pods may run.

A subset of the core PodSpec fields that SREs set on every workload (dedicated
node pools, tainted nodes), copied onto each component's pod template as given.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from .common import ApiModel

__all__ = ["PodScheduling", "Toleration"]

LabelValue = Annotated[str, Field(max_length=63)]


class Toleration(ApiModel):
    """A core/v1 Toleration: lets the pods run on nodes with a matching taint."""

    key: str | None = Field(default=None, max_length=316,
                            description="Taint key to match; empty with Exists matches all.")
    operator: Literal["Exists", "Equal"] | None = Field(
        default=None, description="Exists or Equal (the default).")
    value: str | None = Field(default=None, max_length=63,
                              description="Taint value to match with Equal.")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = Field(
        default=None, description="Taint effect to match; empty matches all effects.")
    toleration_seconds: int | None = Field(
        default=None, ge=0, description="How long a NoExecute taint is tolerated.")

    def to_k8s(self) -> dict[str, Any]:
        """The Toleration as the API server stores it (unset fields left out)."""
        return self.model_dump(by_alias=True, exclude_none=True)


class PodScheduling(ApiModel):
    """Placement of the components' pods."""

    node_selector: dict[Annotated[str, Field(max_length=316)], LabelValue] | None = Field(
        default=None, max_length=32,
        description="Node labels the pods require, e.g. {node-pool: streaming}.")
    tolerations: list[Toleration] | None = Field(
        default=None, max_length=32, description="Taints the pods tolerate.")
