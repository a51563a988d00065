"""Grafana's Prometheus macros, expanded as Grafana's Prometheus backend does."""

from __future__ import annotations

import pytest

from dashstream_operator.dashboards.check import INCIDENT_ONLY, panels_of
from dashstream_operator.dashboards.macros import (
    Window,
    expand,
    format_values,
    parse_duration,
    round_interval,
    variable_names,
)


@pytest.mark.parametrize(("text", "seconds"), [
    ("15s", 15), ("1m30s", 90), ("500ms", 0.5), ("2h", 7200), ("1d", 86400)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "15", "1x", "s15", "1m 30s"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize(("seconds", "rounded"), [
    (0.6, 0.5), (1.2, 1), (14, 15), (16, 15), (18, 20), (40, 30), (61, 60), (100, 120),
    (400, 300), (3600, 3600)])
def test_round_interval_is_grafanas_table(seconds: float, rounded: float) -> None:
    assert round_interval(seconds) == rounded


def test_step_and_rate_interval() -> None:
    # 10 minutes over 1000 points is 0.6 s: the scrape interval is the floor.
    ten_minutes = Window(600, 1000, 15)
    assert (ten_minutes.step, ten_minutes.rate_interval) == (15, 60)
    # 6 hours over 1000 points: 21.6 s, rounded to 20 s; rate = 20 + 15.
    six_hours = Window(21600, 1000, 15)
    assert (six_hours.step, six_hours.rate_interval) == (20, 60)
    assert Window(86400 * 7, 1000, 15).rate_interval == 615
    # Never more than 11,000 points, whatever max data points says.
    assert Window(86400, 100000, 1).step == 10
    # A minimum above the computed interval is taken as it is, not rounded.
    assert Window(600, 1000, 25).step == 25
    # A target's own interval is the floor, and the rate interval's scrape interval.
    assert Window(600, 1000, 15, min_interval=180).step == 180
    assert Window(600, 1000, 15, min_interval=180).rate_interval == 720


MULTI_ALL = {"multi": True, "includeAll": True}


def test_expand_builtins_and_variables() -> None:
    window = Window(600, 1000, 15)
    texts = {"namespace": format_values(["a", "b.c"], MULTI_ALL),
             "job": format_values(["j"], {})}
    expr = ('sum(rate(x{namespace=~"$namespace", job="${job}"}[$__rate_interval])) '
            '/ $__range_s + $__interval_ms * [[namespace]] + ${__interval}')
    assert expand(expr, window, texts) == (
        'sum(rate(x{namespace=~"(a|b\\\\.c)", job="j"}[60s])) / 600 + 15000 * '
        '(a|b\\\\.c) + 15s')
    # A variable that merely starts like another one is left alone.
    assert expand("$namespaces $ns", window, {"ns": "x"}) == "$namespaces x"
    assert variable_names('x{a=~"foo$"} $namespaces ${b:raw} [[c]] $1') == {
        "namespaces", "b", "c"}


def test_values_are_written_as_grafana_writes_them() -> None:
    assert format_values(["team-a", "b"], {}) == "team-a"  # single-value: the first
    assert format_values(["it's"], {}) == "it\\\\'s"
    assert format_values(["a+b", "c"], MULTI_ALL) == "(a\\\\+b|c)"
    assert format_values(["a+b"], {"multi": True}) == "a\\\\+b"  # still escaped
    assert format_values(["a", "b"], {**MULTI_ALL, "allValue": ".*"}) == ".*"
    assert format_values(["back\\slash", "x"], MULTI_ALL) == "(back\\\\\\\\slash|x)"


def test_panels_inside_collapsed_rows_are_checked() -> None:
    dashboard = {"panels": [
        {"type": "row", "panels": [{"id": 2, "targets": [{"expr": "up"}]}]},
        {"id": 3, "targets": [{"expr": "up"}], INCIDENT_ONLY: "only during outages"},
        {"id": 4, "type": "text"}]}
    assert [p["id"] for p in panels_of(dashboard)] == [2, 3]
