"""prometheus-exporter: consumes the events topic into the quality metrics
(``dashstream_*``) and its own health metrics. See ``docs/servers.md``."""

from __future__ import annotations

__all__: list[str] = []
