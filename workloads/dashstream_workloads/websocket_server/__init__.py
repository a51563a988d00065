"""websocket-server: streams the events topic to WebSocket clients on ``/ws``.

Sequence validation, a dead-letter topic for undecodable records, a replay
buffer (memory, and Redis with ``REDIS_URL``), bounded per-client queues, and
a live viewer at ``/``. See ``docs/servers.md``.
"""

from __future__ import annotations

__all__: list[str] = []
