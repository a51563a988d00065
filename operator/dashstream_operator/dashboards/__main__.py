"""``python -m dashstream_operator.dashboards --out DIR | --check DIR``.

``--out`` writes every canonical dashboard; ``--check`` writes nothing and exits
1 naming each file that is missing or differs, for ``make check-generated``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from . import generate

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dashstream_operator.dashboards",
        description="Generate the canonical DashStream Grafana dashboards.")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--out", type=Path, metavar="DIR", help="write the dashboards to DIR")
    mode.add_argument("--check", type=Path, metavar="DIR",
                      help="exit 1 if any dashboard in DIR is missing or differs")
    args = parser.parse_args(argv)
    files = generate()
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            path = args.out / name
            # Rewrite only what changed, so mtimes (and make) see real changes only.
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                path.write_text(text, encoding="utf-8")
                print(f"wrote {path}")
        return 0
    stale = []
    for name, text in files.items():
        path = args.check / name
        if not path.is_file():
            stale.append(f"{path}: missing")
        elif path.read_text(encoding="utf-8") != text:
            stale.append(f"{path}: differs from the generated dashboard")
    for line in stale:
        print(line, file=sys.stderr)
    if stale:
        print("run `make generate` (python -m dashstream_operator.dashboards --out "
              f"{args.check}) and commit the result", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
