#!/usr/bin/env python3
"""Write (or --check) docs/configuration.md from dashstream_workloads.settings, its one source."""

from __future__ import annotations

import sys
from pathlib import Path

from dashstream_workloads.settings import render_settings_markdown

DOC = Path(__file__).resolve().parents[1] / "docs/configuration.md"


def main(argv: list[str]) -> int:
    text = render_settings_markdown()
    if "--check" in argv:
        if not DOC.exists() or DOC.read_text() != text:
            print(f"{DOC}: differs from dashstream_workloads.settings (run make generate)")
            return 1
        return 0
    DOC.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
