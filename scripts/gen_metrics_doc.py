#!/usr/bin/env python3
"""Write (or --check) docs/metrics.md from the metrics contract, its one source."""

from __future__ import annotations

import sys
from pathlib import Path

from dashstream_workloads.contract import render_metrics_markdown

DOC = Path(__file__).resolve().parents[1] / "docs/metrics.md"


def main(argv: list[str]) -> int:
    text = render_metrics_markdown()
    if "--check" in argv:
        if not DOC.exists() or DOC.read_text() != text:
            print(f"{DOC}: differs from the metrics contract (run make generate)")
            return 1
        return 0
    DOC.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
