"""Run the available benchmarks: ``python -m benchmarks [--record] [name ...]``."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import cast

import benchmarks

__all__ = ["discover", "main"]

Runner = Callable[[bool], None]


def _rows_runner(run: Callable[[], Iterable[tuple[str, str]]]) -> Runner:
    """Adapt a module whose ``run()`` returns (figure, value) rows: print them."""

    def runner(record: bool) -> None:
        for name, value in run():
            print(f"{name:50s} {value}", flush=True)
        if record:
            print("(this benchmark prints only; record its figures by hand)")

    return runner


def discover() -> dict[str, Runner]:
    """Modules of this package (not starting with ``_``) with ``run_benchmark(record)``,
    or with ``run()`` returning (figure, value) rows."""
    found: dict[str, Runner] = {}
    for info in sorted(pkgutil.iter_modules(benchmarks.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"benchmarks.{info.name}")
        run_benchmark = getattr(module, "run_benchmark", None)
        run = getattr(module, "run", None)
        if callable(run_benchmark):
            found[info.name] = cast(Runner, run_benchmark)
        elif callable(run):
            found[info.name] = _rows_runner(run)
    return found


def main(argv: Sequence[str] | None = None) -> int:
    available = discover()
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="name",
                        help=f"benchmarks to run (default: all of {', '.join(available)})")
    parser.add_argument("--record", action="store_true",
                        help="append the results to docs/benchmarks.md")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(available))
    if unknown:
        parser.error(f"unknown benchmarks {unknown}; available: {sorted(available)}")
    for name in args.names or list(available):
        print(f"== {name} ==", flush=True)
        available[name](args.record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
