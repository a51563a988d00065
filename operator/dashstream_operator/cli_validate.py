"""`dashstream validate PATH...`: the operator's rule and dashboard checks, offline.

For GitOps CI: the same validation the AlertRuleSet and DashboardSet
controllers run before syncing, on files, with no cluster. Each PATH is a file or
a directory (its ``*.yaml``, ``*.yml`` and ``*.json`` files, not its
subdirectories, like ``promtool check rules dir/*.yaml``). A YAML document is one
of: a Prometheus rule file (``groups:``), an ``AlertRuleSet`` or ``DashboardSet``
CR, or a ConfigMap (used as the source a CR's ``groupsFrom``/``configMapKeyRef``
names); a ``.json`` file is a Grafana dashboard. Recording rules of every rule
file given count as known series for the other rule files and the dashboards (as
Prometheus loads them together); a CR is checked as the operator checks it, with
its own ``spec.validation`` unless ``--components``/``--unknown-metrics`` is given.

Exit status: 0 when everything passes (warnings allowed), 1 when anything fails,
2 on usage errors.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dashstream_operator.cli import command
from dashstream_operator.models import (
    ALERT_RULE_SET,
    DASHBOARD_SET,
    AlertRuleSetSpec,
    DashboardSetSpec,
    SpecError,
)
from dashstream_operator.validation.dashboards import validate_dashboard
from dashstream_operator.validation.rules import (
    STANDARD_SERIES,
    RulesReport,
    load_rule_file,
    rule_file_groups,
    validate_groups,
)

__all__ = ["FileResult", "validate_paths"]

SUFFIXES = (".yaml", ".yml", ".json")
ALL_COMPONENTS = ("websocket-server", "prometheus-exporter", "quality-monitor")


@dataclass
class FileResult:
    """What one file (or one document of it) is, and what is wrong with it."""

    path: str
    what: str
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    skipped: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass(frozen=True)
class Policy:
    components: tuple[str, ...] | None  # None: the CR's own (files: all)
    reject: bool | None  # None: the CR's own (files: reject)


def _known(components: Iterable[str]) -> Mapping[str, Any]:
    from dashstream_workloads.contract import known_series

    return known_series(list(components))


def _files(paths: Iterable[str]) -> list[tuple[Path, bool]]:
    """(file, named explicitly) for every PATH; directories contribute their own files."""
    out: list[tuple[Path, bool]] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            out += [(p, False) for p in sorted(path.iterdir())
                    if p.is_file() and p.suffix in SUFFIXES]
        else:
            out.append((path, True))
    return out


def _docs(path: Path) -> list[Any]:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        return [json.loads(text)]
    return [d for d in yaml.safe_load_all(text) if d is not None] or [None]


def _kind(doc: Any, path: Path) -> str:
    if path.suffix == ".json":
        return "dashboard"
    if not isinstance(doc, Mapping):
        return "rules" if doc is None else "unknown"  # an empty file is an empty rule file
    if doc.get("kind") in (ALERT_RULE_SET.kind, DASHBOARD_SET.kind, "ConfigMap"):
        return str(doc["kind"])
    if "rule_files" in doc and "tests" in doc:
        return "promtool-test"
    return "rules" if "groups" in doc or not doc else "unknown"


def _rule_summary(report: RulesReport) -> str:
    return (f"{report.groups} groups, {report.rules} rules ({report.alerts} alerting, "
            f"{report.records} recording)")


def _rule_findings(result: FileResult, report: RulesReport, reject: bool) -> None:
    result.errors += [f"{e.group}/{e.rule}: {e.reason}" for e in report.errors]
    unknown = [f"unknown metric {u.metric} ({u.group}/{u.rule})" for u in report.unknown_metrics]
    (result.errors if reject else result.warnings).extend(unknown)


def _check_rules(path: str, groups: Any, pre: list[Any], policy: Policy,
                 recorded: frozenset[str], what: str = "rule file",
                 required: tuple[str, ...] = ("severity",)) -> FileResult:
    report = validate_groups(groups, _known(policy.components or ALL_COMPONENTS),
                             required_labels=required, standard=STANDARD_SERIES | recorded)
    report.errors[:0] = pre
    result = FileResult(path, f"{what}: {_rule_summary(report)}")
    _rule_findings(result, report, policy.reject is not False)
    return result


def _check_ruleset(path: str, doc: Mapping[str, Any], policy: Policy,
                   configmaps: Mapping[str, Mapping[str, Any]]) -> FileResult:
    name = (doc.get("metadata") or {}).get("name", "?")
    try:
        spec = AlertRuleSetSpec.from_body(doc)
    except SpecError as exc:
        return FileResult(path, f"AlertRuleSet {name}", errors=[str(exc)])
    own = spec.resolved_validation().resolved()
    effective = Policy(policy.components or own.components,
                       own.unknown_metrics == "Reject" if policy.reject is None else policy.reject)
    if spec.groups is not None:
        groups: Any = [g.model_dump(mode="json", by_alias=True, exclude_none=True)
                       for g in spec.groups]
        pre: list[Any] = []
    else:
        assert spec.groups_from is not None
        ref = spec.groups_from.config_map_key_ref
        data = (configmaps.get(ref.name) or {}).get("data") or {}
        if ref.key not in data:
            return FileResult(path, f"AlertRuleSet {name}", skipped=True, warnings=[
                f"groupsFrom ConfigMap {ref.name!r} key {ref.key!r} is not among the given "
                "files: not checked"])
        groups, pre = load_rule_file(str(data[ref.key]))
    # Only the set's own recording rules count, as in the operator.
    return _check_rules(path, groups, pre, effective, frozenset(), f"AlertRuleSet {name}",
                        own.required_labels)


def _check_dashboard(path: str, obj: Any, policy: Policy, recorded: frozenset[str],
                     what: str = "dashboard") -> FileResult:
    report = validate_dashboard(obj, _known(policy.components or ALL_COMPONENTS), recorded)
    result = FileResult(path, f"{what} {report.uid or '?'} ({report.panels} panels, "
                        f"{report.bytes} bytes)", errors=list(report.errors))
    unknown = [f"unknown metric {m}" for m in report.unknown_metrics]
    (result.errors if policy.reject is not False else result.warnings).extend(unknown)
    return result


def _check_dashboardset(path: str, doc: Mapping[str, Any], policy: Policy,
                        configmaps: Mapping[str, Mapping[str, Any]],
                        recorded: frozenset[str]) -> list[FileResult]:
    from dashstream_operator.render.dashboards import SourceError, decode_source, parse_dashboard

    name = (doc.get("metadata") or {}).get("name", "?")
    try:
        spec = DashboardSetSpec.from_body(doc)
    except SpecError as exc:
        return [FileResult(path, f"DashboardSet {name}", errors=[str(exc)])]
    own = (spec.validation.resolved() if spec.validation else None)
    effective = Policy(policy.components or (own.components if own else None),
                       (own.unknown_metrics == "Reject" if own else True)
                       if policy.reject is None else policy.reject)
    results = []
    for dash in spec.dashboards:
        what = f"DashboardSet {name} dashboard {dash.name}"
        ref = dash.config_map_key_ref
        if ref is not None and ref.name not in configmaps:
            results.append(FileResult(path, what, skipped=True, warnings=[
                f"ConfigMap {ref.name!r} is not among the given files: not checked"]))
            continue
        try:
            obj = parse_dashboard(decode_source(dash, configmaps.get(ref.name) if ref else None))
        except SourceError as exc:
            results.append(FileResult(path, what, errors=[str(exc)]))
            continue
        results.append(_check_dashboard(path, obj, effective, recorded, what))
    return results


def validate_paths(paths: Iterable[str], policy: Policy | None = None) -> list[FileResult]:
    """Validate every file; never raises for bad content (unreadable files are errors)."""
    policy = policy or Policy(None, None)
    loaded: list[tuple[str, bool, str, Any]] = []  # (path, explicit, kind, doc)
    results: list[FileResult] = []
    for file, explicit in _files(paths):
        try:
            docs = _docs(file)
        except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError) as exc:
            results.append(FileResult(str(file), "unreadable",
                                      errors=[" ".join(str(exc).split())]))
            continue
        loaded += [(str(file), explicit, _kind(doc, file), doc) for doc in docs]
    configmaps = {d["metadata"]["name"]: d for _, _, k, d in loaded
                  if k == "ConfigMap" and isinstance(d.get("metadata"), Mapping)}
    rule_files = {i: rule_file_groups(d) for i, (_, _, k, d) in enumerate(loaded) if k == "rules"}
    recorded = frozenset(r["record"] for groups, _ in rule_files.values()
                         for g in groups if isinstance(g, Mapping)
                         for r in g.get("rules") or [] if isinstance(r, Mapping)
                         and isinstance(r.get("record"), str))
    for i, (path, explicit, kind, doc) in enumerate(loaded):
        if kind == "rules":
            groups, pre = rule_files[i]
            results.append(_check_rules(path, groups, pre, policy, recorded))
        elif kind == "dashboard":
            results.append(_check_dashboard(path, doc, policy, recorded))
        elif kind == ALERT_RULE_SET.kind:
            results.append(_check_ruleset(path, doc, policy, configmaps))
        elif kind == DASHBOARD_SET.kind:
            results += _check_dashboardset(path, doc, policy, configmaps, recorded)
        elif kind == "promtool-test":
            results.append(FileResult(path, "promtool test file", skipped=True))
        elif kind == "unknown":
            reason = "neither a rule file, a dashboard, nor an AlertRuleSet/DashboardSet"
            results.append(FileResult(path, "unknown", errors=[reason] if explicit else [],
                                      warnings=[] if explicit else [reason], skipped=True))
    return results


def _print(results: list[FileResult]) -> None:
    for r in results:
        tag = "FAIL" if r.errors else "SKIP" if r.skipped else "WARN" if r.warnings else "ok"
        print(f"{tag:4} {r.path}: {r.what}")
        for line in r.errors:
            print(f"     error: {line}")
        for line in r.warnings:
            print(f"     warning: {line}")
    failed = sum(not r.ok for r in results)
    print(f"{len(results)} checked: {len(results) - failed} passed, {failed} failed")


def _configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="rule files, dashboards (.json), AlertRuleSet/DashboardSet YAML, or "
                   "directories holding them (not recursive)")
    p.add_argument("--components", action="append", metavar="C",
                   choices=[*ALL_COMPONENTS, "all"],
                   help="metrics contract to check against (repeatable; default: all, or a "
                   "CR's spec.validation.components)")
    p.add_argument("--unknown-metrics", choices=["warn", "reject"],
                   help="an unknown metric fails the file (reject, the default) or is only "
                   "reported (warn); overrides a CR's spec.validation.unknownMetrics")


@command("validate", "check alert-rule files, dashboards and AlertRuleSet/DashboardSet YAML "
         "offline, as the operator would (exit 1 on errors)", _configure)
def validate(args: argparse.Namespace) -> int:
    components = None
    if args.components and "all" not in args.components:
        components = tuple(c for c in ALL_COMPONENTS if c in args.components)
    reject = None if args.unknown_metrics is None else args.unknown_metrics == "reject"
    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        print(f"dashstream validate: no such file or directory: {', '.join(missing)}",
              file=sys.stderr)
        return 2
    results = validate_paths(args.paths, Policy(components, reject))
    _print(results)
    return 1 if any(not r.ok for r in results) else 0
