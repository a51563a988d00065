"""Whether a Prometheus selects a ServiceMonitor / PrometheusRule, as prometheus-operator
decides it (unset selector: nothing; empty: everything; unset namespace selector: the
Prometheus's own namespace). The integration test checks the same verdicts against the
real prometheus-operator's generated configuration."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from dashstream_operator.reconcile.prometheus_index import PrometheusIndex
from dashstream_operator.reconcile.selection import (
    Prometheuses,
    PrometheusSelectors,
    label_selector_matches,
    selection,
    selection_summary,
)

KPS = {"matchLabels": {"release": "kube-prometheus-stack"}}


def prom(ns: str = "monitoring", name: str = "k8s", **spec: Any) -> PrometheusSelectors:
    return PrometheusSelectors.of({"metadata": {"namespace": ns, "name": name}, "spec": spec})


def monitor(name: str = "p-exporter", ns: str = "team", kind: str = "ServiceMonitor",
            **labels: str) -> dict[str, Any]:
    return {"kind": kind, "metadata": {"namespace": ns, "name": name, "labels": labels}}


def no_labels(_ns: str) -> Mapping[str, str] | None:
    return {}


@pytest.mark.parametrize(("selector", "labels", "expected"), [
    (None, {"a": "1"}, False),
    ({}, {}, True),
    ({"matchLabels": {"a": "1"}}, {"a": "1", "b": "2"}, True),
    ({"matchLabels": {"a": "1"}}, {"a": "2"}, False),
    ({"matchExpressions": [{"key": "a", "operator": "In", "values": ["1", "2"]}]}, {"a": "2"},
     True),
    ({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, {}, True),
    ({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, {"a": "1"},
     False),
    ({"matchExpressions": [{"key": "a", "operator": "Exists"}]}, {"a": ""}, True),
    ({"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]}, {"a": ""}, False),
    ({"matchExpressions": [{"key": "a", "operator": "Bogus"}]}, {"a": ""}, False),
])
def test_label_selector_semantics(selector: Any, labels: dict[str, str],
                                  expected: bool) -> None:
    assert label_selector_matches(selector, labels) is expected


def test_wrong_release_label_names_the_prometheus_and_both_labels() -> None:
    p = prom(serviceMonitorSelector=KPS, serviceMonitorNamespaceSelector={})
    status, reason, message = selection_summary(
        "ServiceMonitor", [monitor(release="prom"), monitor("p-ws", release="prom")],
        Prometheuses("listed", (p,)), no_labels)
    assert (status, reason) == ("False", "NotSelected")
    assert message == ("ServiceMonitors p-exporter, p-ws are selected by no Prometheus: "
                       "Prometheus monitoring/k8s wants release=kube-prometheus-stack; the "
                       "ServiceMonitor has release=prom")


def test_missing_label_and_own_namespace_only() -> None:
    label = prom(serviceMonitorSelector=KPS, serviceMonitorNamespaceSelector={})
    own_ns = prom("team-b", "local", serviceMonitorSelector={})
    verdict = selection(monitor(), [label, own_ns], no_labels)
    assert verdict.selected_by == []
    assert verdict.why_not == [
        "Prometheus monitoring/k8s wants release=kube-prometheus-stack; the ServiceMonitor "
        "has no release label",
        "Prometheus team-b/local looks only in its own namespace team-b "
        "(serviceMonitorNamespaceSelector is unset)"]


def test_selected_by_any_one_of_several() -> None:
    ps = (prom(serviceMonitorSelector=KPS, serviceMonitorNamespaceSelector={}),
          prom("team", "own", serviceMonitorSelector={}))
    status, reason, message = selection_summary(
        "ServiceMonitor", [monitor()], Prometheuses("listed", ps), no_labels)
    assert (status, reason, message) == (
        "True", "Selected", "ServiceMonitor p-exporter selected by Prometheus team/own")


def test_unset_label_selector_selects_nothing() -> None:
    p = prom("team", serviceMonitorNamespaceSelector={})
    assert selection(monitor(), [p], no_labels).why_not == [
        "Prometheus team/k8s selects no ServiceMonitor (serviceMonitorSelector is unset)"]


def test_namespace_selector_reads_namespace_labels() -> None:
    p = prom(serviceMonitorSelector={}, serviceMonitorNamespaceSelector={
        "matchLabels": {"monitoring": "on"}})
    labelled = selection(monitor(), [p], lambda ns: {"monitoring": "on"})
    assert labelled.selected_by == ["Prometheus monitoring/k8s"]
    plain = selection(monitor(), [p], no_labels)
    assert plain.why_not == ["Prometheus monitoring/k8s wants namespaces with monitoring=on "
                             "(serviceMonitorNamespaceSelector); Namespace team does not match"]
    by_name = prom(serviceMonitorSelector={}, serviceMonitorNamespaceSelector={
        "matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In",
                              "values": ["team"]}]})
    assert selection(monitor(), [by_name], no_labels).selected_by == ["Prometheus monitoring/k8s"]


def test_unreadable_namespace_is_unknown_not_a_failure() -> None:
    p = prom(serviceMonitorSelector={}, serviceMonitorNamespaceSelector={
        "matchLabels": {"monitoring": "on"}})
    status, reason, message = selection_summary(
        "ServiceMonitor", [monitor()], Prometheuses("listed", (p,)), lambda ns: None)
    assert (status, reason) == ("True", "SelectionUnknown")
    assert "labels of Namespace team cannot be read" in message


def test_rules_use_the_rule_selectors() -> None:
    p = prom(serviceMonitorSelector={}, serviceMonitorNamespaceSelector={},
             ruleSelector=KPS, ruleNamespaceSelector={})
    rule = monitor("alerts", kind="PrometheusRule", release="kube-prometheus-stack")
    assert selection(rule, [p], no_labels).selected_by == ["Prometheus monitoring/k8s"]
    status, reason, message = selection_summary(
        "PrometheusRule", [monitor("alerts", kind="PrometheusRule")],
        Prometheuses("listed", (p,)), no_labels)
    assert (status, reason) == ("False", "NotSelected")
    assert message.endswith("the PrometheusRule has no release label")


@pytest.mark.parametrize(("state", "words"), [
    ("absent", "CRD (prometheuses.monitoring.coreos.com) is not installed"),
    ("forbidden", "not allowed to list Prometheus objects"),
    ("listed", "no Prometheus object exists"),
])
def test_nothing_to_judge_by_is_said_not_failed(state: Any, words: str) -> None:
    status, reason, message = selection_summary(
        "ServiceMonitor", [monitor()], Prometheuses(state), no_labels)
    assert (status, reason) == ("True", "SelectionUnknown")
    assert words in message


@pytest.mark.parametrize("expr", [
    {"key": "a", "operator": "NotIn", "values": []},
    {"key": "a", "operator": "In"},
    {"key": "a", "operator": "Exists", "values": ["x"]},
])
def test_invalid_selectors_select_nothing(expr: dict[str, Any]) -> None:
    # prometheus-operator cannot convert them, so that Prometheus selects nothing.
    assert label_selector_matches({"matchExpressions": [expr]}, {"a": "b"}) is False


def test_hundreds_of_prometheus_objects_keep_the_message_short() -> None:
    many = tuple(prom(f"ns{i}", serviceMonitorSelector=KPS, serviceMonitorNamespaceSelector={})
                 for i in range(300))
    _, reason, message = selection_summary("ServiceMonitor", [monitor(release="prom")],
                                           Prometheuses("listed", many), no_labels)
    assert reason == "NotSelected"
    assert message.endswith("; and 297 more Prometheus objects") and len(message) < 600


def _prometheus_obj(name: str, rv: int, release: str) -> dict[str, Any]:
    return {"metadata": {"namespace": "monitoring", "name": name, "resourceVersion": str(rv)},
            "spec": {"serviceMonitorSelector": {"matchLabels": {"release": release}}}}


def test_a_list_older_than_a_watch_event_does_not_undo_it() -> None:
    index = PrometheusIndex()
    index.replace("listed", [_prometheus_obj("k8s", 10, "old")], "10")
    assert index.put(_prometheus_obj("k8s", 20, "new"))  # the fix, seen by the watch
    index.replace("listed", [_prometheus_obj("k8s", 10, "old")], "15")  # a LIST from before
    (only,) = index.view().items
    assert only.get("serviceMonitorSelector") == {"matchLabels": {"release": "new"}}
    index.replace("listed", [_prometheus_obj("k8s", 30, "newer")], "30")
    (only,) = index.view().items
    assert only.get("serviceMonitorSelector") == {"matchLabels": {"release": "newer"}}


def test_a_watch_event_before_any_list_is_not_the_whole_picture() -> None:
    index = PrometheusIndex()
    assert not index.put(_prometheus_obj("k8s", 5, "x"))
    assert index.view() == Prometheuses("unknown")
    index.replace("absent", [])
    assert index.put(_prometheus_obj("k8s", 6, "x"))  # the CRD was installed since
    assert index.view().state == "listed"


def test_agents_scrape_and_thanos_rulers_evaluate() -> None:
    agent = PrometheusSelectors.of({
        "kind": "PrometheusAgent", "metadata": {"namespace": "monitoring", "name": "agent"},
        "spec": {"serviceMonitorSelector": KPS, "serviceMonitorNamespaceSelector": {}}})
    ruler = PrometheusSelectors.of({
        "kind": "ThanosRuler", "metadata": {"namespace": "monitoring", "name": "ruler"},
        "spec": {"ruleSelector": KPS, "ruleNamespaceSelector": {}}})
    both = Prometheuses("listed", (agent, ruler))
    assert selection_summary("ServiceMonitor", [monitor(release="kube-prometheus-stack")],
                             both, no_labels) == (
        "True", "Selected", "ServiceMonitor p-exporter selected by PrometheusAgent "
        "monitoring/agent")
    rule = monitor("alerts", kind="PrometheusRule", release="kube-prometheus-stack")
    assert selection_summary("PrometheusRule", [rule], both, no_labels)[1:] == (
        "Selected", "PrometheusRule alerts selected by ThanosRuler monitoring/ruler")
    # An agent evaluates no rules: with only agents, nothing can select a rule.
    status, reason, message = selection_summary(
        "PrometheusRule", [rule], Prometheuses("listed", (agent,)), no_labels)
    assert (status, reason) == ("True", "SelectionUnknown")
    assert message.startswith("no Prometheus object in the cluster can select")


def test_the_index_keeps_each_kind_apart() -> None:
    index = PrometheusIndex()
    index.replace("listed", [_prometheus_obj("k8s", 1, "a")], "1")
    index.replace("listed", [{**_prometheus_obj("agent", 2, "b"), "kind": "PrometheusAgent"}],
                  "2", kind="PrometheusAgent")
    index.replace("absent", [], kind="ThanosRuler")  # no ThanosRuler CRD: nothing to add
    assert index.view().state == "listed"
    assert sorted(p.ref for p in index.view().items) == [
        "Prometheus monitoring/k8s", "PrometheusAgent monitoring/agent"]
