"""Benchmarks: ``make bench`` (``python -m benchmarks``) runs every module of this
package that defines ``run_benchmark(record: bool) -> None``.

Benchmarks print figures and ratios measured side by side in one run; they
never assert on wall-clock time. ``--record`` also appends the results to
``docs/benchmarks.md`` with the machine, versions and date.
"""
