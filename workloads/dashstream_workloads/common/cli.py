"""The shared console-script entry: parse --help, load settings, log, run.

Configuration comes from environment variables only (one table,
:mod:`dashstream_workloads.settings`), so the command line has nothing but
``--help``/``--version`` and flags meant for tests.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from dashstream_workloads import __version__, settings

__all__ = ["run_component"]

log = logging.getLogger(__name__)


def _settings_help(component: str) -> str:
    lines = ["environment variables (see docs/configuration.md):"]
    for s in settings.settings_for(component):
        default = "unset" if s.default is None else s.default
        lines.append(f"  {s.name:<36} default: {default}")
    return "\n".join(lines)


def run_component(
    component: str,
    prog: str,
    description: str,
    run: Callable[[dict[str, Any], argparse.Namespace], Coroutine[Any, Any, None]],
    argv: Sequence[str] | None = None,
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
) -> int:
    """Entry point body of a console script; returns the exit code.

    Exit codes: 0 after a clean SIGTERM/SIGINT shutdown, 2 for bad
    configuration (the message names the variable, never a secret value).
    """
    parser = argparse.ArgumentParser(
        prog=prog,
        description=description,
        epilog=_settings_help(component),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    if add_arguments is not None:
        add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        values = settings.load(component, os.environ)
    except ValueError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    from dashstream_workloads.common.logs import setup_logging

    setup_logging(component, values["LOG_LEVEL"], values["LOG_FORMAT"])
    try:
        asyncio.run(run(values, args))
    except ValueError as exc:  # contradictory Kafka security settings, found at start
        log.error("configuration error", extra={"error": str(exc)})
        return 2
    return 0
