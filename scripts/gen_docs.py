#!/usr/bin/env python3
"""Write (or --check) the reference docs generated from their one source each:
docs/metrics.md from the metrics contract, docs/configuration.md from the settings."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from dashstream_workloads.contract import render_metrics_markdown
from dashstream_workloads.settings import render_settings_markdown

REPO = Path(__file__).resolve().parents[1]
DOCS: dict[str, Callable[[], str]] = {
    "docs/metrics.md": render_metrics_markdown,
    "docs/configuration.md": render_settings_markdown,
}


def main(argv: list[str]) -> int:
    differ = []
    for name, render in DOCS.items():
        path, text = REPO / name, render()
        if "--check" not in argv:
            path.write_text(text)
        elif not path.exists() or path.read_text() != text:
            differ.append(name)
    for name in differ:
        print(f"{name}: differs from its source (run make generate)")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
