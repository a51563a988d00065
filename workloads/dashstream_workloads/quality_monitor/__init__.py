"""quality-monitor: publishes synthetic QualityEvents to Kafka at a steady rate.

Idempotent producer, per-thread sequence numbers, metrics of what reached
Kafka, and (with ``--fault-injection``) an admin endpoint that injects a
sequence gap, duplicate or reorder. See ``docs/servers.md``.
"""

from __future__ import annotations

__all__: list[str] = []
