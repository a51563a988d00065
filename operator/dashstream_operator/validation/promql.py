"""PromQL parsing and selector extraction for rule and dashboard validation.

Pure functions over the ``promql_parser`` AST, used by the AlertRuleSet
controller, ``dashstream validate`` and the dashboard/alert-rule tests to answer
"does this expression parse?" and "which series does it read?" (the latter is
checked against the metrics contract, because the old stack alerted on metrics
nobody exported).

``promql_parser`` follows Prometheus 2.45 and adds a few extensions Prometheus
itself rejects; :func:`parse_expr` refuses those so an expression that passes
here does not break a Prometheus rule reload. ``promtool`` remains the final
authority on dialect details (the repo pins Prometheus 2.42).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import promql_parser

__all__ = [
    "Matcher",
    "PromQLError",
    "Selector",
    "metric_names",
    "parse_expr",
    "selectors",
]

#: (label, op, value) with op one of ``=``, ``!=``, ``=~``, ``!~``.
Matcher = tuple[str, str, str]

# MatchOp values are not hashable in promql_parser, so compare rather than look up.
_OPS: tuple[tuple[Any, str], ...] = (
    (promql_parser.MatchOp.Equal, "="),
    (promql_parser.MatchOp.NotEqual, "!="),
    (promql_parser.MatchOp.Re, "=~"),
    (promql_parser.MatchOp.NotRe, "!~"),
)

_NAME_LABEL = "__name__"


class PromQLError(ValueError):
    """An expression that is not valid PromQL (for Prometheus), with the reason."""

    def __init__(self, message: str, expr: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.expr = expr


@dataclass(frozen=True)
class Selector:
    """One series selector found in an expression.

    ``metric`` is the metric name when it is fixed (``foo{...}`` or
    ``{__name__="foo"}``); the equality ``__name__`` matcher that fixed it is
    not repeated in ``matchers``. A regex/negative ``__name__`` matcher leaves
    ``metric`` as ``None`` and stays in ``matchers`` so callers can report it.
    """

    metric: str | None
    matchers: tuple[Matcher, ...] = ()

    def __str__(self) -> str:
        body = ",".join(f'{name}{op}"{_escape(value)}"' for name, op, value in self.matchers)
        if self.metric is None:
            return "{" + body + "}"
        return f"{self.metric}{{{body}}}" if body else self.metric

    def matcher_values(self, label: str) -> tuple[str, ...]:
        """Values of the equality matchers on ``label`` (e.g. ``job``)."""
        return tuple(v for n, op, v in self.matchers if n == label and op == "=")


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def parse_expr(expr: str, *, allow_experimental: bool = False) -> promql_parser.Expr:
    """Parse ``expr`` or raise :class:`PromQLError` with a readable reason.

    Experimental functions are refused unless ``allow_experimental``: the
    Prometheus we target does not enable them, so a rule using one would fail
    to load there even though the parser accepts it.
    """
    if not isinstance(expr, str):
        raise PromQLError(f"expression must be a string, got {type(expr).__name__}")
    if not expr.strip():
        raise PromQLError("empty expression", expr)
    try:
        ast = promql_parser.parse(expr)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # the Rust side may raise a PanicException (BaseException)
        reason = str(exc).strip() or type(exc).__name__
        raise PromQLError(f"invalid PromQL: {reason} (in {_shorten(expr)!r})", expr) from exc
    _reject_extensions(ast, expr, allow_experimental=allow_experimental)
    return ast


def _shorten(expr: str, limit: int = 120) -> str:
    flat = " ".join(expr.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _reject_extensions(ast: promql_parser.Expr, expr: str, *, allow_experimental: bool) -> None:
    for node in _walk(ast):
        if isinstance(node, promql_parser.VectorSelector) and node.matchers.or_matchers:
            raise PromQLError(
                f"'or' inside a selector ({node}) is not supported by Prometheus; "
                "use two selectors joined with the 'or' operator",
                expr,
            )
        if (
            not allow_experimental
            and isinstance(node, promql_parser.Call)
            and getattr(node.func, "experimental", False)
        ):
            raise PromQLError(
                f"function {node.func.name}() is experimental and not enabled in Prometheus",
                expr,
            )


def _children(node: Any) -> list[Any]:
    """Direct sub-expressions of ``node``, in source order."""
    if isinstance(node, promql_parser.MatrixSelector):
        return [node.vector_selector]
    if isinstance(node, promql_parser.BinaryExpr):
        return [node.lhs, node.rhs]
    if isinstance(node, promql_parser.AggregateExpr):
        # topk(scalar(x), y) / quantile(q, y): the parameter is an expression too.
        return [c for c in (node.param, node.expr) if c is not None]
    if isinstance(node, promql_parser.Call):
        return list(node.args)
    if isinstance(
        node, promql_parser.ParenExpr | promql_parser.UnaryExpr | promql_parser.SubqueryExpr
    ):
        return [node.expr]
    if isinstance(
        node,
        promql_parser.VectorSelector | promql_parser.NumberLiteral | promql_parser.StringLiteral,
    ):
        return []
    # A node type from a newer parser: look for the usual child attributes rather
    # than silently missing selectors hidden below it.
    found: list[Any] = []
    for attr in ("param", "lhs", "rhs", "expr", "vector_selector"):
        child = getattr(node, attr, None)
        if isinstance(child, promql_parser.Expr):
            found.append(child)
    found.extend(a for a in getattr(node, "args", None) or () if isinstance(a, promql_parser.Expr))
    return found


def _walk(ast: Any) -> Iterator[Any]:
    """Depth-first, left-to-right; iterative so deep nesting cannot hit the recursion limit."""
    stack = [ast]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(_children(node)))


def _selector_from(node: promql_parser.VectorSelector) -> list[Selector]:
    base = list(node.matchers.matchers)
    groups = [base + list(g) for g in node.matchers.or_matchers] or [base]
    out: list[Selector] = []
    for group in groups:
        metric = node.name
        rest: list[Matcher] = []
        for m in group:
            op = _op_symbol(m.op)
            if m.name == _NAME_LABEL and op == "=" and metric is None:
                metric = m.value
                continue
            rest.append((m.name, op, m.value))
        out.append(Selector(metric=metric, matchers=tuple(rest)))
    return out


def _op_symbol(op: Any) -> str:
    for known, symbol in _OPS:
        if op == known:
            return symbol
    raise PromQLError(f"unknown label match operator {op!r}")


def selectors(expr: str) -> list[Selector]:
    """Every series selector in ``expr``, in source order, without duplicates.

    Raises :class:`PromQLError` if ``expr`` does not parse.
    """
    seen: dict[Selector, None] = {}
    for node in _walk(parse_expr(expr, allow_experimental=True)):
        if isinstance(node, promql_parser.VectorSelector):
            for sel in _selector_from(node):
                seen.setdefault(sel, None)
    return list(seen)


def metric_names(expr: str) -> set[str]:
    """The fixed metric names ``expr`` reads (selectors with a regex name are left out)."""
    return {s.metric for s in selectors(expr) if s.metric is not None}
