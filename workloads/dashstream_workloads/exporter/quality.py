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
from typing import Any, Final, Literal, cast

from prometheus_client import Counter

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
from dashstream_workloads.exporter.histobatch import HistogramBatch
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
        # Every histogram is observed through a batch, flushed once per apply_batch.
        self._batches: list[HistogramBatch] = []
        self._latency = self._batch(get_histogram(m, "dashstream_query_latency_ms"))
        retries = get_histogram(m, "dashstream_quality_retry_count")
        self._retries = {True: self._batch(retries.labels("passed")),
                         False: self._batch(retries.labels("failed"))}
        self._score_by_model = get_histogram(m, "dashstream_quality_score_by_model")
        self._queries_by_model = get_counter(m, "dashstream_queries_by_model_total")
        self._latency_by_model = get_histogram(m, "dashstream_latency_by_model_ms")
        self._model_children: dict[str, tuple[HistogramBatch, Counter, HistogramBatch]] = {}
        self._turns = self._batch(get_histogram(m, "dashstream_turns_by_session"))
        self._lib_requests = get_counter(m, "dashstream_librarian_requests_total")
        lib_tests = get_counter(m, "dashstream_librarian_tests_total")
        self._lib_tests = {v: lib_tests.labels(v) for v in _LIB_STATUS.values()}
        self._lib_duration = self._batch(
            get_histogram(m, "dashstream_librarian_request_duration_seconds"))
        self._wrong_scope = get_counter(m, "dashstream_exporter_messages_wrong_scope_total")
        self._missing_header = get_counter(m, "dashstream_exporter_messages_missing_header_total")
        # Plain tallies of what was counted, for the shutdown log line (a restarted
        # exporter starts its counters at 0; the log keeps the previous run's totals).
        self.tally: Tally[str] = Tally()

    def _batch(self, child: Any) -> HistogramBatch:
        batch = HistogramBatch(child)
        self._batches.append(batch)
        return batch

    def _flush(self) -> None:
        for batch in self._batches:
            batch.flush()

    def _by_model(self, model: str) -> tuple[HistogramBatch, Counter, HistogramBatch]:
        children = self._model_children.get(model)
        if children is None:
            children = self._model_children[model] = (
                self._batch(self._score_by_model.labels(model)),
                self._queries_by_model.labels(model),
                self._batch(self._latency_by_model.labels(model)),
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
        # The per-event path is the exporter's ingest rate: plain locals and dicts
        # here, the Tally of what was counted is built once per batch below.
        last: QualityEvent | None = None
        last_lib: LibrarianDetails | None = None
        latency_h, retries, bound_model = self._latency, self._retries, self._model
        known_models = self._model.known
        by_model, model_children = self._by_model, self._model_children
        observe_session, now = self.sessions.observe_at, self.sessions.now()
        wrong_scope = missing_header = quality = passed = librarian = 0
        failed: dict[str, int] = {}
        models: dict[str, int] = {}
        lib_status: dict[str, int] = {}
        closed: list[int] = []
        # Whatever happens to one event, what the batch already evicted and observed
        # is published (the caller counts a failed batch and goes on).
        try:
            for msg in msgs:
                if msg.WhichOneof("payload") != "quality":
                    wrong_scope += 1
                    continue
                if not msg.HasField("header"):
                    # No header means no schema version was checked: do not interpret it.
                    missing_header += 1
                    continue
                q = msg.quality
                quality += 1
                ok = q.passed
                if ok:
                    passed += 1
                else:
                    category = failure_category(q.failure_category)
                    failed[category] = failed.get(category, 0) + 1
                latency = q.latency_ms
                latency_h.observe(latency)
                retries[ok].observe(q.retry_count)
                model = q.model
                if model not in known_models:
                    model = bound_model(model)
                models[model] = models.get(model, 0) + 1
                children = model_children.get(model) or by_model(model)
                children[0].observe(q.quality_score)
                children[2].observe(latency)
                evicted = observe_session(q.session_id, q.turn_number, now)
                if evicted:
                    closed += evicted
                if q.HasField("librarian"):
                    last_lib = q.librarian
                    librarian += 1
                    status = _LIB_STATUS.get(last_lib.test_status)
                    if status is not None:
                        lib_status[status] = lib_status.get(status, 0) + 1
                    self._lib_duration.observe(last_lib.request_duration_seconds)
                last = q
        finally:
            for turns in closed:
                self._turns.observe(turns)
            self._flush()
        n: Tally[str] = Tally({"wrong_scope": wrong_scope, "missing_header": missing_header,
                               "quality": quality, "passed": passed, "librarian": librarian})
        n.update({f"failed:{c}": k for c, k in failed.items()})
        n.update({f"model:{m}": k for m, k in models.items()})
        n.update({f"librarian:{st}": k for st, k in lib_status.items()})
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
        self._turns.flush()
        return len(closed)
