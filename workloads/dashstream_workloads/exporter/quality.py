"""Turn decoded messages into the exporter's quality and librarian metrics.

Every metric comes from the contract registry; this module decides what a
message means for them. Unknown failure categories count as ``Unknown`` and
model names beyond the contract's bound as ``other``, so label values stay
within what the contract publishes.
"""

from __future__ import annotations

import functools
import time
from collections import Counter as Tally
from collections.abc import Iterable
from typing import Final, Literal, cast

from prometheus_client import Counter, Histogram

from dashstream_workloads.contract import (
    FAILURE_CATEGORIES,
    MAX_MODEL_LABEL_VALUES,
    OTHER_LABEL_VALUE,
    PROMETHEUS_EXPORTER,
    build_registry,
    get_counter,
    get_gauge,
    get_histogram,
)
from dashstream_workloads.exporter.sessions import LabelBounder, SessionTracker
from dashstream_workloads.proto.dashstream_pb2 import (
    DashStreamMessage,
    LibrarianDetails,
    QualityEvent,
)

__all__ = ["Outcome", "QualityMetrics", "failure_category"]

Outcome = Literal["quality", "wrong_scope", "missing_header"]
_CATEGORIES: Final = frozenset(FAILURE_CATEGORIES)
_OUTCOMES: Final = frozenset({"quality", "wrong_scope", "missing_header"})
_LIB_STATUS: Final = {
    LibrarianDetails.TEST_STATUS_PASSED: "passed",
    LibrarianDetails.TEST_STATUS_FAILED: "failed",
}


def failure_category(raw: str) -> str:
    """The ``category`` label of a failed query."""
    return raw if raw in _CATEGORIES else "Unknown"


class QualityMetrics:
    """The exporter's registry and the per-event update."""

    def __init__(self, session_timeout: float) -> None:
        self.registry, m = build_registry(PROMETHEUS_EXPORTER)
        self.m = m
        self.sessions = SessionTracker(session_timeout)
        self._model = LabelBounder(MAX_MODEL_LABEL_VALUES, OTHER_LABEL_VALUE)
        g = functools.partial(get_gauge, m)
        self._score = g("dashstream_quality_monitor_quality_score")
        self._accuracy = g("dashstream_quality_accuracy")
        self._relevance = g("dashstream_quality_relevance")
        self._completeness = g("dashstream_quality_completeness")
        self._gauges_updated = g("dashstream_exporter_gauges_last_update_timestamp_seconds")
        self._last_event = g("dashstream_exporter_last_event_timestamp_seconds")
        self._lib_iterations = g("dashstream_librarian_iterations")
        self._queries = get_counter(m, "dashstream_quality_monitor_queries_total")
        self._passed = get_counter(m, "dashstream_quality_monitor_queries_passed_total")
        failed = get_counter(m, "dashstream_quality_monitor_queries_failed_total")
        self._failed = {c: failed.labels(c) for c in FAILURE_CATEGORIES}
        self._latency = get_histogram(m, "dashstream_query_latency_ms")
        retries = get_histogram(m, "dashstream_quality_retry_count")
        self._retries = {True: retries.labels("passed"), False: retries.labels("failed")}
        self._score_by_model = get_histogram(m, "dashstream_quality_score_by_model")
        self._queries_by_model = get_counter(m, "dashstream_queries_by_model_total")
        self._latency_by_model = get_histogram(m, "dashstream_latency_by_model_ms")
        self._model_children: dict[str, tuple[Histogram, Counter, Histogram]] = {}
        self._turns = get_histogram(m, "dashstream_turns_by_session")
        self._lib_requests = get_counter(m, "dashstream_librarian_requests_total")
        lib_tests = get_counter(m, "dashstream_librarian_tests_total")
        self._lib_tests = {v: lib_tests.labels(v) for v in _LIB_STATUS.values()}
        self._lib_duration = get_histogram(m, "dashstream_librarian_request_duration_seconds")
        self._wrong_scope = get_counter(m, "dashstream_exporter_messages_wrong_scope_total")
        self._missing_header = get_counter(m, "dashstream_exporter_messages_missing_header_total")
        # Plain tallies of what was counted, for the shutdown log line (a restarted
        # exporter starts its counters at 0; the log keeps the previous run's totals).
        self.tally: Tally[str] = Tally()

    def _by_model(self, model: str) -> tuple[Histogram, Counter, Histogram]:
        children = self._model_children.get(model)
        if children is None:
            children = self._model_children[model] = (
                self._score_by_model.labels(model),
                self._queries_by_model.labels(model),
                self._latency_by_model.labels(model),
            )
        return children

    def apply(self, msg: DashStreamMessage) -> Outcome:
        """Count one decoded message."""
        outcome = next(iter(self.apply_batch([msg])))
        return cast(Outcome, outcome)

    def apply_batch(self, msgs: Iterable[DashStreamMessage]) -> Tally[str]:
        """Count decoded messages; returns how many had each :data:`Outcome`.

        Histograms are observed per event; counters are added and the
        "last event" gauges set once per batch, which scrapes cannot tell
        apart from per-event updates and which roughly doubles the ingest rate
        (prometheus_client takes a lock per operation).
        """
        n: Tally[str] = Tally()
        last: QualityEvent | None = None
        last_lib: LibrarianDetails | None = None
        turns_h, latency_h, retries = self._turns, self._latency, self._retries
        for msg in msgs:
            if msg.WhichOneof("payload") != "quality":
                n["wrong_scope"] += 1
                continue
            if not msg.HasField("header"):
                # No header means no schema version was checked: do not interpret it.
                n["missing_header"] += 1
                continue
            q = msg.quality
            n["quality"] += 1
            if q.passed:
                n["passed"] += 1
            else:
                n[f"failed:{failure_category(q.failure_category)}"] += 1
            latency_h.observe(q.latency_ms)
            retries[q.passed].observe(q.retry_count)
            model = self._model(q.model)
            n[f"model:{model}"] += 1
            score_by_model, _, latency_by_model = self._by_model(model)
            score_by_model.observe(q.quality_score)
            latency_by_model.observe(q.latency_ms)
            for turns in self.sessions.observe(q.session_id, q.turn_number):
                turns_h.observe(turns)
            if q.HasField("librarian"):
                last_lib = q.librarian
                n["librarian"] += 1
                status = _LIB_STATUS.get(last_lib.test_status)
                if status is not None:
                    n[f"librarian:{status}"] += 1
                self._lib_duration.observe(last_lib.request_duration_seconds)
            last = q
        self._add(n, last, last_lib)
        return +Tally({k: v for k, v in n.items() if k in _OUTCOMES})

    def _add(self, n: Tally[str], last: QualityEvent | None,
             last_lib: LibrarianDetails | None) -> None:
        if n["wrong_scope"]:
            self._wrong_scope.inc(n["wrong_scope"])
        if n["missing_header"]:
            self._missing_header.inc(n["missing_header"])
        if last is None:
            return
        now = time.time()
        self._queries.inc(n["quality"])
        self._passed.inc(n["passed"])
        for key, count in n.items():
            if key.startswith("failed:"):
                self._failed[key[7:]].inc(count)
            elif key.startswith("model:"):
                self._by_model(key[6:])[1].inc(count)
        self._lib_requests.inc(n["librarian"])
        for status, child in self._lib_tests.items():
            child.inc(n[f"librarian:{status}"])
        if last_lib is not None:
            self._lib_iterations.set(last_lib.iterations)
        self._score.set(last.quality_score)
        self._accuracy.set(last.accuracy)
        self._relevance.set(last.relevance)
        self._completeness.set(last.completeness)
        self._gauges_updated.set(now)
        self._last_event.set(now)
        tally = self.tally
        tally["queries"] += n["quality"]
        tally["passed"] += n["passed"]
        for key, count in n.items():
            if key.startswith(("failed:", "model:")):
                tally[key] += count

    def close_sessions(self, *, all_sessions: bool = False) -> int:
        """Observe timed-out (or, at shutdown, all) sessions; returns how many."""
        closed = self.sessions.drain() if all_sessions else self.sessions.expire()
        for turns in closed:
            self._turns.observe(turns)
        return len(closed)
