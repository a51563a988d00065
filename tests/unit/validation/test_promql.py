"""Table tests for the PromQL helpers used to validate rules and dashboards."""

from __future__ import annotations

import pytest

from dashstream_operator.validation.promql import (
    PromQLError,
    Selector,
    metric_names,
    parse_expr,
    selectors,
)

S = Selector

SELECTOR_CASES: list[tuple[str, list[Selector]]] = [
    ("up", [S("up")]),
    ('up{job="ws"}', [S("up", (("job", "=", "ws"),))]),
    (
        'rate(dashstream_websocket_messages_total{status!="ok",kind=~"a|b",x!~"y"}[5m])',
        [
            S(
                "dashstream_websocket_messages_total",
                (("status", "!=", "ok"), ("kind", "=~", "a|b"), ("x", "!~", "y")),
            )
        ],
    ),
    (
        "histogram_quantile(0.95, sum by (le, model) (rate(lat_seconds_bucket[5m])))",
        [S("lat_seconds_bucket")],
    ),
    ("time() - last_seen_timestamp_seconds", [S("last_seen_timestamp_seconds")]),
    ("a / on(job) group_left(model) b", [S("a"), S("b")]),
    ("a - ignoring(code) b", [S("a"), S("b")]),
    ("a > bool 1", [S("a")]),
    ("rate(a[5m] offset 1h) / rate(a[5m])", [S("a")]),  # same selector reported once
    ("max_over_time(rate(sub[1m])[30m:1m])", [S("sub")]),
    ("max_over_time(deriv(sub[5m])[1h:] offset 5m)", [S("sub")]),
    ("absent(missing_metric)", [S("missing_metric")]),
    ('absent_over_time(missing_metric{job="x"}[10m])', [S("missing_metric", (("job", "=", "x"),))]),
    ('label_replace(up, "svc", "$1", "job", "(.*)")', [S("up")]),
    ('{__name__="x"}', [S("x")]),
    ('{__name__="x", job="j"}[5m]', [S("x", (("job", "=", "j"),))]),
    ('{__name__=~"dashstream_.*"}', [S(None, (("__name__", "=~", "dashstream_.*"),))]),
    ('{__name__!="x", job="j"}', [S(None, (("__name__", "!=", "x"), ("job", "=", "j")))]),
    ("-a", [S("a")]),
    ("(a + b) * c", [S("a"), S("b"), S("c")]),
    ("topk(scalar(k), v)", [S("k"), S("v")]),
    ("quantile(0.9, v) without (pod)", [S("v")]),
    ('count_values("ver", build_info)', [S("build_info")]),
    ("sum(rate(a[5m])) or vector(0)", [S("a")]),
    ("clamp_min(a, 0) unless on(job) b", [S("a"), S("b")]),
    ("foo @ start()", [S("foo")]),
    ("1 + 2", []),
    ("vector(1)", []),
]


@pytest.mark.parametrize(("expr", "expected"), SELECTOR_CASES, ids=[c[0] for c in SELECTOR_CASES])
def test_selectors(expr: str, expected: list[Selector]) -> None:
    assert selectors(expr) == expected


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ("rate(a_total[5m]) / rate(b_total[5m])", {"a_total", "b_total"}),
        ('{__name__="x"} + {__name__=~"y.*"}', {"x"}),
        ("time() - x", {"x"}),
        ("sum(rate(a[5m])) by (le)", {"a"}),
        ("1", set()),
    ],
)
def test_metric_names(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


@pytest.mark.parametrize(
    ("expr", "fragment"),
    [
        ("", "empty expression"),
        ("   ", "empty expression"),
        ("rate(x[5m)", "invalid PromQL"),
        ("sum(", "invalid PromQL"),
        ("{}", "invalid PromQL"),
        ('x{__name__="y"}', "invalid PromQL"),
        ("rate(x)", "invalid PromQL"),  # wrong argument type
        ("foo bar", "invalid PromQL"),
        ('a{b="c" or d="e"}', "not supported by Prometheus"),
        ('sort_by_label(x, "a")', "experimental"),
    ],
)
def test_parse_errors(expr: str, fragment: str) -> None:
    with pytest.raises(PromQLError) as info:
        parse_expr(expr)
    assert fragment in str(info.value)
    assert isinstance(info.value, ValueError)  # callers may catch ValueError generically


def test_parse_error_names_expression() -> None:
    with pytest.raises(PromQLError) as info:
        parse_expr("rate(dashstream_x[5m)")
    assert "rate(dashstream_x[5m)" in str(info.value)
    assert info.value.expr == "rate(dashstream_x[5m)"


def test_selectors_raises_on_invalid() -> None:
    with pytest.raises(PromQLError):
        selectors("rate(x[5m)")


def test_experimental_allowed_when_asked() -> None:
    parse_expr('sort_by_label(x, "a")', allow_experimental=True)


def test_parse_expr_returns_ast() -> None:
    import promql_parser

    assert isinstance(parse_expr("sum(rate(a[5m]))"), promql_parser.AggregateExpr)


def test_selector_is_frozen_and_renders() -> None:
    sel = selectors('x{job="a\\"b"}')[0]
    with pytest.raises(AttributeError):
        sel.metric = "y"  # type: ignore[misc]
    assert str(sel) == 'x{job="a\\"b"}'
    assert sel.matcher_values("job") == ('a"b',)
    assert str(S(None, (("__name__", "=~", "a.*"),))) == '{__name__=~"a.*"}'


def test_deep_nesting() -> None:
    expr = "(" * 200 + "x" + ")" * 200
    assert metric_names(expr) == {"x"}
