"""Go text/template syntax, as Prometheus parses alert labels and annotations. Pure.

A scanner, not an executor: it finds what promtool's parser would refuse (unbalanced
or empty actions, unknown functions, undefined variables, unclosed blocks); errors
that only show when a template runs (argument types, unknown fields) pass.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["template_errors"]


_FUNCS = frozenset([  # Prometheus' template functions (2.42), then Go's builtins
    "query", "first", "label", "value", "strvalue", "args", "reReplaceAll", "safeHtml",
    "match", "title", "toUpper", "toLower", "graphLink", "tableLink", "sortByLabel",
    "humanize", "humanize1024", "humanizeDuration", "humanizePercentage",
    "humanizeTimestamp", "toTime", "pathPrefix", "externalURL", "parseDuration",
    "stripPort", "stripDomain", "and", "call", "html", "index", "slice", "js", "len", "not",
    "or", "print", "printf", "println", "urlquery", "eq", "ge", "gt", "le", "lt", "ne"])
_KEYWORDS = frozenset({"if", "with", "range", "define", "block", "else", "end", "template",
                       "break", "continue"})
_PROM_VARS = frozenset({"$", "$labels", "$externalLabels", "$externalURL", "$value"})
_COMMENT_TAIL = re.compile(r"(\s+-)?}}")  # "*/" must be followed by "}}" or " -}}"
_TOKEN = re.compile(r"""\s+|(?P<str>"(?:[^"\\\n]|\\.)*"|`[^`]*`|'(?:[^'\\\n]|\\.)+')
    |(?P<var>\$\w*)|(?P<field>(?:\.\w+)+|\.)|(?P<ident>[A-Za-z_]\w*)|(?P<num>[-+]?\.?\d[\w.+-]*)
    |(?P<op>:=|=|\||\(|\)|,)|(?P<bad>.)""", re.X | re.S)


def _action_end(text: str, i: int) -> int | None:
    """Index of the ``}}`` closing the action whose body starts at ``i`` (quotes skipped)."""
    quote = ""
    while i < len(text):
        c = text[i]
        if quote and c == "\\" and quote != "`":
            i += 1
        elif quote and c == "\n" and quote != "`":
            return None
        elif c == quote or (not quote and c in "\"`'"):
            quote = "" if quote else c
        elif not quote and text.startswith("}}", i):
            return i
        i += 1
    return None


def template_errors(text: str) -> list[str]:
    """Syntax errors of a Go text/template as Prometheus parses it ([] when fine).

    A small scanner, not Go's parser: it catches unclosed actions, quotes, comments
    and parentheses; empty actions; ``if``/``with``/``range``/``define``/``block``
    without ``end``, and misplaced ``end``/``else``/``break``/``continue``;
    functions neither Prometheus nor Go defines; variables used but never declared.
    It does not catch what fails only when a template runs: argument types or
    counts, unknown fields, a ``template`` naming nothing, PromQL inside ``query``.
    """
    errors: list[str] = []
    stack: list[list[Any]] = []  # [keyword, plain {{else}} seen]
    scopes: list[set[str]] = [set(_PROM_VARS)]
    pos = 0
    while (start := text.find("{{", pos)) >= 0 and not errors:
        i = start + 2 + (2 if text[start + 2:start + 3] == "-" and
                         text[start + 3:start + 4].isspace() else 0)
        if text.startswith("/*", i):
            close = text.find("*/", i + 2)
            tail = _COMMENT_TAIL.match(text, close + 2) if close >= 0 else None
            if tail is None:
                errors.append("comment ends before closing delimiter")
            pos = tail.end() if tail else len(text)
            continue
        end = _action_end(text, i)
        if end is None:
            errors.append("unclosed action (or unterminated quoted string)")
            break
        body, pos = text[i:end], end + 2
        body = body[:-1] if body.endswith("-") and body[-2:-1].isspace() else body
        errors += _action(body.strip(), stack, scopes)
    if stack and not errors:
        errors.append(f"unclosed {{{{{stack[-1][0]}}}}} (missing {{{{end}}}})")
    return errors


def _action(body: str, stack: list[list[Any]], scopes: list[set[str]]) -> list[str]:
    """Check one action's body; update the block stack and variable scopes."""
    tokens = [(m.lastgroup, m.group()) for m in _TOKEN.finditer(body) if m.lastgroup]
    texts = [t for _, t in tokens]
    depth = [sum((t == "(") - (t == ")") for t in texts[:n + 1]) for n in range(len(texts))]
    bad = [t for k, t in tokens if k == "bad"]
    if not tokens or bad or min(depth) < 0 or depth[-1]:
        return ["missing value for command" if not tokens else
                f"unexpected {bad[0]!r} in {{{{{body}}}}}" if bad else
                "unexpected right paren" if min(depth) < 0 else "unclosed left paren"]
    keyword = texts[0] if tokens[0][0] == "ident" and texts[0] in _KEYWORDS else None
    rest, errors = tokens[1:] if keyword else tokens, []
    if keyword in ("if", "with", "range", "define", "block", "template"):
        named = keyword in ("define", "block", "template")
        if not rest or (named and rest[0][0] != "str"):
            errors.append(f"missing {'name' if named else 'value'} for {keyword}")
        if keyword != "template":
            stack.append([keyword, False])
            scopes.append({"$"} if named else set())  # define/block: a fresh template
        rest = rest[1:] if named else rest
    elif keyword == "else":
        if not stack or stack[-1][0] not in ("if", "with", "range") or stack[-1][1]:
            return ["unexpected {{else}}"]
        chained = bool(rest) and rest[0][1] in ("if", "with")
        stack[-1][1] = not chained
        rest = rest[1:] if chained else rest
    elif keyword == "end":
        if rest or not stack:
            return [f"unexpected {rest[0][1]!r} in end" if rest else "unexpected {{end}}"]
        stack.pop()
        scopes.pop()
        return []
    elif keyword in ("break", "continue"):
        return [] if any(b[0] == "range" for b in stack) else [
            f"{{{{{keyword}}}}} outside {{{{range}}}}"]
    return errors + _pipeline(rest, scopes)


def _pipeline(tokens: list[tuple[str, str]], scopes: list[set[str]]) -> list[str]:
    texts = [t for _, t in tokens]
    for assign in (":=", "="):  # "$x :=" declares, "$x =" assigns: neither is a use
        n = texts.index(assign) if assign in texts else -1
        if n > 0 and all(k in ("var", "op") for k, _ in tokens[:n]):
            if assign == ":=":
                scopes[-1].update(t for k, t in tokens[:n] if k == "var")
            tokens = tokens[n + 1:]
            break
    visible: set[str] = set()
    errors: list[str] = []
    for scope in reversed(scopes):  # innermost out, up to a define/block boundary
        visible |= scope
        if "$" in scope:
            break
    for kind, text in tokens:
        if kind == "ident" and text not in _FUNCS and text not in ("true", "false", "nil"):
            errors.append(f'function "{text}" not defined')
        elif kind == "var" and text.split(".")[0] not in visible:
            errors.append(f'undefined variable "{text}"')
    return errors
