"""Unit tests of the exporter's per-event metrics, session tracking and label bounds."""

from __future__ import annotations

import pytest

from dashstream_workloads.contract import MAX_MODEL_LABEL_VALUES, OTHER_LABEL_VALUE
from dashstream_workloads.exporter.quality import QualityMetrics, failure_category
from dashstream_workloads.exporter.sessions import LabelBounder, SessionTracker
from dashstream_workloads.proto.dashstream_pb2 import DashStreamMessage, LibrarianDetails


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def event(model: str = "m1", passed: bool = True, category: str = "", session: str = "s1",
          turn: int = 1, librarian: bool = False, header: bool = True) -> DashStreamMessage:
    msg = DashStreamMessage()
    if header:
        msg.header.thread_id = "t"
        msg.header.sequence = 1
        msg.header.schema_version = 1
    q = msg.quality
    q.model, q.passed, q.failure_category = model, passed, category
    q.quality_score, q.latency_ms, q.retry_count = 0.8, 120.0, 1
    q.session_id, q.turn_number = session, turn
    if librarian:
        q.librarian.test_status = LibrarianDetails.TEST_STATUS_FAILED
        q.librarian.iterations = 3
        q.librarian.request_duration_seconds = 0.4
    return msg


def sample(qm: QualityMetrics, name: str, **labels: str) -> float:
    v = qm.registry.get_sample_value(name, labels)
    return 0.0 if v is None else v


@pytest.mark.parametrize(("raw", "label"), [
    ("Simple", "Simple"), ("Edge", "Edge"), ("Unknown", "Unknown"), ("Timeout", "Unknown"),
    ("", "Unknown"), ("simple", "Unknown"),
])
def test_failure_category(raw: str, label: str) -> None:
    assert failure_category(raw) == label


def test_apply_counts_by_model_and_category() -> None:
    qm = QualityMetrics(session_timeout=300)
    for msg in (event("a"), event("a", passed=False, category="Complex"),
                event("b", passed=False, category="Timeout"), event("b", librarian=True)):
        assert qm.apply(msg) == "quality"
    assert sample(qm, "dashstream_quality_monitor_queries_total") == 4
    assert sample(qm, "dashstream_quality_monitor_queries_passed_total") == 2
    assert sample(qm, "dashstream_quality_monitor_queries_failed_total", category="Complex") == 1
    assert sample(qm, "dashstream_quality_monitor_queries_failed_total", category="Unknown") == 1
    assert sample(qm, "dashstream_queries_by_model_total", model="a") == 2
    assert sample(qm, "dashstream_latency_by_model_ms_count", model="b") == 2
    assert sample(qm, "dashstream_quality_retry_count_count", status="failed") == 2
    assert sample(qm, "dashstream_librarian_requests_total") == 1
    assert sample(qm, "dashstream_librarian_tests_total", status="failed") == 1
    assert sample(qm, "dashstream_librarian_iterations") == 3
    assert qm.tally == {"queries": 4, "passed": 2, "failed:Complex": 1, "failed:Unknown": 1,
                        "model:a": 2, "model:b": 2}


def test_wrong_scope_and_missing_header_are_counted_not_interpreted() -> None:
    qm = QualityMetrics(session_timeout=300)
    heartbeat = DashStreamMessage()
    heartbeat.header.thread_id = "t"
    heartbeat.heartbeat.messages_sent = 5
    assert qm.apply(heartbeat) == "wrong_scope"
    assert qm.apply(event(header=False)) == "missing_header"
    assert sample(qm, "dashstream_exporter_messages_wrong_scope_total") == 1
    assert sample(qm, "dashstream_exporter_messages_missing_header_total") == 1
    assert sample(qm, "dashstream_quality_monitor_queries_total") == 0


def test_turns_observed_once_per_session_on_timeout() -> None:
    clock = Clock()
    qm = QualityMetrics(session_timeout=10)
    qm.sessions = SessionTracker(10, clock=clock)
    for turn in (1, 2, 3):
        qm.apply(event(session="s1", turn=turn))
    qm.apply(event(session="s2", turn=1))
    assert qm.close_sessions() == 0
    clock.now = 11
    assert qm.close_sessions() == 2
    assert sample(qm, "dashstream_turns_by_session_count") == 2
    assert sample(qm, "dashstream_turns_by_session_sum") == 4  # 3 turns + 1 turn


def test_session_tracker_keeps_the_highest_turn_and_its_activity() -> None:
    clock = Clock()
    t = SessionTracker(timeout=5, clock=clock)
    t.observe("a", 2)
    clock.now = 4
    t.observe("a", 1)  # late, lower turn: still activity, highest stays 2
    t.observe("b", 7)
    clock.now = 6
    assert t.expire() == []
    clock.now = 9.5
    assert t.expire() == [2, 7]
    assert t.observe("", 3) == [] and len(t) == 0


def test_session_tracker_is_bounded() -> None:
    t = SessionTracker(timeout=1e9, max_sessions=2)
    assert t.observe("a", 1) == [] and t.observe("b", 4) == []
    assert t.observe("c", 2) == [1]  # "a" closed early to stay bounded
    assert sorted(t.drain()) == [2, 4] and len(t) == 0


def test_label_bounder() -> None:
    bound = LabelBounder(limit=2, other=OTHER_LABEL_VALUE)
    assert [bound(v) for v in ("x", "y", "z", "x", "")] == ["x", "y", "other", "x", "other"]
    assert LabelBounder(limit=5, other="other")("") == "unknown"


def test_model_labels_stay_within_the_contract_bound() -> None:
    qm = QualityMetrics(session_timeout=300)
    for i in range(MAX_MODEL_LABEL_VALUES + 20):
        qm.apply(event(f"model-{i}"))
    models = {s.labels["model"] for m in qm.registry.collect()
              if m.name == "dashstream_queries_by_model" for s in m.samples}
    assert len(models) == MAX_MODEL_LABEL_VALUES + 1 and OTHER_LABEL_VALUE in models
    assert sample(qm, "dashstream_queries_by_model_total", model=OTHER_LABEL_VALUE) == 20
