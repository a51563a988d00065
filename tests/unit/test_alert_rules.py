"""The canonical alert rules in alert-rules/: promtool-valid, tested, documented,
and reading only metrics that some DashStream component really exports.

The old stack alerted on metrics no scraped target exported (they were registered
in a registry no /metrics endpoint served), so those alerts could never fire; the
metric-existence test below is what stops that from coming back.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import textwrap
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from dashstream_operator.validation.promql import Selector, parse_expr, selectors
from dashstream_workloads.contract import known_series

REPO = Path(__file__).resolve().parents[2]
RULES_DIR = REPO / "alert-rules"
TESTS_DIR = RULES_DIR / "tests"
RUNBOOKS_DIR = REPO / "docs" / "runbooks"
RUNBOOK_PREFIX = "https://github.com/dashstream/dashstream-operator/blob/main/docs/runbooks/"

SEVERITIES = {"info", "warning", "critical"}
# Series every Prometheus has without any DashStream exporter.
STANDARD_SERIES = {"up"}
# The streaming library's DLQ metrics (seeds, "DLQ Metrics (Streaming Library)"):
# no component the operator deploys exports them (only a service that opts into the
# library's DlqHandler would; the websocket-server has its own DLQ metrics), so they
# are not in the contract. They may appear only in the optional library-DLQ rule file.
LIBRARY_DLQ_FILE = "dashstream-library-dlq.rules.yaml"
LIBRARY_DLQ_SERIES = {
    "dashstream_dlq_sends_total",
    "dashstream_dlq_send_failures_total",
    "dashstream_dlq_dropped_total",
    "dashstream_dlq_send_retries_total",
}
# Labels Prometheus/ServiceMonitor scraping attaches, and histogram `le`.
TARGET_LABELS = {"job", "instance", "namespace", "pod", "service", "endpoint", "container", "le"}
# Alert `component` label -> contract component whose metrics the alert may read.
CONTRACT_COMPONENT = {
    "websocket-server": "websocket-server",
    "prometheus-exporter": "prometheus-exporter",
    "quality-monitor": "quality-monitor",
    "quality": "prometheus-exporter",  # quality metrics are derived by the exporter
}
REQUIRED_RUNBOOK_SECTIONS = ("## Meaning", "## Impact", "## Diagnosis", "## Mitigation")


def _rule_files() -> list[Path]:
    # alert-rules/optional/ holds rules for metrics none of our servers export (loaded
    # only by users who run such a service); they are tested the same way.
    return sorted([*RULES_DIR.glob("*.yaml"), *(RULES_DIR / "optional").glob("*.yaml")])


def _test_files() -> list[Path]:
    return sorted(TESTS_DIR.glob("*.test.yaml"))


def _rules() -> Iterator[tuple[Path, str, dict[str, Any]]]:
    for path in _rule_files():
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                yield path, group["name"], rule


def _alerts() -> list[dict[str, Any]]:
    return [rule for _, _, rule in _rules() if "alert" in rule]


def _recorded_names() -> set[str]:
    return {rule["record"] for _, _, rule in _rules() if "record" in rule}


def kebab(alert: str) -> str:
    """``WebSocketDlqBroken`` -> ``websocket-dlq-broken``, ``HighDLQRate`` -> ``high-dlq-rate``."""
    name = alert.replace("WebSocket", "Websocket")
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "-", name).lower()


def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail(
            "promtool not found on PATH: run `make env-up` to install promtool "
            "(Debian package `prometheus`)",
            pytrace=False,
        )
    return path


def _run(*args: str) -> None:
    proc = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, f"{' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"


# --- promtool -------------------------------------------------------------------------


def test_rule_files_exist() -> None:
    assert _rule_files(), "alert-rules/ holds no rule file"
    assert _test_files(), "alert-rules/tests/ holds no promtool test file"


def test_promtool_check_rules() -> None:
    _run(_promtool(), "check", "rules", *map(str, _rule_files()))


def test_promtool_test_rules() -> None:
    _run(_promtool(), "test", "rules", *map(str, _test_files()))


def test_every_rule_file_has_a_test_file() -> None:
    tested: set[str] = set()
    for path in _test_files():
        tested.update(Path(f).name for f in yaml.safe_load(path.read_text())["rule_files"])
    assert {p.name for p in _rule_files()} <= tested


# --- structure and documentation ------------------------------------------------------


def test_no_duplicate_alert_or_group_names() -> None:
    alerts = Counter(rule["alert"] for rule in _alerts())
    assert not [n for n, c in alerts.items() if c > 1], "duplicate alert names"
    groups = Counter(group for path in _rule_files()
                     for group in (g["name"] for g in yaml.safe_load(path.read_text())["groups"]))
    assert not [n for n, c in groups.items() if c > 1], "duplicate group names"


def test_recording_rules_are_unique_and_well_named() -> None:
    keys = Counter(
        (rule["record"], tuple(sorted((rule.get("labels") or {}).items())))
        for _, _, rule in _rules() if "record" in rule
    )
    assert not [k for k, c in keys.items() if c > 1], "recording rule defined twice"
    for name, _ in keys:
        assert re.fullmatch(r"[a-z_]+:[a-z0-9_]+:[a-z0-9_]+", name), f"{name}: not level:metric:ops"


@pytest.mark.parametrize("alert", _alerts(), ids=lambda r: r["alert"])
def test_alert_labels_and_annotations(alert: dict[str, Any]) -> None:
    labels, annotations = alert.get("labels") or {}, alert.get("annotations") or {}
    assert labels.get("severity") in SEVERITIES
    assert labels.get("component"), "component label missing"
    for key in ("summary", "description", "runbook_url"):
        assert str(annotations.get(key, "")).strip(), f"annotation {key} missing"
    assert re.fullmatch(r"\d+[smh]", str(alert.get("for", "0s"))), "for: use s/m/h"


@pytest.mark.parametrize("alert", _alerts(), ids=lambda r: r["alert"])
def test_alert_runbook_exists(alert: dict[str, Any]) -> None:
    expected = f"{RUNBOOK_PREFIX}{kebab(alert['alert'])}.md"
    assert alert["annotations"]["runbook_url"] == expected
    page = RUNBOOKS_DIR / f"{kebab(alert['alert'])}.md"
    assert page.is_file(), f"runbook {page.relative_to(REPO)} missing"
    text = page.read_text()
    assert alert["alert"] in text
    missing = [s for s in REQUIRED_RUNBOOK_SECTIONS if s not in text]
    assert not missing, f"{page.name} lacks sections {missing}"


def test_runbook_pages_match_alerts() -> None:
    pages = {p.stem for p in RUNBOOKS_DIR.glob("*.md")} - {"README"}
    names = {kebab(rule["alert"]) for rule in _alerts()}
    assert pages == names, f"orphan pages {sorted(pages - names)}, missing {sorted(names - pages)}"
    index = (RUNBOOKS_DIR / "README.md").read_text()
    assert not [r["alert"] for r in _alerts() if f"[{r['alert']}]" not in index]


def _runbook_queries() -> Iterator[tuple[str, str]]:
    """Queries in ```promql blocks: one per line, indented lines continue the previous one."""
    for page in sorted(RUNBOOKS_DIR.glob("*.md")):
        for block in re.findall(r"```promql\n(.*?)```", page.read_text(), re.S):
            queries: list[str] = []
            for line in textwrap.dedent(block).splitlines():
                if line.startswith(" ") and queries:
                    queries[-1] += " " + line.strip()
                elif line.strip():
                    queries.append(line.strip())
            yield from ((page.name, q) for q in queries)


def test_runbook_queries_parse_and_read_known_metrics() -> None:
    known = known_series(None).keys() | _recorded_names() | STANDARD_SERIES | LIBRARY_DLQ_SERIES
    problems = []
    for page, query in _runbook_queries():
        unknown = {s.metric for s in selectors(query)} - known
        if unknown:
            problems.append(f"{page}: {query!r} reads unknown {sorted(map(str, unknown))}")
    assert not problems, "\n".join(problems)


def test_every_alert_has_a_firing_and_a_silent_case() -> None:
    firing: set[str] = set()
    silent: set[str] = set()
    recordings_tested: set[str] = set()
    for path in _test_files():
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test") or []:
                (firing if check.get("exp_alerts") else silent).add(check["alertname"])
            for check in case.get("promql_expr_test") or []:
                recordings_tested.update(s.metric for s in selectors(check["expr"]) if s.metric)
    names = {rule["alert"] for rule in _alerts()}
    assert not names - firing, f"alerts without a firing test: {sorted(names - firing)}"
    assert not names - silent, f"alerts without a must-not-fire test: {sorted(names - silent)}"
    untested = _recorded_names() - recordings_tested
    assert not untested, f"recording rules without promql_expr_test: {sorted(untested)}"


# --- PromQL and the metrics contract --------------------------------------------------


def _rule_selectors() -> Iterator[tuple[str, str, Selector]]:
    for path, _, rule in _rules():
        parse_expr(str(rule["expr"]))  # strict: no Prometheus-unsupported extensions
        name = rule.get("alert") or rule["record"]
        for sel in selectors(str(rule["expr"])):
            yield path.name, name, sel


def test_every_selected_metric_exists() -> None:
    contract = known_series(None)
    recorded = _recorded_names()
    problems = []
    for file, rule, sel in _rule_selectors():
        if sel.metric is None:
            problems.append(f"{file}/{rule}: {sel} has no fixed metric name, cannot be checked")
        elif sel.metric in LIBRARY_DLQ_SERIES and file == LIBRARY_DLQ_FILE:
            continue
        elif sel.metric not in contract and sel.metric not in recorded | STANDARD_SERIES:
            problems.append(f"{file}/{rule}: {sel.metric} is not in the metrics contract")
    assert not problems, "\n".join(problems)


def test_library_dlq_metrics_stay_out_of_the_contract_or_agree() -> None:
    # If a component ever exports them, the optional file's carve-out must go.
    contract = known_series(None)
    overlap = LIBRARY_DLQ_SERIES & contract.keys()
    assert not overlap, f"{sorted(overlap)} now in the contract: drop the LIBRARY_DLQ carve-out"


def _allowed_values(op: str, value: str) -> list[str] | None:
    if op == "=":
        return [value]
    if op == "=~" and re.fullmatch(r"[A-Za-z0-9_]+(\|[A-Za-z0-9_]+)*", value):
        return value.split("|")
    return None  # negative or complex regex: nothing to check


def test_label_matchers_use_contract_labels_and_values() -> None:
    contract = known_series(None)
    problems = []
    for file, rule, sel in _rule_selectors():
        spec = contract.get(sel.metric or "")
        if spec is None:
            continue
        for label, op, value in sel.matchers:
            if label not in spec.labels and label not in TARGET_LABELS:
                problems.append(f"{file}/{rule}: {sel.metric} has no label {label!r}")
                continue
            allowed = spec.label_values.get(label)
            values = _allowed_values(op, value)
            if allowed and values and not set(values) <= set(allowed):
                problems.append(f"{file}/{rule}: {label}{op}{value!r} not in {allowed}")
    assert not problems, "\n".join(problems)


# ServiceDown (templated component) and the library DLQ alerts are not scoped
# to one contract component, so they are not parametrized here.
@pytest.mark.parametrize(
    "alert",
    [a for a in _alerts() if a["labels"]["component"] in CONTRACT_COMPONENT],
    ids=lambda r: r["alert"],
)
def test_alert_reads_its_components_metrics(alert: dict[str, Any]) -> None:
    component = CONTRACT_COMPONENT[alert["labels"]["component"]]
    exported = known_series(component).keys() | _recorded_names() | STANDARD_SERIES
    foreign = {s.metric for s in selectors(str(alert["expr"]))} - exported
    assert not foreign, f"component {component} does not export {sorted(map(str, foreign))}"
