"""The generated CRDs: no drift from the models, structural, documented, default-free."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from dashstream_operator.crdgen import (
    HEADER,
    check_crds,
    crd_filename,
    crd_yaml,
    main,
    render_crds,
    write_crds,
)

REPO = Path(__file__).resolve().parents[2]
CRDS_DIR = REPO / "crds"
CRDS = {crd["spec"]["names"]["kind"]: crd for crd in render_crds()}
# Bounds every list/map/string so CEL cost estimates stay finite and objects small.
STRING_BOUND_EXEMPT = {"apiVersion", "kind"}  # the API server validates these itself


def schema_of(kind: str) -> dict[str, Any]:
    version = CRDS[kind]["spec"]["versions"][0]
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return schema


def walk(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema node with its path; map values are ``{}``, list items ``[]``."""
    yield path, node
    for name, sub in node.get("properties", {}).items():
        yield from walk(sub, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from walk(node["additionalProperties"], f"{path}{{}}")


def all_nodes() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for kind in CRDS:
        for path, node in walk(schema_of(kind)):
            yield kind, path, node


def at(kind: str, path: str) -> dict[str, Any]:
    for p, node in walk(schema_of(kind)):
        if p == path:
            return node
    raise KeyError(f"{kind}{path}")


def rules(node: dict[str, Any]) -> list[str]:
    return [r["rule"] for r in node.get("x-kubernetes-validations", [])]


# --- drift --------------------------------------------------------------------------------


def test_committed_crds_equal_a_fresh_render() -> None:
    problems = check_crds(CRDS_DIR)
    assert not problems, "generated CRDs are out of date, run `make generate`:\n" + "\n".join(
        problems
    )


def test_check_names_each_differing_missing_and_stale_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    written = write_crds(tmp_path)
    assert sorted(p.name for p in written) == [
        "dashstream.io_alertrulesets.yaml",
        "dashstream.io_dashboardsets.yaml",
        "dashstream.io_dashstreampipelines.yaml",
    ]
    assert check_crds(tmp_path) == []
    assert main(["--check", str(tmp_path)]) == 0

    edited = tmp_path / "dashstream.io_dashstreampipelines.yaml"
    edited.write_text(edited.read_text().replace("minimum: 1", "minimum: 0", 1))
    (tmp_path / "dashstream.io_alertrulesets.yaml").unlink()
    (tmp_path / "dashstream.io_oldkinds.yaml").write_text("{}\n")
    assert main(["--check", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "dashstream.io_dashstreampipelines.yaml: differs" in err
    assert "dashstream.io_alertrulesets.yaml: missing" in err
    assert "dashstream.io_oldkinds.yaml: stale" in err
    assert "dashstream.io_dashboardsets.yaml" not in err
    assert "run make generate" in err


def test_rendering_is_deterministic_and_marked_generated() -> None:
    assert [crd_yaml(c) for c in render_crds()] == [crd_yaml(c) for c in render_crds()]
    for crd in render_crds():
        text = crd_yaml(crd)
        assert text.startswith(HEADER) and "do not edit" in HEADER
        assert yaml.safe_load(text) == crd
        assert crd_filename(crd) == f"dashstream.io_{crd['spec']['names']['plural']}.yaml"


# --- structural, documented, bounded, default-free ------------------------------------


def test_no_default_anywhere() -> None:
    def keys(obj: Any) -> Iterator[str]:
        if isinstance(obj, dict):
            for k, v in obj.items():
                yield k
                yield from keys(v)
        elif isinstance(obj, list):
            for v in obj:
                yield from keys(v)

    for kind, crd in CRDS.items():
        assert "default" not in set(keys(crd)), f"{kind} has a schema default (Argo CD drift)"


def test_every_property_has_a_description() -> None:
    missing = [
        f"{kind}{path}"
        for kind, path, node in all_nodes()
        if path not in ("", ".metadata") and not path.endswith(("[]", "{}"))
        and not node.get("description", "").strip()
    ]
    assert missing == []


def test_schemas_are_structural() -> None:
    forbidden = {"$ref", "anyOf", "oneOf", "allOf", "not", "nullable", "title", "$defs"}
    for kind, path, node in all_nodes():
        where = f"{kind}{path}"
        assert not forbidden & node.keys(), f"{where}: {forbidden & node.keys()}"
        assert (
            "type" in node
            or node.get("x-kubernetes-int-or-string")
            or node.get("x-kubernetes-preserve-unknown-fields")
        ), f"{where} has no type"
        assert not ("properties" in node and "additionalProperties" in node), where
        assert node.get("additionalProperties") is not False, where


def test_preserve_unknown_fields_only_for_kopf_progress() -> None:
    free = [f"{k}{p}" for k, p, n in all_nodes() if n.get("x-kubernetes-preserve-unknown-fields")]
    assert free == [f"{kind}.status.kopf" for kind in CRDS]


def test_strings_lists_and_maps_are_bounded() -> None:
    unbounded = []
    for kind, path, node in all_nodes():
        name = path.rsplit(".", 1)[-1]
        kind_of = node.get("type")
        bounded_by_shape = "enum" in node or "format" in node or name in STRING_BOUND_EXEMPT
        if kind_of == "string" and not bounded_by_shape and "maxLength" not in node:
            unbounded.append(f"{kind}{path}")
        if kind_of == "array" and "maxItems" not in node:
            unbounded.append(f"{kind}{path}")
        if "additionalProperties" in node and "maxProperties" not in node:
            unbounded.append(f"{kind}{path}")
    assert unbounded == []


def test_closed_sets_are_enums() -> None:
    assert at("DashStreamPipeline", ".spec.kafka.securityProtocol")["enum"] == [
        "PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL",
    ]
    assert at("DashStreamPipeline", ".spec.kafka.sasl.mechanism")["enum"] == [
        "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512",
    ]
    assert at("DashStreamPipeline", ".spec.topics[].role")["enum"] == ["events", "dlq"]
    assert at("DashStreamPipeline", ".spec.topicDeletionPolicy")["enum"] == ["Retain", "Delete"]
    assert at("AlertRuleSet", ".spec.validation.unknownMetrics")["enum"] == ["Warn", "Reject"]
    assert "all" in at("DashboardSet", ".spec.validation.components[]")["enum"]
    for kind in CRDS:
        assert at(kind, ".status.conditions[].status")["enum"] == ["True", "False", "Unknown"]


def test_quantities_are_int_or_string() -> None:
    node = at("DashStreamPipeline", ".spec.components.websocketServer.resources.requests{}")
    assert node["x-kubernetes-int-or-string"] is True and "type" not in node


def test_optional_fields_are_not_required() -> None:
    spec = at("DashStreamPipeline", ".spec")
    assert spec["required"] == ["kafka"]
    assert at("DashStreamPipeline", ".spec.topics[]")["required"] == ["name"]
    assert "required" not in at("AlertRuleSet", ".spec")
    assert at("DashboardSet", ".spec")["required"] == ["dashboards"]


# --- CEL rules ------------------------------------------------------------------------


def test_topic_cel_rules() -> None:
    topics = at("DashStreamPipeline", ".spec.topics")
    assert topics["x-kubernetes-list-type"] == "map"
    assert topics["x-kubernetes-list-map-keys"] == ["name"]
    assert topics["maxItems"] <= 64  # keeps the O(n^2) uniqueness rule within the cost budget
    assert rules(topics) == [
        "self.all(x, self.exists_one(y, y.name == x.name))",
        "self.filter(t, has(t.role) && t.role == 'events').size() == 1",
        "self.filter(t, has(t.role) && t.role == 'dlq').size() <= 1",
    ]
    item = at("DashStreamPipeline", ".spec.topics[]")
    (transition,) = item["x-kubernetes-validations"]
    assert "oldSelf.partitions" in transition["rule"]
    assert transition["message"] == (
        "partitions cannot be decreased (Kafka cannot remove partitions)"
    )
    assert transition["fieldPath"] == ".partitions"
    name = at("DashStreamPipeline", ".spec.topics[].name")
    assert (name["pattern"], name["maxLength"]) == ("^[a-zA-Z0-9._-]+$", 249)
    assert rules(name) == ["self != '.' && self != '..'", "!self.startsWith('__')"]
    assert at("DashStreamPipeline", ".spec.topics[].partitions")["minimum"] == 1
    assert at("DashStreamPipeline", ".spec.topics[].replicationFactor")["minimum"] == 1


def test_exactly_one_of_rules() -> None:
    assert rules(at("AlertRuleSet", ".spec")) == ["has(self.groups) != has(self.groupsFrom)"]
    assert rules(at("AlertRuleSet", ".spec.groups[].rules[]"))[0] == (
        "has(self.alert) != has(self.record)"
    )
    assert rules(at("DashboardSet", ".spec.dashboards[]")) == [
        "[has(self.json), has(self.gzipBase64), has(self.configMapKeyRef)]"
        ".filter(x, x).size() == 1"
    ]
    assert rules(at("DashStreamPipeline", ".spec.kafka.tls")) == [
        "has(self.certSecretRef) == has(self.keySecretRef)"
    ]


def test_every_cel_rule_has_a_message() -> None:
    for kind, path, node in all_nodes():
        for rule in node.get("x-kubernetes-validations", []):
            assert rule.get("message"), f"{kind}{path}: {rule['rule']}"


# --- names, subresources, printer columns ---------------------------------------------


@pytest.mark.parametrize(
    ("kind", "plural", "short", "columns"),
    [
        ("DashStreamPipeline", "dashstreampipelines", "dsp",
         ["Ready", "Reason", "Topics", "Components", "Monitoring", "Age"]),
        ("AlertRuleSet", "alertrulesets", "ars",
         ["Ready", "Valid", "Rules", "Selected", "Reason", "Age"]),
        ("DashboardSet", "dashboardsets", "dbs",
         ["Ready", "Valid", "Dashboards", "Reason", "Age"]),
    ],
)
def test_names_and_columns(kind: str, plural: str, short: str, columns: list[str]) -> None:
    crd = CRDS[kind]
    assert crd["metadata"]["name"] == f"{plural}.dashstream.io"
    spec = crd["spec"]
    assert (spec["group"], spec["scope"]) == ("dashstream.io", "Namespaced")
    assert spec["names"]["plural"] == plural
    assert spec["names"]["shortNames"] == [short]
    assert spec["names"]["categories"] == ["dashstream"]
    (version,) = spec["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
    assert version["subresources"] == {"status": {}}
    cols = version["additionalPrinterColumns"]
    assert [c["name"] for c in cols] == columns
    assert cols[0]["jsonPath"] == '.status.conditions[?(@.type=="Ready")].status'
    for col in cols:
        assert col["description"]
        if col["jsonPath"].startswith(".status.") and "conditions" not in col["jsonPath"]:
            field = col["jsonPath"].removeprefix(".status.")
            assert field in schema_of(kind)["properties"]["status"]["properties"], field
