"""Histogram observations added up per batch, in plain Python, and handed to
prometheus_client once per batch.

``Histogram.observe`` takes two locks and walks the bucket list per value; the
exporter observes four or five histograms per event, which made it the largest
cost of ingest (profile in docs/benchmarks.md). A scrape cannot tell a batch's
observations apart from the same values observed one by one: the buckets and
the sum end up identical (tests/unit/workloads/test_histobatch.py checks that
against ``observe``, so a prometheus_client upgrade that changes its internals
fails there, not in production).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable
from typing import Any

from prometheus_client import Histogram

__all__ = ["HistogramBatch"]


class HistogramBatch:
    """One histogram child's pending observations."""

    __slots__ = ("_bounds", "_buckets", "_sum_value", "_values", "observe")

    def __init__(self, child: Histogram) -> None:
        # The child's bucket values and upper bounds (the last is +Inf), as
        # Histogram._metric_init builds them.
        inner: Any = child
        self._bounds: list[float] = list(inner._upper_bounds)
        self._buckets: list[Any] = list(inner._buckets)
        self._sum_value: Any = inner._sum
        if len(self._buckets) != len(self._bounds) or not math.isinf(self._bounds[-1]):
            raise TypeError("unexpected prometheus_client Histogram internals")
        self._values: list[float] = []
        #: Record one value: a bare list append, the cheapest call Python has.
        self.observe: Callable[[float], None] = self._values.append

    def flush(self) -> None:
        values = self._values
        if not values:
            return
        # The sum is added one value at a time, in order, onto the exposed one (this
        # thread is its only writer): float addition is not associative, and a batched
        # total could round or overflow differently from the observes it stands for.
        total = self._sum_value.get()
        for value in values:
            total += value
        if total != total:  # a NaN value (or inf and -inf): NaN kept out of the buckets
            values[:] = [v for v in values if v == v]
        # Sorted once (in C), each bucket's count is a difference of two bisections:
        # a few calls per bucket instead of one per value. A value lands in the first
        # bucket whose bound is >= it, as observe's `amount <= bound`.
        values.sort()
        below = 0
        for bucket, bound in zip(self._buckets, self._bounds, strict=True):
            upto = bisect_right(values, bound)
            if upto > below:
                bucket.inc(upto - below)
                below = upto
        values.clear()
        self._sum_value.set(total)
