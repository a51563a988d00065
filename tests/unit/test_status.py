"""Status assembly for a spec the API server should have refused (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

from dashstream_operator.models import AlertRuleSetStatus, DashStreamPipelineStatus
from dashstream_operator.reconcile.status import MAX_MESSAGE, invalid_spec_patch

NOW = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)


def _body(status: dict[str, object] | None, generation: int = 3) -> dict[str, object]:
    return {"metadata": {"name": "x", "namespace": "ns", "generation": generation},
            "status": status}


def test_invalid_spec_sets_the_condition_and_ready_with_the_error() -> None:
    body = _body(None)
    patch = invalid_spec_patch(AlertRuleSetStatus.from_body(body), body, "Valid",
                               "spec.groups: " + "x" * 5000, NOW)
    assert patch is not None
    assert patch["observedGeneration"] == 3
    conds = {c["type"]: c for c in patch["conditions"]}
    assert set(conds) == {"Valid", "Ready"}
    for c in conds.values():
        assert (c["status"], c["reason"]) == ("False", "InvalidSpec")
        assert c["message"].startswith("spec.groups: ") and len(c["message"]) == MAX_MESSAGE


def test_the_same_invalid_spec_reported_again_writes_nothing() -> None:
    body = _body(None, generation=5)
    first = invalid_spec_patch(DashStreamPipelineStatus.from_body(body), body, "TopicsReady",
                               "bad", NOW)
    assert first is not None
    again = _body(first, generation=5)
    assert invalid_spec_patch(DashStreamPipelineStatus.from_body(again), again,
                              "TopicsReady", "bad", NOW) is None
