"""`dashstream`: offline tools for GitOps review and CI.

  dashstream metrics-contract [--format json|markdown] [--component C]
  dashstream validate PATH...      alert-rule files and dashboards, as the operator would
  dashstream render -f FILE        the children the operator would apply, as YAML
  dashstream dashboards check --prometheus URL PATH...
                                   does every panel return data from that Prometheus?
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable

__all__ = ["main"]

COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None],
                          Callable[[argparse.Namespace], int]]] = {}


def command(name: str, help_: str,
            configure: Callable[[argparse.ArgumentParser], None]) -> Callable[
                [Callable[[argparse.Namespace], int]], Callable[[argparse.Namespace], int]]:
    def register(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
        COMMANDS[name] = (help_, configure, fn)
        return fn
    return register


def _contract_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=["json", "markdown"], default="json")
    p.add_argument("--component", action="append", metavar="C",
                   help="only this component's metrics (repeatable; default: all)")


@command("metrics-contract", "print every metric the DashStream servers export", _contract_args)
def metrics_contract(args: argparse.Namespace) -> int:
    from dashstream_workloads.contract import contract_as_dict, render_metrics_markdown

    if args.format == "markdown":
        sys.stdout.write(render_metrics_markdown())
    else:
        json.dump(contract_as_dict(args.component), sys.stdout, indent=2)
        sys.stdout.write("\n")
    return 0


def _load_optional_commands() -> None:
    # validate and render live with their features; a missing one only hides it.
    for module in ("dashstream_operator.cli_validate", "dashstream_operator.cli_render",
                   "dashstream_operator.cli_dashboards"):
        try:
            __import__(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise


def main(argv: list[str] | None = None) -> int:
    _load_optional_commands()
    parser = argparse.ArgumentParser(prog="dashstream", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (help_, configure, _) in COMMANDS.items():
        configure(sub.add_parser(name, help=help_, description=help_))
    args = parser.parse_args(argv)
    return COMMANDS[args.command][2](args)


if __name__ == "__main__":
    sys.exit(main())
