"""The reconcile core's pure decisions: what counts as applied, whose object a child is,
what a cache refresh keeps, what an outage reports, what a pause writes."""

from __future__ import annotations

import copy
import logging
import threading
from datetime import UTC, datetime
from typing import Any

import pytest

from dashstream_operator.handlers.children import Coalescer
from dashstream_operator.kafka.logs import LibrdkafkaLog
from dashstream_operator.models import AlertRuleSetStatus, DashboardSetStatus
from dashstream_operator.reconcile.cache import BodyCache, ChildCache, rv_not_older
from dashstream_operator.reconcile.children import controlled_by, owner_of
from dashstream_operator.reconcile.compare import APPLIED_HASH, holds, stamped
from dashstream_operator.reconcile.pause import PAUSE_ANNOTATION, paused_patch, without_pause
from dashstream_operator.reconcile.pipeline import _kafka_transition, current_topics
from dashstream_operator.reconcile.topics import KAFKA_UNAVAILABLE, TopicsOutcome

UID = "0b5e7c1e-0000-4000-8000-000000000001"


def cm(name: str, data: dict[str, str], rv: str = "1", owner: str | None = UID,
       ns: str = "ns") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": ns, "resourceVersion": rv}
    if owner:
        meta["ownerReferences"] = [{"apiVersion": "dashstream.io/v1alpha1",
                                    "kind": "DashStreamPipeline", "name": "p", "uid": owner,
                                    "controller": True}]
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}


# --- what counts as applied ------------------------------------------------------------

def test_a_removed_key_is_not_held_although_every_desired_key_is_present() -> None:
    before = stamped(cm("c", {"A": "1", "B": "2"}))
    after = stamped(cm("c", {"A": "1"}))
    live = {**before, "metadata": {**before["metadata"], "uid": "x"}}  # as applied before
    assert holds(before, live)
    assert not holds(after, live), "a key dropped from the spec must cause an apply"


def test_the_hash_is_stable_and_ignores_nothing_declared() -> None:
    a = stamped(cm("c", {"A": "1"}))
    assert a["metadata"]["annotations"][APPLIED_HASH] == \
        stamped(cm("c", {"A": "1"}))["metadata"]["annotations"][APPLIED_HASH]
    tol = stamped({**cm("c", {"A": "1"}), "spec": {"tolerations": [{"key": "k"}]}})
    no_tol = stamped({**cm("c", {"A": "1"}), "spec": {"tolerations": []}})
    assert tol["metadata"]["annotations"] != no_tol["metadata"]["annotations"]


def test_a_hand_edit_of_an_owned_field_is_not_held_but_a_field_others_added_is() -> None:
    desired = stamped(cm("c", {"A": "1"}))
    edited = {**desired, "data": {"A": "2"}}
    added = {**desired, "data": {"A": "1", "THEIRS": "x"},
             "metadata": {**desired["metadata"], "labels": {"team": "x"}}}
    assert not holds(desired, edited)
    assert holds(desired, added)
    assert not holds(desired, None)


def test_defaults_the_api_server_adds_do_not_cause_an_apply() -> None:
    desired = stamped({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
                       "spec": {"ports": [{"port": 80}]}})
    live = {**desired, "spec": {"ports": [{"port": 80, "protocol": "TCP"}],
                                "clusterIP": "10.96.0.9", "type": "ClusterIP"}}
    assert holds(desired, live)


# --- ownership -------------------------------------------------------------------------

def test_only_our_controller_reference_makes_a_child_ours() -> None:
    assert controlled_by(cm("c", {}), UID)
    assert not controlled_by(cm("c", {}, owner=None), UID)
    assert not controlled_by(cm("c", {}, owner="another-uid"), UID)
    not_controller = cm("c", {})
    not_controller["metadata"]["ownerReferences"][0]["controller"] = False
    assert not controlled_by(not_controller, UID)


def test_a_conflict_names_who_owns_the_object() -> None:
    assert "controlled by DashStreamPipeline p (uid other)" in owner_of(
        cm("c", {}, owner="other"))
    users = cm("c", {}, owner=None)
    users["metadata"]["managedFields"] = [{"manager": "kubectl-create"}]
    assert owner_of(users) == "not created by this object (written by kubectl-create)"


# --- caches that heal --------------------------------------------------------------------

def test_a_refresh_drops_what_the_list_no_longer_has() -> None:
    cache = ChildCache()
    cache.put(cm("kept", {}))
    cache.put(cm("deleted-in-a-watch-gap", {}))
    cache.put(cm("other-namespace", {}, ns="elsewhere"))
    since = cache.mark()
    dropped = cache.refresh("v1", "ConfigMap", ["ns"], [cm("kept", {}, rv="1")], since)
    assert dropped == 1
    names = sorted(o["metadata"]["name"] for o in cache.values())
    assert names == ["kept", "other-namespace"]  # another namespace is not this LIST's


def test_a_metadata_only_refresh_drops_entries_changed_unseen() -> None:
    cache = ChildCache()
    cache.put(cm("edited-in-a-gap", {"A": "1"}, rv="1"))
    listed = [{"metadata": {"name": "edited-in-a-gap", "namespace": "ns",
                            "resourceVersion": "7"}}]
    assert cache.refresh("v1", "ConfigMap", None, listed, cache.mark(), add=False) == 1
    assert cache.values() == []  # the next reconcile asks for the current version


def test_a_refresh_never_brings_back_what_a_deleted_event_removed_meanwhile() -> None:
    cache = BodyCache()
    body = {"kind": "AlertRuleSet", "metadata": {"name": "a", "namespace": "ns",
                                                 "resourceVersion": "3"}}
    cache.put(body)
    since = cache.mark()  # the LIST starts ...
    cache.remove(body)  # ... a DELETED event arrives while it runs ...
    cache.refresh("dashstream.io/v1alpha1", "AlertRuleSet", None, [body], since)
    assert cache.values() == []  # ... and the LIST's older copy does not resurrect it


def test_a_refresh_keeps_what_our_own_write_stored_while_the_list_ran() -> None:
    cache = ChildCache()
    since = cache.mark()
    cache.put(cm("applied-meanwhile", {}, rv="9"))
    assert cache.refresh("v1", "ConfigMap", None, [], since) == 0
    assert cache.get(("v1", "ConfigMap", "ns", "applied-meanwhile")) is not None


def test_a_refresh_touches_only_its_own_kind() -> None:
    cache = ChildCache()
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "ns"}}
    cache.put(svc)
    cache.refresh("v1", "ConfigMap", None, [], cache.mark())
    assert cache.values() == [svc]


def test_an_older_version_never_replaces_a_newer_one() -> None:
    cache = ChildCache()
    cache.put(cm("c", {"A": "new"}, rv="120"))
    cache.put(cm("c", {"A": "old"}, rv="99"))
    assert (cache.get(("v1", "ConfigMap", "ns", "c")) or {}).get("data") == {"A": "new"}


@pytest.mark.parametrize(("new", "old", "expected"), [
    ("10", "9", True), ("9", "10", False), ("10", "10", True),
    ("abc", "10", True),  # not comparable: the later arrival wins
    ("010", "9", True), ("", "5", True)])
def test_resource_versions_compare_only_as_the_api_promises(new: str, old: str,
                                                             expected: bool) -> None:
    assert rv_not_older({"metadata": {"resourceVersion": new}},
                        {"metadata": {"resourceVersion": old}}) is expected


def test_the_newest_body_is_the_cached_one_only_for_the_same_object() -> None:
    cache = BodyCache()
    cached: dict[str, Any] = {"kind": "AlertRuleSet", "metadata": {"name": "a", "namespace": "ns",
                                                   "uid": "u1", "resourceVersion": "7"}}
    cache.put(cached)
    older = {**cached, "metadata": {**cached["metadata"], "resourceVersion": "5"}}
    assert cache.newest(older)["metadata"]["resourceVersion"] == "7"
    other = {**cached, "metadata": {**cached["metadata"], "uid": "u2",
                                    "resourceVersion": "3"}}
    assert cache.newest(other)["metadata"]["uid"] == "u2"


# --- child events coalesced per owner -----------------------------------------------------

def test_events_arriving_during_a_reconcile_become_one_more_reconcile() -> None:
    coalescer = Coalescer()
    runs: list[str] = []
    inside, release = threading.Event(), threading.Event()

    def first() -> None:
        runs.append("first")
        inside.set()
        release.wait(5)

    worker = threading.Thread(target=coalescer.run, args=("owner", first))
    worker.start()
    assert inside.wait(5)
    for _ in range(10):
        coalescer.run("owner", lambda: runs.append("change"))
    coalescer.run("owner", lambda: runs.append("deletion"), for_deletion=True)
    coalescer.run("owner", lambda: runs.append("change-after-deletion"))
    release.set()
    worker.join(5)
    assert runs == ["first", "deletion"]


# --- outages --------------------------------------------------------------------------------

def _topics(reason: str) -> TopicsOutcome:
    return TopicsOutcome("False" if reason != "TopicsReady" else "True", reason, "m")


def test_one_kafka_event_per_transition_and_none_while_an_outage_lasts() -> None:
    assert [e[1] for e in _kafka_transition("TopicsReady", _topics(KAFKA_UNAVAILABLE))] == [
        KAFKA_UNAVAILABLE]
    assert _kafka_transition(KAFKA_UNAVAILABLE, _topics(KAFKA_UNAVAILABLE)) == []
    assert [e[1] for e in _kafka_transition(KAFKA_UNAVAILABLE, _topics("TopicsReady"))] == [
        "KafkaAvailable"]
    assert _kafka_transition("TopicsReady", _topics("TopicsReady")) == []


def test_librdkafka_lines_go_through_our_logger_once_a_minute_at_most_as_warnings(
        caplog: pytest.LogCaptureFixture) -> None:
    sink = LibrdkafkaLog()
    with caplog.at_level(logging.DEBUG, logger="dashstream_operator.kafka.logs"):
        for ms in range(50):
            sink.log(logging.ERROR, "%s [%s]: %s", "FAIL", "rdkafka#producer-1",
                     f"Connect failed (after {ms}ms in state CONNECT)")
        sink.log(logging.DEBUG, "%s", "debug line")
    lines = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert lines == [(logging.WARNING, "librdkafka: FAIL [rdkafka#producer-1]: Connect failed "
                      "(after 0ms in state CONNECT)"),
                     (logging.DEBUG, "librdkafka: debug line")]


# --- pause for every kind ---------------------------------------------------------------------

@pytest.mark.parametrize("status_type", [AlertRuleSetStatus, DashboardSetStatus])
def test_pausing_writes_only_the_paused_condition(status_type: Any) -> None:
    body = {"metadata": {"generation": 3, "annotations": {PAUSE_ANNOTATION: "true"}},
            "status": {"observedGeneration": 2, "conditions": [
                {"type": "Ready", "status": "True", "reason": "Ready", "message": "ok",
                 "lastTransitionTime": "2026-12-01T00:00:00Z", "observedGeneration": 2}]}}
    patch = paused_patch(body, datetime(2026, 12, 7, tzinfo=UTC), status_type)
    assert patch is not None
    types = {c["type"]: c for c in patch["conditions"]}
    assert types["ReconcilePaused"]["status"] == "True"
    assert types["Ready"]["message"] == "ok"  # what was observed before is kept
    assert patch["observedGeneration"] == 2
    resumed = status_type.from_body({"status": patch})
    assert [c.type for c in without_pause(resumed.conditions)] == ["Ready"]


# --- generations carried through -------------------------------------------------------------

def test_a_kafka_result_is_reported_only_for_the_generation_it_was_computed_for() -> None:
    result = _topics("TopicsReady")
    assert current_topics(result, 4, {"metadata": {"generation": 4}}) is result
    assert current_topics(result, 4, {"metadata": {"generation": 5}}) is None
    assert current_topics(None, 4, {"metadata": {"generation": 4}}) is None


def test_entries_others_add_to_a_keyed_list_are_not_drift() -> None:
    container = {"name": "ws", "image": "i:1", "env": [{"name": "A", "value": "1"}],
                 "ports": [{"containerPort": 3002}]}
    desired = stamped({"apiVersion": "apps/v1", "kind": "Deployment",
                       "metadata": {"name": "d"},
                       "spec": {"template": {"spec": {"containers": [container]}}}})
    live = copy.deepcopy(desired)
    live_container = live["spec"]["template"]["spec"]["containers"][0]
    live_container["env"].append({"name": "INJECTED", "value": "by a webhook"})
    live_container["ports"][0]["protocol"] = "TCP"
    live["spec"]["template"]["spec"]["containers"].append({"name": "sidecar", "image": "s"})
    assert holds(desired, live)
    live_container["env"][0]["value"] = "2"  # one of ours edited
    assert not holds(desired, live)
    live_container["env"][0]["value"] = "1"
    del live_container["env"][0]  # one of ours removed
    assert not holds(desired, live)


def test_an_atomic_list_must_be_ours_whole() -> None:
    desired = stamped({"apiVersion": "v1", "kind": "X", "metadata": {"name": "x"},
                       "spec": {"args": ["--a"], "tolerations": [{"key": "k"}]}})
    longer = copy.deepcopy(desired)
    longer["spec"]["args"].append("--b")
    assert not holds(desired, longer)


# --- one Ready rule for every kind --------------------------------------------------------------

def test_ready_is_the_first_failing_part_unless_that_part_is_only_a_warning() -> None:
    from dashstream_operator.reconcile.status import ready_of

    ok = ("Valid", "True", "Valid", "fine")
    unknown = ("MetricsResolved", "False", "UnknownMetrics", "x is unknown")
    broken = ("Synced", "False", "ChildConflict", "ConfigMap/a is not ours")
    assert ready_of([ok]) == ("Ready", "True", "Ready", "all conditions are met")
    assert ready_of([ok, unknown, broken])[1:3] == ("False", "UnknownMetrics")
    assert ready_of([ok, unknown, broken], tolerated=("MetricsResolved",))[1:3] == (
        "False", "ChildConflict")
    assert ready_of([ok, unknown], tolerated=("MetricsResolved",))[1:3] == (
        "True", "SyncedWithWarnings")


def test_a_read_answered_before_a_deletion_does_not_bring_the_object_back() -> None:
    cache = ChildCache()
    cache.put(cm("c", {}, rv="10"))
    cache.remove(cm("c", {}, rv="12"))  # the DELETED event
    cache.put(cm("c", {}, rv="11"))  # a GET or apply answered just before it
    assert cache.values() == []
    cache.put(cm("c", {}, rv="20"))  # made again afterwards
    assert len(cache.values()) == 1


def test_a_list_applied_whole_is_atomic_even_with_named_entries() -> None:
    desired = stamped({"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
                       "metadata": {"name": "m"},
                       "spec": {"endpoints": [{"port": "metrics", "interval": "15s"}]}})
    live = copy.deepcopy(desired)
    live["spec"]["endpoints"].append({"port": "hand-added"})
    assert not holds(desired, live)
