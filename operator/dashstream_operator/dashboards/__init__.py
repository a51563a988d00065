"""The canonical DashStream Grafana dashboards, generated from Python.

``dashboards/*.json`` in the repository is the output of :func:`generate`;
``python -m dashstream_operator.dashboards --check dashboards/`` (run by
``make check-generated``) fails when a committed copy differs, so the builders
here stay the one source.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from . import exporter, quality, streaming

__all__ = ["DASHBOARDS", "generate", "render"]

#: File name -> builder. The file name is ``<uid>.json`` so a dashboard is easy to find.
DASHBOARDS: dict[str, Callable[[], dict[str, Any]]] = {
    f"{quality.UID}.json": quality.build,
    f"{streaming.UID}.json": streaming.build,
    f"{exporter.UID}.json": exporter.build,
}


def render(dashboard: dict[str, Any]) -> str:
    """The committed text of a dashboard: 2-space indented JSON, UTF-8, final newline.

    Keys keep the builders' order (readable diffs: id, type, title first); the
    builders are deterministic, so the text is too.
    """
    return json.dumps(dashboard, indent=2, ensure_ascii=False) + "\n"


def generate() -> dict[str, str]:
    """File name -> rendered text for every canonical dashboard."""
    return {name: render(build()) for name, build in DASHBOARDS.items()}
