"""Strategies for the CR changes an exploration makes.

Built from small pools of values the models accept (not from the CRD's JSON schema):
schema-generated objects are almost all refused for reasons the schema cannot express
(one events topic, a reachable broker, topic names unique per cluster), and a
transition is a change of the *current* spec — add a setting, grow a partition — which
a whole-object generator rarely produces. Every drawn spec is parsed by the operator's
own pydantic model before use, so the pools cannot drift from the schema unnoticed.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

from dashstream_operator.models import DashStreamPipelineSpec
from dashstream_operator.models.alertruleset import AlertRuleSetSpec
from dashstream_operator.models.dashboardset import DashboardSetSpec

REPO = Path(__file__).resolve().parents[3]
GROUP_VERSION = "dashstream.io/v1alpha1"
KINDS = {"DashStreamPipeline": "dashstreampipelines", "AlertRuleSet": "alertrulesets",
         "DashboardSet": "dashboardsets"}
COMPONENTS = ("websocketServer", "prometheusExporter", "qualityMonitor")
SETTINGS = {"websocketServer": {"WEBSOCKET_BUFFER_SIZE": ["500", "2000"],
                                "WEBSOCKET_CLIENT_QUEUE_SIZE": ["100", "400"]},
            "prometheusExporter": {"LOG_LEVEL": ["DEBUG", "WARNING"]},
            "qualityMonitor": {"LOG_LEVEL": ["DEBUG", "WARNING"]}}
TOPIC_CONFIG = {"retention.ms": ["86400000", "604800000"], "cleanup.policy": ["compact", "delete"],
                "segment.ms": ["3600000", "7200000"]}
TOLERATIONS = [{"key": "dashstream.io/a", "operator": "Exists", "effect": "NoSchedule"},
               {"key": "dashstream.io/b", "operator": "Equal", "value": "x",
                "effect": "NoExecute", "tolerationSeconds": 30}]
# No node has this label: pods stay Pending, so the node's CPU goes to the operator, the
# API server and the broker, and WorkloadsReady must say False (a truthfulness check).
NOWHERE = {"dashstream.io/explore": "nowhere"}
LIMITS = [None, {"cpu": "500m"}, {"cpu": "250m", "memory": "128Mi"}]


def _canonical_rules() -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = []
    for path in sorted((REPO / "alert-rules").glob("*.yaml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            rules += group["rules"]
    return [r for r in rules if "alert" in r][:6]


RULES = _canonical_rules()
DASHBOARDS = sorted((REPO / "dashboards").glob("*.json"))[:2]


def pipeline_spec(name: str) -> dict[str, Any]:
    """A new pipeline: its own topics (names unique to the namespace), pods nowhere.
    ``{ns}`` and ``{bootstrap}`` are filled in when the step runs."""
    return {"kafka": {"bootstrapServers": "{bootstrap}"},
            "topics": [{"name": f"{{ns}}-{name}-events", "role": "events", "partitions": 1}],
            "components": {"websocketServer": {}, "prometheusExporter": {"enabled": False},
                           "qualityMonitor": {"enabled": False}},
            "scheduling": {"nodeSelector": dict(NOWHERE)}}


def check(kind: str, spec: dict[str, Any]) -> None:
    """The operator's model accepts the spec (a pool value the schema refuses is a bug
    in this module, not in the operator)."""
    model: Any = {"DashStreamPipeline": DashStreamPipelineSpec,
                  "AlertRuleSet": AlertRuleSetSpec, "DashboardSet": DashboardSetSpec}[kind]
    concrete = json.loads(json.dumps(spec).replace("{ns}", "ns").replace(
        "{bootstrap}", "localhost:9092"))
    model.from_body({"spec": concrete})


@st.composite
def pipeline_change(draw: st.DrawFn, spec: dict[str, Any], name: str,
                    ) -> tuple[str, dict[str, Any]]:
    """One valid change of ``spec``: (what changed, the new spec). ``spec`` is one the
    API server accepted, so it holds the current partition counts."""
    new = copy.deepcopy(spec)
    comps = new["components"]
    what = draw(st.sampled_from(["setting", "enable", "replicas", "resources", "tolerations",
                                 "topic-config", "partitions", "dlq", "monitoring",
                                 "deletion-policy"]))
    comp = draw(st.sampled_from(COMPONENTS))
    c = comps.setdefault(comp, {})
    if what == "setting":
        key = draw(st.sampled_from(sorted(SETTINGS[comp])))
        settings = c.setdefault("settings", {})
        if key in settings and draw(st.booleans()):
            del settings[key]
        else:
            settings[key] = draw(st.sampled_from(SETTINGS[comp][key]))
        if not settings:
            del c["settings"]
    elif what == "enable":
        c["enabled"] = not c.get("enabled", True)
    elif what == "replicas":
        c["replicas"] = draw(st.integers(0, 2))
    elif what == "resources":
        limits = draw(st.sampled_from(LIMITS))
        if limits is None:
            c.pop("resources", None)
        else:
            c["resources"] = {"limits": dict(limits)}
    elif what == "tolerations":
        chosen = draw(st.lists(st.sampled_from(range(len(TOLERATIONS))), unique=True,
                               max_size=2))
        sched = new["scheduling"]
        if chosen:
            sched["tolerations"] = [TOLERATIONS[i] for i in sorted(chosen)]
        else:
            sched.pop("tolerations", None)
    elif what in ("topic-config", "partitions"):
        topic = draw(st.sampled_from(new["topics"]))
        if what == "partitions":
            # Grown or kept; a decrease is an invalid change (invalid_pipeline).
            topic["partitions"] = draw(st.integers(topic.get("partitions", 1), 3))
        else:
            key = draw(st.sampled_from(sorted(TOPIC_CONFIG)))
            config = topic.setdefault("config", {})
            if key in config and draw(st.booleans()):
                del config[key]
            else:
                config[key] = draw(st.sampled_from(TOPIC_CONFIG[key]))
            if not config:
                del topic["config"]
    elif what == "dlq":
        dlq = [t for t in new["topics"] if t["role"] == "dlq"]
        if dlq:
            new["topics"].remove(dlq[0])  # removed from the spec; retained in Kafka
        else:
            new["topics"].append({"name": f"{{ns}}-{name}-dlq", "role": "dlq", "partitions": 1})
    elif what == "deletion-policy":
        if new.pop("topicDeletionPolicy", None) is None:
            new["topicDeletionPolicy"] = "Delete"
    elif what == "monitoring":
        sm = new.setdefault("monitoring", {}).setdefault("serviceMonitor", {})
        sm["enabled"] = not sm.get("enabled", True)
    if not c:
        del comps[comp]
    check("DashStreamPipeline", new)
    return what, new


@st.composite
def invalid_pipeline(draw: st.DrawFn, spec: dict[str, Any], name: str) -> dict[str, Any]:
    """A change the API server must refuse: a second events topic, a partition count
    decreased (the CRD's transition rule), a settings key that is not an env name."""
    new = copy.deepcopy(spec)
    grown = [t for t in new["topics"] if t.get("partitions", 1) > 1]
    how = draw(st.sampled_from(["second-events", "settings-key", *(["shrink"] if grown else [])]))
    if how == "shrink":
        draw(st.sampled_from(grown))["partitions"] = 1
    elif how == "settings-key":
        ws = new["components"].setdefault("websocketServer", {})
        ws.setdefault("settings", {})["not an env name"] = "x"
    else:
        new["topics"].append({"name": f"{{ns}}-{name}-second", "role": "events"})
    return new


def invalid_ruleset(spec: dict[str, Any]) -> dict[str, Any]:
    """Both sources at once: the CRD allows exactly one."""
    return {**spec, "groupsFrom": {"configMapKeyRef": {"name": "rules", "key": "r.yaml"}}}


def invalid_dashboardset(spec: dict[str, Any]) -> dict[str, Any]:
    """A dashboard with two sources: the CRD allows exactly one."""
    new = copy.deepcopy(spec)
    new["dashboards"][0]["configMapKeyRef"] = {"name": "dash", "key": "d.json"}
    return new


# An alert whose expression does not parse: the operator must refuse it by a condition
# (Valid False, InvalidRules) and keep the last valid rules synced.
BROKEN_RULE = {"alert": "BrokenExpression", "expr": "sum(rate(dashstream_events_total[5m])"}


def is_broken(spec: dict[str, Any]) -> bool:
    return any(r.get("alert") == BROKEN_RULE["alert"]
               for g in spec.get("groups") or [] for r in g.get("rules") or [])


@st.composite
def ruleset_spec(draw: st.DrawFn, broken: bool = False) -> dict[str, Any]:
    rules = draw(st.lists(st.sampled_from(range(len(RULES))), min_size=1, max_size=3,
                          unique=True))
    targets: dict[str, Any] = {}
    if draw(st.booleans()):
        targets["prometheusRule"] = {"enabled": False}
    chosen = [RULES[i] for i in sorted(rules)] + ([dict(BROKEN_RULE)] if broken else [])
    spec = {"groups": [{"name": "explore", "rules": chosen}],
            **({"targets": targets} if targets else {})}
    check("AlertRuleSet", spec)
    return spec


@st.composite
def dashboardset_spec(draw: st.DrawFn, set_name: str) -> dict[str, Any]:
    chosen = draw(st.lists(st.sampled_from(range(len(DASHBOARDS))), min_size=1,
                           max_size=len(DASHBOARDS), unique=True))
    dashboards = []
    for i in sorted(chosen):
        obj = json.loads(DASHBOARDS[i].read_text())
        obj["uid"] = f"{set_name}-{DASHBOARDS[i].stem}"[:40]  # unique across sets
        dashboards.append({"name": DASHBOARDS[i].stem, "json": json.dumps(obj)})
    spec: dict[str, Any] = {"dashboards": dashboards}
    if draw(st.booleans()):
        spec["folder"] = draw(st.sampled_from(["DashStream", "Explore"]))
    check("DashboardSet", spec)
    return spec


def body(kind: str, name: str, ns: str, spec: dict[str, Any],
         annotations: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": ns}
    if annotations is not None:
        meta["annotations"] = annotations
    return {"apiVersion": GROUP_VERSION, "kind": kind, "metadata": meta, "spec": spec}
