"""The bad-input corpus, custom resources: each is refused by the API server naming the
field, or accepted and then refused by the operator with a status reason; the operator
stays up and a valid pipeline applied before stays Ready.

Kafka messages, rule files and dashboards: test_bad_input_files.py.
"""

from __future__ import annotations

import contextlib
import copy
import secrets
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from kubernetes import client
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import DynamicApiError

from support.kube import TEST_FIELD_MANAGER, apply, list_custom
from support.operator import OperatorProcess, run_operator
from support.pipelines import condition, condition_true, get_pipeline, pipeline
from support.wait import wait_until

GROUP, VERSION = "dashstream.io", "v1alpha1"
GOOD_RULE = {"alert": "Down", "expr": "up == 0", "for": "1m",
             "labels": {"severity": "critical"}, "annotations": {"summary": "down"}}

Build = Callable[[str, str], dict[str, Any]]  # (namespace, bootstrap) -> the object


class Case(NamedTuple):
    name: str
    build: Build
    field: str  # what the API server's message must name
    # Sent by create (POST, fieldValidation=Strict) instead of server-side apply. Apply
    # first converts the patch to a typed object, and a wrong type, a field the schema
    # lacks, or a duplicate or missing list-map key fails that conversion with a 500
    # (kubernetes/kubernetes#139253) before any validation. A POST is validated (422
    # naming the field) and, with Strict, decoded strictly (400 naming an unknown field;
    # by default a POST drops it and accepts the object): the same refusal, as a 4xx.
    create: bool = False


def dsp(**spec: Any) -> Build:
    """A DashStreamPipeline with one events topic, ``spec`` over it (``kafka`` merged
    into the block naming the broker)."""
    def build(ns: str, bootstrap: str) -> dict[str, Any]:
        body = pipeline("bad", ns, bootstrap, [{"name": "ev", "role": "events"}])
        changes = copy.deepcopy(spec)
        body["spec"]["kafka"].update(changes.pop("kafka", {}))
        body["spec"].update(changes)
        return body
    return build


def topics(*items: dict[str, Any]) -> Build:
    return dsp(topics=list(items))


def without_kafka(ns: str, bootstrap: str) -> dict[str, Any]:
    return {**dsp()(ns, bootstrap), "spec": {"topics": [{"name": "a", "role": "events"}]}}


def custom(kind: str, spec: dict[str, Any]) -> Build:
    def build(ns: str, _bootstrap: str) -> dict[str, Any]:
        return {"apiVersion": f"{GROUP}/{VERSION}", "kind": kind,
                "metadata": {"name": "bad", "namespace": ns}, "spec": copy.deepcopy(spec)}
    return build


def ars(rules: list[dict[str, Any]]) -> Build:
    return custom("AlertRuleSet", {"groups": [{"name": "g", "rules": rules}]})


def dbs(*dashboards: dict[str, Any]) -> Build:
    return custom("DashboardSet", {"dashboards": list(dashboards)})


CR_CASES = [
    Case("partitions 0", topics({"name": "a", "role": "events", "partitions": 0}),
         "partitions"),
    Case("partitions a string", topics({"name": "a", "role": "events", "partitions": "3"}),
         "partitions", create=True),
    Case("replication 0", topics({"name": "a", "role": "events", "replicationFactor": 0}),
         "replicationFactor"),
    Case("topic name with a slash", topics({"name": "a/b", "role": "events"}), "name"),
    Case("topic name of 250 chars", topics({"name": "a" * 250, "role": "events"}), "name"),
    Case("topic name '..'", topics({"name": "..", "role": "events"}), "name"),
    Case("duplicate topic names", topics({"name": "a", "role": "events"}, {"name": "a"}),
         "topics", create=True),
    Case("two events topics", topics({"name": "a", "role": "events"},
                                     {"name": "b", "role": "events"}), "events"),
    Case("no events topic", topics({"name": "a", "role": "dlq"}), "events"),
    Case("unknown role", topics({"name": "a", "role": "audit"}), "role"),
    Case("empty topic list", dsp(topics=[]), "topics"),
    Case("bootstrap without port", dsp(kafka={"bootstrapServers": "kafka"}),
         "bootstrapServers"),
    Case("no kafka", without_kafka, "kafka"),
    Case("SASL protocol without sasl", dsp(kafka={"securityProtocol": "SASL_SSL"}), "sasl"),
    Case("unknown security protocol", dsp(kafka={"securityProtocol": "TLS"}),
         "securityProtocol"),
    Case("unknown deletion policy", dsp(topicDeletionPolicy="Purge"), "topicDeletionPolicy"),
    Case("negative replicas", dsp(components={"websocketServer": {"replicas": -1}}),
         "replicas"),
    Case("unknown component", dsp(components={"grafana": {"enabled": True}}), "grafana",
         create=True),
    Case("unknown top-level field", dsp(colour="blue"), "colour", create=True),
    Case("unknown toleration operator",
         dsp(scheduling={"tolerations": [{"key": "k", "operator": "Sometimes"}]}), "operator"),
    Case("bad scrape interval", dsp(monitoring={"serviceMonitor": {"interval": "soon"}}),
         "interval"),
    Case("rules from two sources", custom("AlertRuleSet", {
        "groups": [{"name": "g", "rules": [GOOD_RULE]}],
        "groupsFrom": {"configMapKeyRef": {"name": "x", "key": "y"}}}), "groupsFrom"),
    Case("rule both alert and record", ars([{"alert": "A", "record": "b:c", "expr": "up"}]),
         "record"),
    Case("rule without expr", ars([{"alert": "A"}]), "expr"),
    Case("dashboard with two sources", dbs({"name": "d", "json": "{}", "gzipBase64": "H4sI"}),
         "dashboards"),
    Case("dashboard without a name", dbs({"json": "{}"}), "name", create=True),
]


def sasl_without_secret(ns: str, bootstrap: str) -> dict[str, Any]:
    topic = [{"name": f"{ns}-ns", "role": "events"}]
    return pipeline("nosecret", ns, bootstrap, topic) | {"spec": {
        "kafka": {"bootstrapServers": bootstrap, "securityProtocol": "SASL_PLAINTEXT",
                  "sasl": {"mechanism": "PLAIN",
                           "usernameSecretRef": {"name": "absent", "key": "u"},
                           "passwordSecretRef": {"name": "absent", "key": "p"}}},
        "topics": topic}}


def bad_topic_config(ns: str, bootstrap: str) -> dict[str, Any]:
    return pipeline("badconfig", ns, bootstrap, [
        {"name": f"{ns}-bc", "role": "events", "config": {"cleanup.policy": "shred"}}])


# Accepted by the API server, refused by the operator: (object, TopicsReady reason).
STATUS_CASES = [
    pytest.param(sasl_without_secret, "KafkaSecretMissing", id="nosecret"),
    pytest.param(bad_topic_config, "InvalidTopicConfig", id="badconfig"),
]


@pytest.fixture(scope="module")
def module_namespace(kube_api: client.ApiClient, crds_installed: list[str]) -> Iterator[str]:
    """A fresh namespace for this module's tests (conftest's `namespace`, per module);
    our CRs' finalizers are dropped before it is deleted."""
    core = client.CoreV1Api(kube_api)
    name = f"t-{secrets.token_hex(4)}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(
        name=name, labels={"dashstream.io/test": "true",
                           "pod-security.kubernetes.io/enforce": "restricted"})))
    yield name
    custom_api = client.CustomObjectsApi(kube_api)
    for plural in ("dashstreampipelines", "alertrulesets", "dashboardsets"):
        for item in list_custom(custom_api, GROUP, VERSION, name, plural):
            if item["metadata"].get("finalizers"):
                custom_api.patch_namespaced_custom_object(
                    GROUP, VERSION, name, plural, item["metadata"]["name"],
                    {"metadata": {"finalizers": None}})
    core.delete_namespace(name, propagation_policy="Background")


@pytest.fixture(scope="module")
def operator(kube_api: client.ApiClient, dyn: DynamicClient, module_namespace: str,
             kafka_bootstrap: str, artifacts_dir: Path) -> Iterator[OperatorProcess]:
    """The operator watching the module's namespace, with a valid pipeline "good" Ready."""
    ns = module_namespace
    with run_operator([ns], artifacts_dir / "logs", resync=3.0) as op:
        apply(dyn, pipeline("good", ns, kafka_bootstrap, [{"name": f"{ns}-good",
                                                           "role": "events"}]))
        wait_until(lambda: condition_true(kube_api, ns, "good", "TopicsReady"),
                   timeout=60, what="good pipeline")
        yield op


def send(dyn: DynamicClient, obj: dict[str, Any], create: bool) -> None:
    if not create:
        apply(dyn, obj)
        return
    res = dyn.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
    res.create(body=obj, namespace=obj["metadata"]["namespace"],
               field_manager=TEST_FIELD_MANAGER, query_params=[("fieldValidation", "Strict")])


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in CR_CASES])
def test_api_server_refuses(dyn: DynamicClient, module_namespace: str, kafka_bootstrap: str,
                            case: Case) -> None:
    obj = case.build(module_namespace, kafka_bootstrap)
    try:
        send(dyn, obj, case.create)
    except DynamicApiError as exc:
        err = exc
    else:
        res = dyn.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
        with contextlib.suppress(DynamicApiError):  # keep the namespace clean for the rest
            res.delete(name=obj["metadata"]["name"], namespace=module_namespace)
        pytest.fail(f"the API server accepted {obj}")
    body = str(err.body)
    # 422 from validation, 400 from strict decoding; a 500 is the API server failing,
    # not refusing.
    assert err.status in (400, 422), f"{err.status} {body[:300]}"
    assert case.field in body, f"message does not name {case.field!r}: {body[:400]}"


def topics_reason_is(api: client.ApiClient, ns: str, name: str, reason: str) -> bool:
    cond = condition(get_pipeline(api, ns, name), "TopicsReady") or {}
    return cond.get("reason") == reason


@pytest.mark.parametrize(("build", "reason"), STATUS_CASES)
def test_operator_refuses_with_a_reason(operator: OperatorProcess, kube_api: client.ApiClient,
                                        dyn: DynamicClient, module_namespace: str,
                                        kafka_bootstrap: str, build: Build,
                                        reason: str) -> None:
    obj = build(module_namespace, kafka_bootstrap)
    apply(dyn, obj)
    name = obj["metadata"]["name"]
    wait_until(partial(topics_reason_is, kube_api, module_namespace, name, reason),
               timeout=60, what=f"{name}: {reason}")
    assert operator.alive(), "the operator crashed on bad input"


def test_operator_alive_and_valid_pipeline_served(operator: OperatorProcess,
                                                  kube_api: client.ApiClient,
                                                  module_namespace: str) -> None:
    """After the cases above (pytest runs them first, in file order)."""
    assert operator.alive(), "the operator crashed on bad input"
    good = get_pipeline(kube_api, module_namespace, "good")
    assert (condition(good, "TopicsReady") or {}).get("status") == "True", "valid pipeline lost"


def test_corpus_size() -> None:
    # The corpus only grows; with test_bad_input_files.py, 50 cases (the README says 50+).
    assert len(CR_CASES) + len(STATUS_CASES) >= 28
