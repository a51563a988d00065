"""Offline checks of Prometheus rule groups before they are synced (pure: no I/O).

Used by the AlertRuleSet controller, ``dashstream validate`` and the tests.
Input is the rule-file format as plain data. Checked, per rule where possible:
structure as Prometheus 2.42's ``rulefmt`` reads it (unknown keys, one of
``alert``/``record``, ``expr`` set, nothing alert-only on recording rules, valid
names); group names non-empty and unique; PromQL parses; ``for``,
``keep_firing_for`` and ``interval`` are durations, ``limit`` a non-negative int;
duplicate alert names, and recording rules defined twice with the same labels;
alert label/annotation template syntax (:func:`template_errors`); required labels
on alerting rules; every selected metric is known (contract series, recording
rules of the same set, :data:`STANDARD_SERIES`), and ``=``/``a|b`` matchers on a
contract label with a fixed value set use those values. A selector without a fixed
metric name cannot be checked and is reported as unknown.

Unknown metrics are kept apart from errors so the caller applies its
``unknownMetrics: Warn|Reject`` policy. promtool stays the final authority.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from .promql import PromQLError, Selector, parse_expr, selectors
from .templates import template_errors

__all__ = ["STANDARD_SERIES", "RuleError", "RulesReport", "UnknownSeries", "load_rule_file",
           "rule_file_groups", "template_errors", "validate_groups"]

#: Series any Prometheus has without a DashStream exporter (scrape and alert state).
STANDARD_SERIES = frozenset({"up", "scrape_duration_seconds", "scrape_samples_scraped",
                             "scrape_samples_post_metric_relabeling", "scrape_series_added",
                             "ALERTS", "ALERTS_FOR_STATE"})
FILE, GROUP = "(file)", "(group)"
_GROUP_KEYS = frozenset({"name", "interval", "limit", "rules"})
_RULE_KEYS = frozenset({"alert", "record", "expr", "for", "keep_firing_for", "labels",
                        "annotations"})
_DURATION = re.compile(r"^(0|(\d+y)?(\d+w)?(\d+d)?(\d+h)?(\d+m)?(\d+s)?(\d+ms)?)$")
_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_ALTERNATION = re.compile(r"^[A-Za-z0-9_.:-]+(\|[A-Za-z0-9_.:-]+)*$")
Position = tuple[int, int]  # (group index, rule index); rule -1: the group; (-1, -1): file
Known = Mapping[str, Any] | frozenset[str] | set[str]


@dataclass(frozen=True)
class RuleError:
    """One problem: where (group and rule name, or FILE/GROUP) and why."""

    group: str
    rule: str
    reason: str
    at: Position = field(default=(-1, -1), compare=False)


@dataclass(frozen=True)
class UnknownSeries:
    """A selector nothing known exports (``metric`` may carry the offending matcher)."""

    group: str
    rule: str
    metric: str
    at: Position = field(default=(-1, -1), compare=False)


@dataclass
class RulesReport:
    """Outcome of :func:`validate_groups`; ``valid`` ignores unknown metrics (a policy)."""

    groups: int = 0
    rules: int = 0
    alerts: int = 0
    records: int = 0
    errors: list[RuleError] = field(default_factory=list)
    unknown_metrics: list[UnknownSeries] = field(default_factory=list)
    recorded: set[str] = field(default_factory=set)
    positions: list[Position] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.errors

    def usable_rules(self, *, reject_unknown: bool) -> int:
        """Rules without an error of their own, of their group or of the file (and, with
        ``reject_unknown``, without an unknown metric)."""
        bad = {e.at for e in self.errors} | (
            {u.at for u in self.unknown_metrics} if reject_unknown else set())
        if (-1, -1) in bad:
            return 0
        return sum(p not in bad and (p[0], -1) not in bad for p in self.positions)


def load_rule_file(text: str) -> tuple[list[Any], list[RuleError]]:
    """A rule file's YAML text -> (its groups, why it cannot be read as a rule file)."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        return [], [RuleError(FILE, FILE, f"not valid YAML: {' '.join(str(exc).split())}")]
    return rule_file_groups(doc)


def rule_file_groups(doc: Any) -> tuple[list[Any], list[RuleError]]:
    """A rule file's parsed YAML document -> (its groups, why it is not a rule file)."""
    if doc is None:
        return [], []  # an empty file is a valid file without groups, as promtool says
    if not isinstance(doc, Mapping):
        return [], [RuleError(FILE, FILE, "a rule file is a mapping with a 'groups' list")]
    errors = [RuleError(FILE, FILE, f"unknown top-level field {k!r}")
              for k in sorted(map(str, set(doc) - {"groups"}))]
    groups = doc.get("groups")
    if groups is not None and not isinstance(groups, list):
        return [], [*errors, RuleError(FILE, FILE, "'groups' must be a list")]
    return groups or [], errors


def _text(value: Any) -> str | None:
    """A YAML scalar as Prometheus reads it into a string (``1`` -> ``"1"``)."""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value) if isinstance(value, str | int | float) else None


def validate_groups(groups: Any, known: Known, *, required_labels: Sequence[str] = ("severity",),
                    standard: frozenset[str] = STANDARD_SERIES) -> RulesReport:
    """Check rule groups; never raises for bad input, every problem is in the report.

    ``known`` maps each exported series name to its contract spec (an object with
    ``label_values``), or is a plain set of names (label values then go unchecked).
    """
    report = RulesReport()
    if not isinstance(groups, list):
        report.errors.append(RuleError(FILE, FILE, "'groups' must be a list"))
        return report
    report.groups = len(groups)
    parsed = list(_iter_rules(groups, report))
    report.recorded = {r["record"] for _, _, _, r in parsed if isinstance(r.get("record"), str)}
    _duplicates(parsed, report)
    for pos, gname, rname, rule in parsed:
        if not _check_rule(pos, gname, rname, rule, report, required_labels):
            continue  # the expression does not parse: its selectors are unknown
        for sel in selectors(_text(rule.get("expr")) or ""):
            for metric in _unknown(sel, known, report.recorded | standard):
                report.unknown_metrics.append(UnknownSeries(gname, rname, metric, pos))
    return report


def _iter_rules(groups: list[Any], report: RulesReport
                ) -> Iterator[tuple[Position, str, str, Mapping[str, Any]]]:
    seen: set[str] = set()
    for gi, group in enumerate(groups):
        if not isinstance(group, Mapping):
            report.errors.append(RuleError(f"#{gi + 1}", GROUP, "a group must be a mapping",
                                           (gi, -1)))
            continue
        name = _text(group.get("name")) or ""
        gname, rules = name or f"#{gi + 1}", group.get("rules") or []
        problems = [f"unknown field {k!r}" for k in sorted(map(str, set(group) - _GROUP_KEYS))]
        if not name or name in seen:
            problems.append(f"group name {name!r} is repeated" if name else "name is empty")
        seen.add(name)
        if "interval" in group and not _is_duration(group["interval"]):
            problems.append(f"interval: not a valid duration {group['interval']!r}")
        limit = group.get("limit")
        if limit is not None and (type(limit) is not int or limit < 0):
            problems.append(f"limit must be a non-negative integer, got {limit!r}")
        if not isinstance(rules, list):
            problems.append("'rules' must be a list")
            rules = []
        report.errors += [RuleError(gname, GROUP, p, (gi, -1)) for p in problems]
        for ri, rule in enumerate(rules):
            report.rules += 1
            report.positions.append((gi, ri))
            if not isinstance(rule, Mapping):
                report.errors.append(RuleError(gname, f"#{ri + 1}", "a rule must be a mapping",
                                               (gi, ri)))
                continue
            report.alerts += rule.get("alert") is not None
            report.records += rule.get("alert") is None and rule.get("record") is not None
            yield (gi, ri), gname, _text(rule.get("alert") or rule.get("record")) or \
                f"#{ri + 1}", rule


def _is_duration(value: Any) -> bool:
    text = _text(value)  # YAML "for: 0" is the integer 0, which Prometheus reads as "0"
    return bool(text) and bool(_DURATION.match(text or ""))


def _check_rule(pos: Position, gname: str, rname: str, rule: Mapping[str, Any],
                report: RulesReport, required: Sequence[str]) -> bool:
    """Record the rule's errors; return whether its expression parses."""
    def err(reason: str) -> None:
        report.errors.append(RuleError(gname, rname, reason, pos))

    for key in sorted(map(str, set(rule) - _RULE_KEYS)):
        err(f"unknown field {key!r}")
    alert, record, expr = rule.get("alert"), rule.get("record"), _text(rule.get("expr"))
    if (alert is None) == (record is None):
        err("set exactly one of 'alert' and 'record'")
    elif record is not None and not _METRIC_NAME.match(_text(record) or ""):
        err(f"record: {record!r} is not a valid metric name")
    elif alert is not None and not _text(alert):
        err("alert: the name must be a non-empty string")
    parses = False
    try:
        parse_expr(expr or "")
        parses = True
    except PromQLError as exc:
        err(exc.message if expr else "expr must be set")
    for key in ("for", "keep_firing_for"):
        if key in rule and not _is_duration(rule[key]):
            err(f"{key}: not a valid duration {rule[key]!r}")
        elif key in rule and record is not None:
            err(f"{key!r} applies to alerting rules only")
    labels, annotations = _str_map(rule, "labels", err), _str_map(rule, "annotations", err)
    err_names = [f"invalid label name {n!r}" for n in labels
                 if not _LABEL_NAME.match(n) or n == "__name__"]
    err_names += [f"invalid annotation name {n!r}" for n in annotations
                  if not _LABEL_NAME.match(n)]
    for reason in err_names:
        err(reason)
    if record is not None and annotations:
        err("annotations apply to alerting rules only")
    if alert is None or record is not None:
        return parses  # templates and required labels concern alerting rules only
    for kind, values in (("label", labels), ("annotation", annotations)):
        for name, text in sorted(values.items()):
            if problems := template_errors(text):
                err(f"{kind} {name!r}: template: {'; '.join(problems)}")
    if missing := [k for k in required if not labels.get(k)]:
        err(f"required labels missing: {', '.join(missing)}")
    return parses


def _str_map(rule: Mapping[str, Any], what: str, err: Any) -> dict[str, str]:
    value = rule.get(what)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        err(f"{what} must be a mapping")
        return {}
    out = {str(k): _text(v) for k, v in value.items()}
    for k in sorted(k for k, v in out.items() if v is None):
        err(f"{what}: the value of {k!r} must be a string")
    return {k: v for k, v in out.items() if v is not None}


def _duplicates(parsed: list[tuple[Position, str, str, Mapping[str, Any]]],
                report: RulesReport) -> None:
    """The first definition stays valid; every later one with the same key is an error."""
    first: dict[tuple[str, ...], str] = {}
    for pos, gname, rname, rule in parsed:
        labels = rule.get("labels")
        if isinstance(rule.get("alert"), str) and rule.get("record") is None:
            key: tuple[str, ...] = ("alert", rname)
            reason = "duplicate alert name (first defined in group {!r})"
        elif isinstance(rule.get("record"), str) and rule.get("alert") is None:
            pairs = labels.items() if isinstance(labels, Mapping) else []
            key = ("record", rname, *sorted(f"{k}={v}" for k, v in pairs))
            reason = "recording rule with the same labels already defined in group {!r}"
        else:
            continue
        if key in first:
            report.errors.append(RuleError(gname, rname, reason.format(first[key]), pos))
        first.setdefault(key, gname)


def _unknown(sel: Selector, known: Known, extra: set[str] | frozenset[str]) -> list[str]:
    if sel.metric is None:
        return [f"{sel} (no fixed metric name: cannot be checked)"]
    if sel.metric in extra:
        return []
    if sel.metric not in known:
        return [sel.metric]
    spec = known.get(sel.metric) if isinstance(known, Mapping) else None
    allowed_by_label: Mapping[str, Sequence[str]] = getattr(spec, "label_values", None) or {}
    out = []
    for label, op, value in sel.matchers:
        allowed = allowed_by_label.get(label)
        if not allowed or not value or op not in ("=", "=~") or (
                op == "=~" and not _ALTERNATION.match(value)):
            continue  # open label, absent-label match, negation or a real regex
        if any(v not in allowed for v in (value.split("|") if op == "=~" else [value])):
            out.append(f'{sel.metric}{{{label}{op}"{value}"}} ({label}: {"|".join(allowed)})')
    return out
