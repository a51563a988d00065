#!/usr/bin/env python3
"""alertmanager/alertmanager.yml -> manifests/examples/alertmanagerconfig.yaml.

One routing, two forms: the plain Alertmanager configuration (for an Alertmanager you
configure yourself) and prometheus-operator's ``AlertmanagerConfig`` (monitoring.coreos.com
/v1alpha1), whose fields are the camelCase twins of the plain ones and whose matchers
are objects instead of strings. With --check nothing is written; exit 1 when the copy
differs.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO / "alertmanager/alertmanager.yml"
TARGET = REPO / "manifests/examples/alertmanagerconfig.yaml"
_MATCHER = re.compile(r'^\s*([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*"(.*)"\s*$')
_ROUTE_KEYS = {"receiver": "receiver", "group_by": "groupBy", "group_wait": "groupWait",
               "group_interval": "groupInterval", "repeat_interval": "repeatInterval",
               "continue": "continue"}
HEADER = """\
# Generated from alertmanager/alertmanager.yml by `make generate`: edit that file.
#
# The routing of DashStream's canonical alerts for an Alertmanager managed by
# prometheus-operator: apply it in the namespace of your pipelines (prometheus-operator
# adds a namespace matcher, so it routes that namespace's alerts). The Alertmanager must
# select it: kube-prometheus-stack's sets alertmanagerConfigSelector and
# alertmanagerConfigNamespaceSelector to {} (every AlertmanagerConfig); if yours uses a
# label selector, add that label below. Replace the webhook URLs with your receivers.
"""


def matcher(text: str) -> dict[str, str]:
    m = _MATCHER.match(text)
    if m is None:
        raise ValueError(f"cannot read the matcher {text!r}")
    return {"name": m.group(1), "matchType": m.group(2), "value": m.group(3)}


def route(src: dict[str, Any]) -> dict[str, Any]:
    out = {_ROUTE_KEYS[k]: v for k, v in src.items() if k in _ROUTE_KEYS}
    if src.get("matchers"):
        out["matchers"] = [matcher(m) for m in src["matchers"]]
    if src.get("routes"):
        out["routes"] = [route(r) for r in src["routes"]]
    return out


def receiver(src: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"name": src["name"]}
    if src.get("webhook_configs"):
        out["webhookConfigs"] = [{"url": w["url"], "sendResolved": w.get("send_resolved", True)}
                                 for w in src["webhook_configs"]]
    return out


def alertmanager_config(plain: dict[str, Any], name: str = "dashstream") -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.coreos.com/v1alpha1", "kind": "AlertmanagerConfig",
        "metadata": {"name": name},
        "spec": {
            "route": route(plain["route"]),
            "receivers": [receiver(r) for r in plain["receivers"]],
            "inhibitRules": [{"sourceMatch": [matcher(m) for m in r["source_matchers"]],
                              "targetMatch": [matcher(m) for m in r["target_matchers"]],
                              "equal": r["equal"]} for r in plain.get("inhibit_rules", [])],
        },
    }


def render() -> str:
    plain = yaml.safe_load(SOURCE.read_text())
    return HEADER + yaml.safe_dump(alertmanager_config(plain), sort_keys=False)


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not TARGET.exists() or TARGET.read_text() != text:
            print(f"{TARGET.relative_to(REPO)} differs from {SOURCE.relative_to(REPO)}")
            return 1
        return 0
    TARGET.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
