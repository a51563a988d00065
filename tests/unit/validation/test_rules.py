"""Rule validation (validation/rules.py) and rendering (render/rules.py), both pure.

Paired fixtures in tests/data/rules/: every ``valid/*.rules.yaml`` passes, every
``invalid/<case>.rules.yaml`` yields exactly the errors and unknown metrics listed
in ``<case>.expected.yaml``, and promtool agrees wherever Prometheus itself has an
opinion (the ``promtool:`` key), so the validator is neither laxer than Prometheus
nor stricter without saying so.
"""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from dashstream_operator.models.alertruleset import ResolvedRuleTargets
from dashstream_operator.render.rules import (
    CONFIGMAP_LIMIT,
    HASH_ANNOTATION,
    PROMETHEUSRULE_LIMIT,
    canonical_groups,
    last_synced,
    render_rule_children,
    rules_yaml,
    split_groups,
)
from dashstream_operator.validation.rules import (
    load_rule_file,
    template_errors,
    validate_groups,
)
from dashstream_workloads.contract import known_series

REPO = Path(__file__).resolve().parents[3]
DATA = REPO / "tests" / "data" / "rules"
VALID = sorted((DATA / "valid").glob("*.rules.yaml"))
INVALID = sorted((DATA / "invalid").glob("*.rules.yaml"))
KNOWN = known_series(None)


def _promtool() -> str:
    path = shutil.which("promtool") or shutil.which("/usr/bin/promtool")
    if path is None:
        pytest.fail("promtool not found: run `make env-up` (Debian package `prometheus`)",
                    pytrace=False)
    return path


def _promtool_ok(path: Path) -> bool:
    proc = subprocess.run([_promtool(), "check", "rules", str(path)], capture_output=True,
                          text=True, timeout=60, check=False)
    return proc.returncode == 0


def _validate(path: Path) -> tuple[list[Any], Any]:
    groups, file_errors = load_rule_file(path.read_text())
    report = validate_groups(groups, KNOWN)
    report.errors[:0] = file_errors
    return groups, report


# --- paired fixtures ------------------------------------------------------------------


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_valid_fixture_passes(path: Path) -> None:
    _, report = _validate(path)
    assert report.valid, report.errors
    assert not report.unknown_metrics
    assert report.usable_rules(reject_unknown=True) == report.rules
    assert _promtool_ok(path)


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name.split(".")[0])
def test_invalid_fixture_reports_exactly_the_expected(path: Path) -> None:
    expected = yaml.safe_load(path.with_name(path.name.replace(".rules.", ".expected.")
                                             ).read_text())
    _, report = _validate(path)
    got = sorted((e.group, e.rule, e.reason) for e in report.errors)
    want = sorted(tuple(e) for e in expected["errors"])
    assert len(got) == len(want), "\n".join(map(str, got))
    for (g, r, reason), (wg, wr, wreason) in zip(got, want, strict=True):
        assert (g, r) == (wg, wr) and wreason in reason, (got, want)
    unknown = sorted((u.group, u.rule, u.metric) for u in report.unknown_metrics)
    assert [(g, r) for g, r, _ in unknown] == sorted((g, r) for g, r, _ in expected["unknown"])
    for (_, _, metric), (_, _, want_metric) in zip(unknown, sorted(
            tuple(u) for u in expected["unknown"]), strict=True):
        assert metric.startswith(want_metric)
    assert _promtool_ok(path) == (expected["promtool"] == "pass")


def test_canonical_rules_are_valid_and_resolved() -> None:
    groups: list[Any] = []
    for path in sorted((REPO / "alert-rules").glob("*.yaml")):
        groups += load_rule_file(path.read_text())[0]
    report = validate_groups(groups, KNOWN)
    assert report.valid, report.errors
    assert not report.unknown_metrics
    assert report.rules == report.alerts + report.records > 40


def test_library_dlq_rules_read_metrics_no_component_exports() -> None:
    path = REPO / "alert-rules" / "optional" / "dashstream-library-dlq.rules.yaml"
    _, report = _validate(path)
    assert report.valid
    assert {u.metric for u in report.unknown_metrics} >= {"dashstream_dlq_sends_total"}
    assert report.usable_rules(reject_unknown=True) == 0
    assert report.usable_rules(reject_unknown=False) == report.rules


def test_component_scope_and_label_values() -> None:
    groups: list[dict[str, Any]] = [{"name": "g", "rules": [
        {"alert": "A", "expr": 'rate(websocket_kafka_messages_total{status="success"}[5m]) > 0',
         "labels": {"severity": "info"}}]}]
    assert not validate_groups(groups, known_series("websocket-server")).unknown_metrics
    other = validate_groups(groups, known_series("quality-monitor"))
    assert [u.metric for u in other.unknown_metrics] == ["websocket_kafka_messages_total"]
    # A plain set of names cannot check label values.
    typo = copy.deepcopy(groups)
    typo[0]["rules"][0]["expr"] = 'websocket_kafka_messages_total{status="eror"}'
    assert validate_groups(typo, KNOWN).unknown_metrics
    assert not validate_groups(typo, frozenset(KNOWN)).unknown_metrics


def test_required_labels_are_configurable_and_scalars_read_as_strings() -> None:
    groups = [{"name": "g", "rules": [{"alert": "A", "expr": 1, "labels": {"tier": 2}}]}]
    assert validate_groups(groups, KNOWN, required_labels=()).valid
    report = validate_groups(groups, KNOWN, required_labels=("tier", "team"))
    assert [e.reason for e in report.errors] == ["required labels missing: team"]


def test_group_level_error_makes_its_rules_unusable() -> None:
    groups = [{"name": "a", "interval": "soon", "rules": [{"record": "a", "expr": "up"}]},
              {"name": "b", "rules": [{"record": "b", "expr": "up"}, {"record": "c"}]}]
    report = validate_groups(groups, KNOWN)
    assert report.usable_rules(reject_unknown=True) == 1
    assert validate_groups("nope", KNOWN).errors[0].reason == "'groups' must be a list"


def test_load_rule_file_reports_unreadable_text() -> None:
    assert load_rule_file("groups: [")[1][0].reason.startswith("not valid YAML")
    assert load_rule_file("- a")[1][0].rule == "(file)"
    assert load_rule_file("groups: 3")[1][0].reason == "'groups' must be a list"
    assert load_rule_file("") == ([], [])


# --- templates: the scanner agrees with promtool --------------------------------------

TEMPLATES = [
    "plain text, no action", "a }} b", '{{ $labels.job }} {{ $value | humanize }}',
    "{{- $labels.instance -}}", "{{/* a }} comment */}}", '{{ "}}" }}', "{{ `raw }}` }}",
    '{{ if eq $labels.x "a" }}a{{ else if $value }}b{{ else }}c{{ end }}',
    "{{ range $i, $v := .Labels }}{{ $v }}{{ break }}{{ end }}",
    "{{ with $x := $labels.job }}{{ $x }}{{ end }}", "{{ $y := 1 }}{{ $y }}",
    '{{ define "t" }}x{{ end }}{{ template "t" }}', "{{ $externalLabels.a }}{{ $externalURL }}",
    '{{ query "up" | first | value | humanizePercentage }}', "{{-3}}",
    # invalid
    "{{ }}", "{{ $labels.job", '{{ "open }}', "{{ if $value }}x", "{{ end }}", "{{ else }}",
    "{{ if 1 }}{{ else }}{{ else }}{{ end }}", "{{ break }}", "{{ nosuch 1 }}",
    "{{ $undefined }}", "{{ if $x := 1 }}{{ end }}{{ $x }}", "{{ printf (humanize 1 }}",
    "{{ 1) }}", "{{/* a */ }}", '{{ define "t" }}{{ $labels }}{{ end }}', "{{ end 1 }}",
    "{{ # }}",
]


def test_template_scanner_agrees_with_promtool(tmp_path: Path) -> None:
    rules = [{"alert": f"T{i}", "expr": "up == 0", "annotations": {"summary": t}}
             for i, t in enumerate(TEMPLATES)]
    disagree = []
    for i, rule in enumerate(rules):
        path = tmp_path / f"t{i}.yaml"
        path.write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [rule]}]}))
        ours = not template_errors(TEMPLATES[i])
        if ours != _promtool_ok(path):
            disagree.append(f"{TEMPLATES[i]!r}: ours {ours}, promtool {not ours}")
    assert not disagree, "\n".join(disagree)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list('{}$.|()"`-/* abif end')), max_size=40))
def test_template_scanner_never_raises(text: str) -> None:
    assert isinstance(template_errors(text), list)


_yamlish = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["name", "rules", "alert", "record", "expr", "for", "labels",
                         "annotations", "interval", "limit", "x"]), inner, max_size=5),
    max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(_yamlish)
def test_validator_never_raises_on_any_data(data: Any) -> None:
    report = validate_groups(data if isinstance(data, list) else [data], KNOWN)
    assert 0 <= report.usable_rules(reject_unknown=True) <= report.rules


# --- rendering ------------------------------------------------------------------------

TARGETS = ResolvedRuleTargets(config_map_name="ars-rules", config_map_key="ars.rules.yaml",
                              config_map_labels={"prometheus": "main",
                                                 "app.kubernetes.io/managed-by": "me"},
                              prometheus_rule_name="ars",
                              prometheus_rule_labels={"release": "kps"})


def _groups() -> list[Any]:
    return load_rule_file((DATA / "valid" / "basic.rules.yaml").read_text())[0]


def test_render_configmap_and_prometheusrule() -> None:
    out = render_rule_children("ars", "ns", "uid-1", 3, _groups(), TARGETS,
                               prometheus_rule_crd=True)
    assert (out.config_maps, out.prometheus_rules, out.too_large) == (["ars-rules"], ["ars"], [])
    cm, pr = out.objects
    assert cm["metadata"]["labels"] == {
        "prometheus": "main", "app.kubernetes.io/managed-by": "dashstream-operator",
        "app.kubernetes.io/part-of": "dashstream", "dashstream.io/alertruleset": "ars"}
    assert pr["metadata"]["labels"]["release"] == "kps"
    for obj in out.objects:
        (ref,) = obj["metadata"]["ownerReferences"]
        assert ref == {"apiVersion": "dashstream.io/v1alpha1", "kind": "AlertRuleSet",
                       "name": "ars", "uid": "uid-1", "controller": True,
                       "blockOwnerDeletion": True}
        assert obj["metadata"]["annotations"]["dashstream.io/generation"] == "3"
    text = cm["data"]["ars.rules.yaml"]
    assert yaml.safe_load(text) == {"groups": canonical_groups(_groups())}
    assert pr["spec"] == {"groups": canonical_groups(_groups())}
    without_crd = render_rule_children("ars", "ns", "uid-1", 3, _groups(), TARGETS,
                                       prometheus_rule_crd=False)
    assert [o["kind"] for o in without_crd.objects] == ["ConfigMap"]


def test_render_is_deterministic_and_promtool_valid(tmp_path: Path) -> None:
    a = render_rule_children("ars", "ns", "u", 1, _groups(), TARGETS, prometheus_rule_crd=True)
    b = render_rule_children("ars", "ns", "u", 1, copy.deepcopy(_groups()), TARGETS,
                             prometheus_rule_crd=True)
    assert a == b
    path = tmp_path / "r.yaml"
    path.write_text(a.objects[0]["data"]["ars.rules.yaml"])
    assert _promtool_ok(path)


def test_big_rule_sets_split_by_whole_groups() -> None:
    rule = {"alert": "A", "expr": "up == 0", "labels": {"severity": "info"},
            "annotations": {"description": "x" * 10_000}}
    groups = [{"name": f"g{i}", "rules": [dict(rule, alert=f"A{i}{j}") for j in range(10)]}
              for i in range(25)]  # ~25 x 100 KB = 2.5 MB
    out = render_rule_children("big", "ns", "u", 1, groups, TARGETS, prometheus_rule_crd=True)
    assert out.config_maps == ["ars-rules", "ars-rules-1", "ars-rules-2"]
    keys = [next(iter(o["data"])) for o in out.objects if o["kind"] == "ConfigMap"]
    assert keys == ["ars.rules.yaml", "ars-1.rules.yaml", "ars-2.rules.yaml"]
    assert len(out.prometheus_rules) == 5
    for obj in out.objects:
        content = next(iter(obj["data"].values())) if "data" in obj else rules_yaml(
            obj["spec"]["groups"])
        limit = CONFIGMAP_LIMIT if "data" in obj else PROMETHEUSRULE_LIMIT
        assert len(content.encode()) <= limit
    names = [g["name"] for o in out.objects if o["kind"] == "ConfigMap"
             for g in yaml.safe_load(next(iter(o["data"].values())))["groups"]]
    assert names == [g["name"] for g in groups]  # every group once, in order
    huge = [{"name": "huge", "rules": [dict(rule, annotations={"d": "y" * 1_000_000})]}]
    assert split_groups(huge, CONFIGMAP_LIMIT)[1] and render_rule_children(
        "big", "ns", "u", 1, huge, TARGETS, prometheus_rule_crd=False).too_large


def _as_live(obj: dict[str, Any]) -> dict[str, Any]:
    """What the API server returns after our apply: plus managedFields of our manager."""
    live = copy.deepcopy(obj)
    fields: dict[str, Any] = {"f:metadata": {"f:labels": {
        f"f:{k}": {} for k in obj["metadata"]["labels"]}}}
    if "data" in obj:
        fields["f:data"] = {f"f:{k}": {} for k in obj["data"]}
    live["metadata"]["labels"]["added-by-someone-else"] = "x"
    live["metadata"]["managedFields"] = [{"manager": "dashstream-operator",
                                          "operation": "Apply", "fieldsV1": fields}]
    return live


def test_last_synced_restores_untouched_children_only() -> None:
    out = render_rule_children("ars", "ns", "u", 7, _groups(), TARGETS, prometheus_rule_crd=True)
    live = [_as_live(o) for o in out.objects]
    assert last_synced(live) == (7, out.objects)
    edited = copy.deepcopy(live)
    edited[0]["data"]["ars.rules.yaml"] = "groups: []\n"
    assert last_synced(edited) is None
    tampered = copy.deepcopy(live)
    tampered[1]["metadata"]["annotations"][HASH_ANNOTATION] = "0"
    assert last_synced(tampered) is None
    assert last_synced([]) is None
