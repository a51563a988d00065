"""Synthetic quality events with realistic variety, and their sequence numbers.

Each of ``sessions`` slots is one *thread* (the sequence space of the wire
header): its sequence numbers run 1, 2, 3, ... for the life of the process.
Within a slot, sessions follow one another (a new ``session_id`` after a
random number of turns), so the exporter's turns-per-session histogram sees
real distributions. Thread ids carry a per-process run id: a restarted
monitor starts new sequence spaces instead of replaying numbers a consumer
would take for duplicates.
"""

from __future__ import annotations

import os
import random
import socket
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from dashstream_workloads.proto.dashstream_pb2 import (
    MESSAGE_TYPE_QUALITY,
    DashStreamMessage,
    LibrarianDetails,
)
from dashstream_workloads.wire import SCHEMA_VERSION

__all__ = ["PASS_THRESHOLD", "EventGenerator"]

#: Score at or above which a query passes (the exporter trusts ``passed``).
PASS_THRESHOLD: Final = 0.7
# Failure categories with weights; "Timeout" is deliberately not a contract value,
# so consumers exercise their mapping of unknown categories to "Unknown".
_CATEGORIES: Final = (("Simple", 4), ("Medium", 5), ("Complex", 4), ("Edge", 2),
                      ("Unknown", 1), ("Timeout", 1))
_LIBRARIAN_SHARE: Final = 0.25
_MAX_TURNS: Final = 12


@dataclass
class _Slot:
    thread_id: str
    sequence: int = 0
    session: int = 0
    session_id: str = ""
    turn: int = 0
    turns_planned: int = 0


class EventGenerator:
    """Builds :class:`DashStreamMessage` quality events, one thread slot at a time."""

    def __init__(
        self,
        models: Sequence[str],
        sessions: int,
        tenant_id: str,
        seed: int | None = None,
        run_id: str | None = None,
    ) -> None:
        if not models:
            raise ValueError("QUALITY_MONITOR_MODELS must name at least one model")
        self.rng = random.Random(seed)
        self.models = tuple(models)
        self.tenant_id = tenant_id
        # Thread and session ids start with it: the pod's name (HOSTNAME in a pod; two
        # replicas never share one) and a random part (a restarted container starts new
        # threads, whose sequence numbers start again at 1).
        host = os.environ.get("HOSTNAME") or socket.gethostname()
        self.run_id = run_id or f"{host}-{os.urandom(4).hex()}"
        self.slots = [_Slot(thread_id=f"qm-{self.run_id}-t{i}") for i in range(sessions)]
        # Each model gets a stable quality and speed profile, so per-model panels differ.
        self._profile = {
            m: (0.78 + 0.12 * (i % 3) / 2, 250.0 * (1 + i % 4)) for i, m in enumerate(self.models)
        }
        self._next_slot = 0

    def next_slot(self) -> int:
        """Round-robin over slots (so every thread advances at the same pace)."""
        slot = self._next_slot
        self._next_slot = (slot + 1) % len(self.slots)
        return slot

    def skip_sequence(self, slot: int) -> int:
        """Fault injection: burn one sequence number; returns the one skipped."""
        self.slots[slot].sequence += 1
        return self.slots[slot].sequence

    def unsend(self, slot: int) -> None:
        """Give back the last sequence number: its event never reached the producer."""
        self.slots[slot].sequence -= 1

    def event(self, slot_index: int, now_us: int | None = None) -> DashStreamMessage:
        slot = self.slots[slot_index]
        rng = self.rng
        if slot.turn >= slot.turns_planned:
            slot.session += 1
            slot.session_id = f"qm-{self.run_id}-s{slot_index}-{slot.session}"
            slot.turn = 0
            slot.turns_planned = rng.randint(1, _MAX_TURNS)
        slot.turn += 1
        slot.sequence += 1

        msg = DashStreamMessage()
        h = msg.header
        h.message_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        h.timestamp_us = now_us if now_us is not None else time.time_ns() // 1000
        h.tenant_id = self.tenant_id
        h.thread_id = slot.thread_id
        h.sequence = slot.sequence
        h.schema_version = SCHEMA_VERSION
        h.message_type = MESSAGE_TYPE_QUALITY

        model = rng.choice(self.models)
        base_quality, base_latency = self._profile[model]
        q = msg.quality
        q.quality_score = _unit(rng.gauss(base_quality, 0.1))
        q.accuracy = _unit(rng.gauss(q.quality_score, 0.05))
        q.relevance = _unit(rng.gauss(q.quality_score, 0.05))
        q.completeness = _unit(rng.gauss(q.quality_score, 0.07))
        q.passed = q.quality_score >= PASS_THRESHOLD
        if not q.passed:
            names, weights = zip(*_CATEGORIES, strict=True)
            q.failure_category = rng.choices(names, weights)[0]
        q.model = model
        q.latency_ms = round(min(60_000.0, rng.lognormvariate(0, 0.6) * base_latency), 2)
        q.retry_count = min(10, int(rng.expovariate(2.5 if q.passed else 0.8)))
        q.session_id = slot.session_id
        q.turn_number = slot.turn
        if rng.random() < _LIBRARIAN_SHARE:
            q.application = "librarian"
            lib = q.librarian
            lib.test_status = (LibrarianDetails.TEST_STATUS_PASSED if q.passed
                               else LibrarianDetails.TEST_STATUS_FAILED)
            lib.request_duration_seconds = q.latency_ms / 1000
            lib.iterations = 1 + q.retry_count
        else:
            q.application = "assistant"
        return msg


def _unit(x: float) -> float:
    return round(min(1.0, max(0.0, x)), 4)
