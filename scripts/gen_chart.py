#!/usr/bin/env python3
"""Write (or --check) every generated file of the chart and of manifests/.

  source                                      generated copy
  operator models (crdgen.render_crds)    ->  charts/dashstream-operator/crds/*.yaml
                                              manifests/argocd/crds/*.yaml (+ kustomization)
  alert-rules/*.yaml (rule files)         ->  charts/dashstream-operator/files/alert-rules/
  dashboards/*.json                       ->  charts/dashstream-operator/files/dashboards/
  the CRD schemas + the chart's own keys  ->  charts/dashstream-operator/values.schema.json
  manifests/argocd/health/**/health.lua   ->  manifests/argocd/resource-customizations.yaml
  the chart (helm template, defaults)     ->  manifests/install/{dashstream-operator,
                                              namespace,kustomization}.yaml

Usage::

    python scripts/gen_chart.py           # write them (make generate)
    python scripts/gen_chart.py --check   # exit 1 naming each file that differs

The install manifest is rendered from a temporary copy of the chart holding the
expected copies, so --check never writes into the repository and the result does
not depend on whether the copies were already up to date. helm comes from $HELM
or PATH (`make env-up` builds it). The Argo CD files and manifests/install are made
by chartgen_parts.py, next to this script.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # chartgen_parts: not a package

from chartgen_parts import (
    ARGOCD,
    CHART,
    MANAGED_DIRS,
    REPO,
    argocd_cm,
    argocd_crds,
    render_install,
)

from dashstream_operator.crdgen import crd_filename, crd_yaml, render_crds

__all__ = ["expected_files", "main", "values_schema"]


# --- chart copies ---------------------------------------------------------------------

def _rule_files() -> list[Path]:
    # Rule files only: alert-rules/tests/ holds promtool unit tests, not rules.
    return sorted(p for p in (REPO / "alert-rules").glob("*.yaml") if p.is_file())


def _chart_copies() -> dict[Path, bytes]:
    out: dict[Path, bytes] = {}
    for crd in render_crds():
        out[CHART / "crds" / crd_filename(crd)] = crd_yaml(crd).encode()
    for path in _rule_files():
        out[CHART / "files/alert-rules" / path.name] = path.read_bytes()
    for path in sorted((REPO / "dashboards").glob("*.json")):
        out[CHART / "files/dashboards" / path.name] = path.read_bytes()
    return out


# --- values.schema.json ----------------------------------------------------------------

def _json_schema(node: Any) -> Any:
    """A CRD's OpenAPI schema as a strict JSON Schema for values: Kubernetes extensions
    dropped, and objects with declared properties refuse unknown keys (as the API server
    does with field validation Strict)."""
    if isinstance(node, list):
        return [_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _json_schema(v) for k, v in node.items() if not k.startswith("x-kubernetes-")}
    if (node.get("type") == "object" and "properties" in node
            and "additionalProperties" not in node
            and not node.get("x-kubernetes-preserve-unknown-fields")):
        out["additionalProperties"] = False
    return out


def _spec_properties(kind: str) -> dict[str, Any]:
    crd = next(c for c in render_crds() if c["spec"]["names"]["kind"] == kind)
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    props: dict[str, Any] = spec["properties"]
    return props


def _obj(properties: Mapping[str, Any], description: str = "", **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "additionalProperties": False,
                           "properties": dict(properties)}
    if description:
        out["description"] = description
    out.update(extra)
    return out


def _string_map(description: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "additionalProperties": {"type": "string"}}
    if description:
        out["description"] = description
    return out


DNS_LABEL = {"type": "string", "minLength": 1, "maxLength": 63,
             "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"}
DURATION = {"type": "string", "pattern": r"^([0-9]+(ms|s|m|h|d|w|y))+$"}
STR = {"type": "string"}
BOOL = {"type": "boolean"}
PULL_POLICY = {"type": "string", "enum": ["Always", "IfNotPresent", "Never"]}


def _passthrough(kind: str, keys: Sequence[str]) -> dict[str, Any]:
    props = _spec_properties(kind)
    return {k: _json_schema(props[k]) for k in keys}


def values_schema() -> dict[str, Any]:
    """The chart's values schema; CR pass-through parts come from the CRD schemas."""
    kafka = _json_schema(_spec_properties("DashStreamPipeline")["kafka"])
    kafka.pop("required", None)  # required only when defaultPipeline.enabled (below)
    kafka["description"] = ("spec.kafka of the default DashStreamPipeline. "
                            + kafka.get("description", ""))
    quantity_map = {"type": "object",
                    "additionalProperties": {"type": ["string", "integer", "number"]}}
    props: dict[str, Any] = {
        "global": {"type": "object", "description": "Helm's global values (unused)."},
        "nameOverride": STR,
        "fullnameOverride": STR,
        "image": _obj({"repository": {"type": "string", "minLength": 1}, "tag": STR,
                       "digest": {"type": "string", "pattern": r"^(|sha256:[a-f0-9]{64})$"},
                       "pullPolicy": PULL_POLICY},
                      "The operator's image.", required=["repository"]),
        "imagePullSecrets": {"type": "array", "items": DNS_LABEL | {"maxLength": 253}},
        "workloadImage": _obj({"repository": {"type": "string", "minLength": 1}, "tag": STR},
                              "Default image of the DashStream workloads "
                              "(env DASHSTREAM_DEFAULT_IMAGE).", required=["repository"]),
        "watchNamespaces": {"type": "array", "items": DNS_LABEL, "uniqueItems": True,
                            "description": "Watched namespaces; empty: the release namespace."},
        "watchAllNamespaces": BOOL,
        "serviceAccount": _obj({"create": BOOL, "name": STR,
                                "annotations": _string_map()}),
        "rbac": _obj({"create": BOOL, "readPrometheuses": BOOL}),
        "replicaCount": {"type": "integer", "minimum": 1},
        "leaderElection": _obj({"enabled": BOOL,
                                "leaseSeconds": {"type": "integer", "minimum": 3}}),
        "podDisruptionBudget": _obj({"enabled": BOOL}),
        "operator": _obj({
            "resyncInterval": {"type": "number", "exclusiveMinimum": 0},
            "kafkaTimeout": {"type": "number", "exclusiveMinimum": 0},
            "logFormat": {"type": "string", "enum": ["json", "plain", "full"]},
            "verbose": BOOL,
            "extraArgs": {"type": "array", "items": STR},
            "extraEnv": {"type": "array", "items": {"type": "object", "required": ["name"]}},
        }),
        "resources": _obj({"requests": quantity_map, "limits": quantity_map}),
        "podSecurityContext": {"type": "object"},
        "containerSecurityContext": {"type": "object"},
        "livenessProbe": _obj({k: {"type": "integer", "minimum": 0} for k in (
            "initialDelaySeconds", "periodSeconds", "timeoutSeconds", "failureThreshold")}),
        "podAnnotations": _string_map(),
        "podLabels": _string_map(),
        "nodeSelector": _string_map(),
        "tolerations": {"type": "array", "items": {"type": "object"}},
        "affinity": {"type": "object"},
        "priorityClassName": STR,
        "service": _obj({"type": {"type": "string",
                                  "enum": ["ClusterIP", "NodePort", "LoadBalancer"]},
                         "port": {"type": "integer", "minimum": 1, "maximum": 65535}}),
        "serviceMonitor": _obj({"enabled": BOOL,
                                "path": {"type": "string", "pattern": "^/"},
                                "interval": DURATION, "scrapeTimeout": DURATION,
                                "labels": _string_map()}),
        "crAnnotations": _string_map("Annotations of the default custom resources."),
        "kafka": kafka,
        "defaultPipeline": _obj({
            "enabled": BOOL, "name": DNS_LABEL,
            **_passthrough("DashStreamPipeline",
                           ["topics", "topicDeletionPolicy", "components", "monitoring",
                            "scheduling"]),
        }, "A DashStreamPipeline in the release namespace."),
        "defaultAlertRules": _obj({
            "enabled": BOOL, "name": DNS_LABEL,
            **_passthrough("AlertRuleSet", ["targets", "validation"]),
        }, "An AlertRuleSet of the chart's files/alert-rules."),
        "defaultDashboards": _obj({
            "enabled": BOOL, "name": DNS_LABEL,
            **_passthrough("DashboardSet", ["folder", "datasource", "targets", "validation"]),
        }, "A DashboardSet of the chart's files/dashboards."),
        # Empty repository/pullPolicy: the operator's image and pull policy.
        "tests": _obj({"image": _obj({"repository": STR, "tag": STR, "pullPolicy": {
            "type": "string", "enum": ["", *PULL_POLICY["enum"]]}})}),
    }
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$comment": "Generated by scripts/gen_chart.py (make generate); do not edit. The "
                    "kafka and default* parts are the CRDs' own schemas.",
        "title": "dashstream-operator values",
        "type": "object",
        "additionalProperties": False,
        "properties": props,
        # The default pipeline cannot exist without a broker to talk to.
        "if": {"properties": {"defaultPipeline": {"properties": {"enabled": {"const": True}},
                                                  "required": ["enabled"]}},
               "required": ["defaultPipeline"]},
        "then": {"properties": {"kafka": {"required": ["bootstrapServers"]}},
                 "required": ["kafka"]},
    }


# --- all together ----------------------------------------------------------------------

def expected_files() -> dict[Path, bytes]:
    """Every generated file (path relative to the repository) and its content."""
    chart_files = _chart_copies()
    chart_files[CHART / "values.schema.json"] = (
        json.dumps(values_schema(), indent=2, sort_keys=False) + "\n").encode()
    out = dict(chart_files)
    out.update(argocd_crds())
    out[ARGOCD / "resource-customizations.yaml"] = argocd_cm()
    out.update(render_install(chart_files))
    return out


def _stale(expected: Mapping[Path, bytes]) -> list[Path]:
    stale = []
    for managed in MANAGED_DIRS:
        for path in sorted((REPO / managed).glob("*")):
            rel = path.relative_to(REPO)
            if path.is_file() and rel not in expected:
                stale.append(rel)
    return stale


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 naming every file that differs")
    args = parser.parse_args(argv)
    expected = expected_files()
    stale = _stale(expected)
    if args.check:
        problems = [f"{rel}: differs from its source" for rel, data in expected.items()
                    if not (REPO / rel).exists() or (REPO / rel).read_bytes() != data]
        problems += [f"{rel}: stale (no source generates it)" for rel in stale]
        for problem in problems:
            print(problem)
        if problems:
            print("run `make generate` (python scripts/gen_chart.py)", file=sys.stderr)
            return 1
        return 0
    for rel, data in expected.items():
        path = REPO / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_bytes() != data:
            path.write_bytes(data)
            print(f"wrote {rel}")
    for rel in stale:
        (REPO / rel).unlink()
        print(f"removed stale {rel}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
