"""`dashstream dashboards check --prometheus URL PATH...`: does every panel return data?

Runs each panel's queries against that Prometheus as Grafana would (its macros, the
step from the time range and max data points, template variables resolved from their
own ``label_values`` queries with every value selected) over the last ``--since``.
PATH is a dashboard ``.json`` file or a directory of them.

Exit status: 0 when every panel returns data or is declared incident-only
(``"dashstreamIncidentOnly": "<reason>"`` on the panel), 1 when a panel has no data or
Prometheus refused a query, 2 on usage errors (a path, a URL that does not answer).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from dashstream_operator.cli import command
from dashstream_operator.dashboards.check import (
    PanelResult,
    Prometheus,
    PrometheusError,
    check_dashboard,
)
from dashstream_operator.dashboards.macros import parse_duration

__all__ = ["dashboards"]


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _configure(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.description = __doc__
    sub = p.add_subparsers(dest="dashboards_command", required=True)
    check = sub.add_parser("check", help="run every panel's queries against a Prometheus",
                           description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    check.add_argument("paths", nargs="+", metavar="PATH",
                       help="a dashboard .json file, or a directory of them")
    check.add_argument("--prometheus", required=True, metavar="URL",
                       help="the Prometheus the dashboards read, e.g. http://prometheus:9090")
    check.add_argument("--since", type=_duration, default=600.0, metavar="DURATION",
                       help="time range ending now (default 10m)")
    check.add_argument("--scrape-interval", type=_duration, default=15.0, metavar="DURATION",
                       help="the datasource's scrape interval, for $__rate_interval "
                            "(default 15s, Grafana's)")
    check.add_argument("--max-data-points", type=int, default=1000, metavar="N",
                       help="Grafana's max data points where a panel sets none (default "
                            "1000, about a panel's width in pixels)")
    check.add_argument("--format", choices=["text", "json"], default="text")


class UsageError(Exception):
    pass


def _dashboards(paths: list[str]) -> dict[str, dict[str, Any]]:
    """Each dashboard file, read (a path that is missing, empty or not JSON: UsageError)."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(path.glob("*.json"))
            if not found:
                raise UsageError(f"{raw}: no *.json dashboard in this directory")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise UsageError(f"{raw}: no such file or directory")
    out = {}
    for f in files:
        try:
            out[str(f)] = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UsageError(f"{f}: not a JSON dashboard ({exc})") from exc
    return out


@command("dashboards", "dashboards against a live Prometheus (see `dashboards check -h`)",
         _configure)
def dashboards(args: argparse.Namespace) -> int:
    prom = Prometheus(args.prometheus, args.since)
    try:
        loaded = _dashboards(args.paths)
        prom.label_values("__name__", "up")
    except UsageError as exc:
        print(f"dashstream dashboards check: {exc}", file=sys.stderr)
        return 2
    except (OSError, ValueError, PrometheusError) as exc:
        print(f"dashstream dashboards check: {args.prometheus} does not answer as a "
              f"Prometheus: {exc}", file=sys.stderr)
        return 2
    results = {path: check_dashboard(d, prom, args.scrape_interval, args.max_data_points)
               for path, d in loaded.items()}
    failed = False
    out: dict[str, Any] = {}
    for path, (panels, problems) in results.items():
        failed = failed or bool(problems) or any(
            p.status in ("no data", "error") for p in panels)
        out[path] = {"problems": problems, "panels": [vars(p) for p in panels]}
    if args.format == "json":
        json.dump(out, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        _print_text(results)
    return 1 if failed else 0


def _print_text(results: dict[str, tuple[list[PanelResult], list[str]]]) -> None:
    totals: dict[str, int] = {}
    for path, (panels, problems) in results.items():
        print(f"{path}: {len(panels)} panels")
        for problem in problems:
            print(f"  PROBLEM        {problem}")
        for p in panels:
            totals[p.status] = totals.get(p.status, 0) + 1
            print(f"  {p.status:14s} {p.panel}" + (f": {p.detail}" if p.detail else ""))
    print("summary: " + ", ".join(f"{n} {s}" for s, n in sorted(totals.items())))
