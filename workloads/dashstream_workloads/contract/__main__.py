"""``python -m dashstream_workloads.contract``: print the metrics contract."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from dashstream_workloads.contract.catalog import contract_as_dict
from dashstream_workloads.contract.markdown import render_metrics_markdown
from dashstream_workloads.contract.spec import COMPONENTS

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Print the contract as JSON or Markdown.

    Parameters
    ----------
    argv
        Command-line arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status.
    """
    parser = argparse.ArgumentParser(
        prog="python -m dashstream_workloads.contract",
        description="Print the DashStream metrics contract.",
        epilog="docs/metrics.md is the markdown output; regenerate it with "
        "`--format markdown > docs/metrics.md`.",
    )
    parser.add_argument("--format", choices=("json", "markdown"), default="json")
    parser.add_argument(
        "--component",
        action="append",
        choices=COMPONENTS,
        help="JSON only: restrict to this component (repeatable; default all)",
    )
    args = parser.parse_args(argv)
    if args.format == "markdown":
        if args.component:
            parser.error("--component applies to --format json only")
        sys.stdout.write(render_metrics_markdown())
    else:
        json.dump(contract_as_dict(args.component), sys.stdout, indent=2)
        sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
