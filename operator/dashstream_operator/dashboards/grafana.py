"""Facts about Grafana's dashboard format, shared by the builders and the validator.

Kept apart from both so the generator and ``validation.dashboards`` agree on
one definition of the grid, the built-in datasources and the template-variable
syntax - and so the validator does not import any dashboard it might check.
"""

from __future__ import annotations

import re

__all__ = [
    "BUILTIN_DATASOURCES",
    "GRID_WIDTH",
    "SCHEMA_VERSION",
    "substitute_template_variables",
    "variable_reference",
]

GRID_WIDTH = 24
#: The dashboard JSON schema of Grafana 10.4/11 (what the builders emit).
SCHEMA_VERSION = 39
#: Datasource uids Grafana resolves itself (annotations, mixed and dashboard panels).
BUILTIN_DATASOURCES = frozenset({"-- Grafana --", "-- Mixed --", "-- Dashboard --", "grafana"})

# Grafana's three spellings: $var, ${var} / ${var:format} / ${var.field}, and the
# deprecated [[var]] / [[var:format]].
_VAR = re.compile(r"\$\{(\w+)(?:[.:][^}]*)?\}|\$(\w+)|\[\[(\w+)(?::[^\]]*)?\]\]")
_DURATION_BUILTINS = frozenset({"__interval", "__rate_interval", "__range", "__auto"})
_NUMBER_BUILTINS = {"__interval_ms": "300000", "__range_s": "300", "__range_ms": "300000",
                    "__rate_interval_ms": "300000"}
_DURATION_PLACEHOLDER = "5m"
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*$")


def variable_reference(text: str) -> str | None:
    """The variable name if ``text`` is exactly one variable reference (``${ds}``), else None."""
    m = _VAR.fullmatch(text)
    return next((g for g in m.groups() if g), None) if m else None


def substitute_template_variables(expr: str) -> str:
    """Replace Grafana variables with values that keep the expression's PromQL shape.

    * interval built-ins (``$__rate_interval``, ``$__interval``, ``$__range``,
      ``$__auto``) become ``5m``; ``$__interval_ms``/``$__range_s``/... a number;
    * inside a string literal (a label value), a variable becomes ``.*`` - valid
      as a regex and harmless as an exact value;
    * inside ``[...]`` (range, subquery) or after ``offset``: ``5m``;
    * elsewhere, next to a name or ``{``/``[`` or in a ``by (...)``-style label
      list: the variable's own name (so ``${metric}_total`` is reported as the
      unknown metric ``metric_total`` rather than silently passing); otherwise
      ``1`` (a scalar argument such as a quantile).

    ``$1``-style regex back-references in ``label_replace`` are left alone.
    """
    out: list[str] = []
    quote: str | None = None
    brackets = 0
    i, n = 0, len(expr)
    while i < n:
        c = expr[i]
        m = _VAR.match(expr, i) if c in "$[" else None
        name = next((g for g in m.groups() if g), "") if m else ""
        if m and not name[0].isdigit():
            out.append(_placeholder(name, "".join(out), expr[m.end():], quote, brackets))
            i = m.end()
            continue
        if quote:
            if c == "\\" and quote != "`":
                out.append(expr[i:i + 2])
                i += 2
                continue
            if c == quote:
                quote = None
        elif c in "\"'`":
            quote = c
        elif c == "[":
            brackets += 1
        elif c == "]" and brackets:
            brackets -= 1
        out.append(c)
        i += 1
    return "".join(out)


def _placeholder(name: str, before: str, after: str, quote: str | None, brackets: int) -> str:
    if name in _DURATION_BUILTINS:
        return _DURATION_PLACEHOLDER
    if name in _NUMBER_BUILTINS:
        return _NUMBER_BUILTINS[name]
    if quote:
        return ".*"
    if brackets or re.search(r"\boffset\s*$", before, re.I):
        return _DURATION_PLACEHOLDER
    prev, nxt = before[-1:], after.lstrip()[:1]
    if (re.match(r"[\w:]", prev) or re.match(r"[\w:]", after[:1]) or nxt in ("{", "[")
            or _GROUPING.search(before)):
        return name
    return "1"
