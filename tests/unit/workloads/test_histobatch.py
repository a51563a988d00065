"""A batch of histogram observations exposes exactly what observing them one by one does."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from dashstream_workloads.exporter.histobatch import HistogramBatch

BUCKETS = (0.5, 1.0, 2.5, 10.0, 100.0)


def _pair() -> tuple[CollectorRegistry, Histogram, CollectorRegistry, Histogram]:
    one, batched = CollectorRegistry(), CollectorRegistry()
    return (one, Histogram("h", "h", ["model"], buckets=BUCKETS, registry=one),
            batched, Histogram("h", "h", ["model"], buckets=BUCKETS, registry=batched))


def _without_created(text: bytes) -> str:
    return "\n".join(x for x in text.decode().splitlines() if "_created" not in x)


# Integers and halves: sums are exact in any order, so the texts compare equal.
values = st.lists(st.integers(-4, 400).map(lambda i: i / 2) | st.sampled_from(BUCKETS),
                  max_size=60)


@given(st.lists(values, max_size=4))
def test_batched_observations_expose_what_single_ones_do(batches: list[list[float]]) -> None:
    one, h1, batched, h2 = _pair()
    h1.labels("m")
    batch = HistogramBatch(h2.labels("m"))
    for chunk in batches:
        for v in chunk:
            h1.labels("m").observe(v)
            batch.observe(v)
        batch.flush()
    assert _without_created(generate_latest(batched)) == _without_created(generate_latest(one))


def test_nothing_pending_flushes_nothing_and_nan_counts_in_no_bucket() -> None:
    one, h1, batched, h2 = _pair()
    batch = HistogramBatch(h2.labels("m"))
    batch.flush()
    h1.labels("m")
    assert _without_created(generate_latest(batched)) == _without_created(generate_latest(one))
    batch.observe(math.nan)
    batch.flush()
    h1.labels("m").observe(math.nan)
    assert _without_created(generate_latest(batched)) == _without_created(generate_latest(one))


def test_refuses_a_histogram_it_does_not_understand() -> None:
    class Odd:
        _upper_bounds = [1.0]
        _buckets: list[object] = []
        _sum = None

    try:
        HistogramBatch(Odd())  # type: ignore[arg-type]
    except TypeError as exc:
        assert "internals" in str(exc)
    else:
        raise AssertionError("accepted a histogram without +Inf bucket")
