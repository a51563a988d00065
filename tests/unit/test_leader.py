"""The leader-election decision and the command line that turns it on."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dashstream_operator.leader import LeaseRecord, _micro_time, may_take
from dashstream_operator.main import parse_args

HELD = LeaseRecord("pod-a_1", "2026-12-07 15:00:00+00:00", 10)


def test_a_lease_is_taken_when_free_ours_or_unrenewed_for_its_duration() -> None:
    assert may_take(None, "pod-b_2", 0)                            # no Lease yet
    assert may_take(LeaseRecord("", "x", 1), "pod-b_2", 0)         # released
    assert may_take(HELD, "pod-a_1", 0)                            # ours: a renewal
    assert not may_take(HELD, "pod-b_2", 9.9)                      # held, renewed lately
    assert may_take(HELD, "pod-b_2", 10.0)                         # unchanged for 10 s


def test_micro_time_always_has_six_decimals() -> None:
    assert _micro_time(datetime(2026, 12, 7, 15, 0, 0, tzinfo=UTC)) == \
        "2026-12-07T15:00:00.000000Z"
    assert _micro_time(datetime(2026, 12, 7, 15, 0, 0, 120, tzinfo=UTC)).endswith(".000120Z")


def test_leader_election_needs_a_namespace(monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("POD_NAMESPACE", raising=False)
    with pytest.raises(SystemExit):
        parse_args(["-n", "ns", "--leader-elect"])
    assert "--leader-elect-namespace" in capsys.readouterr().err
    monkeypatch.setenv("POD_NAMESPACE", "ops")
    args = parse_args(["-n", "ns", "--leader-elect"])
    assert args.leader_elect and args.leader_elect_namespace == "ops"
    assert not parse_args(["-n", "ns"]).leader_elect
