"""`dashstream validate`: the operator's checks offline, for GitOps CI."""

from __future__ import annotations

import base64
import gzip
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from dashstream_operator.cli import main

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "alert-rules"
DASHBOARDS = REPO / "dashboards"
FIXTURES = REPO / "tests" / "data" / "rules"

GOOD_GROUP = {"name": "g", "rules": [
    {"alert": "Down", "expr": "up == 0", "labels": {"severity": "critical"}}]}
GHOST_GROUP = {"name": "ghost", "rules": [
    {"alert": "Ghost", "expr": "rate(nonexistent_metric_total[5m]) > 0",
     "labels": {"severity": "warning"}}]}


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["validate", *args])
    out = capsys.readouterr()
    return code, out.out + out.err


def ruleset(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "dashstream.io/v1alpha1", "kind": "AlertRuleSet",
            "metadata": {"name": name}, "spec": spec}


def write_docs(path: Path, *docs: Any) -> Path:
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return path


def test_canonical_rules_and_dashboards_pass(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, str(RULES), str(DASHBOARDS))
    print(out)
    assert code == 0
    assert out.count("\nok ") + out.startswith("ok ") == 7
    assert "7 checked: 7 passed, 0 failed" in out


def test_optional_library_dlq_rules_fail_on_unknown_metrics(
        capsys: pytest.CaptureFixture[str]) -> None:
    # Expected: no DashStream component exports the streaming library's DLQ metrics.
    code, out = run(capsys, str(RULES / "optional"))
    assert code == 1
    assert "FAIL" in out and "unknown metric dashstream_dlq_sends_total" in out
    code, out = run(capsys, str(RULES / "optional"), "--unknown-metrics", "warn")
    assert code == 0 and "warning: unknown metric dashstream_dlq_sends_total" in out


def test_invalid_fixtures_fail_with_reasons(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, str(FIXTURES / "invalid"))
    assert code == 1
    assert "Unclosed: invalid PromQL: unclosed left parenthesis" in out
    assert "b/Twice: duplicate alert name" in out
    # The paired *.expected.yaml files are neither rule files nor CRs: skipped, not failed.
    assert "SKIP" in out and "expected.yaml" in out


def test_components_flag_narrows_the_contract(capsys: pytest.CaptureFixture[str]) -> None:
    ws = RULES / "dashstream-websocket.rules.yaml"
    assert run(capsys, str(ws), "--components", "websocket-server")[0] == 0
    code, out = run(capsys, str(ws), "--components", "quality-monitor")
    assert code == 1 and "unknown metric websocket_kafka_messages_total" in out


def test_alertruleset_cr_uses_its_own_validation_settings(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ok = write_docs(tmp_path / "ok.yaml", ruleset("ok", {"groups": [GOOD_GROUP]}))
    assert run(capsys, str(ok))[0] == 0
    warn = write_docs(tmp_path / "warn.yaml", ruleset("warn", {
        "groups": [GHOST_GROUP], "validation": {"unknownMetrics": "Warn"}}))
    code, out = run(capsys, str(warn))
    assert code == 0 and "WARN" in out and "AlertRuleSet warn" in out
    assert run(capsys, str(warn), "--unknown-metrics", "reject")[0] == 1
    labels = write_docs(tmp_path / "labels.yaml", ruleset("labels", {
        "groups": [GOOD_GROUP], "validation": {"requiredLabels": ["team"]}}))
    code, out = run(capsys, str(labels))
    assert code == 1 and "required labels missing: team" in out
    bad = write_docs(tmp_path / "bad.yaml", ruleset("bad", {"groups": [GOOD_GROUP],
                                                           "groupsFrom": {}}))
    code, out = run(capsys, str(bad))
    assert code == 1 and "spec" in out


def test_alertruleset_groups_from_a_configmap_in_the_same_files(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ref = {"groupsFrom": {"configMapKeyRef": {"name": "src", "key": "r.yaml"}}}
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "src"},
          "data": {"r.yaml": yaml.safe_dump({"groups": [GOOD_GROUP, GHOST_GROUP]})}}
    both = write_docs(tmp_path / "both.yaml", ruleset("from-cm", ref), cm)
    code, out = run(capsys, str(both))
    assert code == 1 and "Ghost" in out
    alone = write_docs(tmp_path / "alone.yaml", ruleset("from-cm", ref))
    code, out = run(capsys, str(alone))
    assert code == 0 and "SKIP" in out and "not among the given files" in out


def test_dashboardset_cr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (DASHBOARDS / "dashstream-exporter.json").read_text()
    packed = base64.b64encode(gzip.compress(text.encode())).decode()
    broken = json.loads(text) | {"panels": "nope"}
    doc: dict[str, Any] = {"apiVersion": "dashstream.io/v1alpha1", "kind": "DashboardSet",
           "metadata": {"name": "dbs"},
           "spec": {"dashboards": [{"name": "plain", "json": text},
                                   {"name": "packed", "gzipBase64": packed}]}}
    path = write_docs(tmp_path / "dbs.yaml", doc)
    code, out = run(capsys, str(path))
    assert code == 0 and "dashboard plain" in out and "dashboard packed" in out
    doc["spec"]["dashboards"].append({"name": "broken", "json": json.dumps(broken)})
    code, out = run(capsys, str(write_docs(tmp_path / "dbs.yaml", doc)))
    assert code == 1 and "'panels' must be a list" in out


def test_unreadable_and_unknown_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                       ) -> None:
    assert run(capsys, str(tmp_path / "missing.yaml"))[0] == 2
    (tmp_path / "broken.json").write_text("{")
    code, out = run(capsys, str(tmp_path / "broken.json"))
    assert code == 1 and "unreadable" in out
    other = write_docs(tmp_path / "other.yaml", {"apiVersion": "v1", "kind": "Secret"})
    assert run(capsys, str(other))[0] == 1  # named explicitly: must be something we check
    shutil.copy(RULES / "tests" / "dashstream-availability.test.yaml", tmp_path)
    code, out = run(capsys, str(tmp_path / "dashstream-availability.test.yaml"))
    assert code == 0 and "promtool test file" in out


def test_console_script(tmp_path: Path) -> None:
    exe = shutil.which("dashstream")
    assert exe, "the `dashstream` console script is not installed (pip install -e .)"
    ok = subprocess.run([exe, "validate", str(RULES)], capture_output=True, text=True,
                        timeout=120, check=False)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    bad = subprocess.run([exe, "validate", str(RULES / "optional")], capture_output=True,
                         text=True, timeout=120, check=False)
    assert bad.returncode == 1
    helptext = subprocess.run([exe, "validate", "--help"], capture_output=True, text=True,
                              timeout=60, check=True).stdout
    assert "--unknown-metrics" in helptext and "--components" in helptext
