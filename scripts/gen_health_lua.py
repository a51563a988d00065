#!/usr/bin/env python3
"""Write (or --check) the Argo CD health checks of our three kinds from one template.

Argo CD runs each kind's health.lua on its own (no imports), so the shared logic is
kept once in manifests/argocd/health/health.lua.in and the per-kind files, which differ
only in their header, their transient reasons and their summary columns, are generated.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HEALTH = REPO / "manifests/argocd/health"

KINDS: dict[str, dict[str, object]] = {
    "DashStreamPipeline": {
        "header": """\
--   Healthy      Ready=True, reported for the current metadata.generation
--   Progressing  no status yet; status or Ready for an older generation; Ready=Unknown;
--                Ready=False with a transient reason (the operator retries by itself)
--   Degraded     Ready=False for the current generation with any other reason: a refusal
--                or invalid input that needs a change to the spec, a Secret or Kafka
--                (InvalidSpec, PartitionDecreaseRefused, ReplicationChangeUnsupported,
--                TopicConflict, InvalidTopicConfig, KafkaSecretMissing, KafkaNotAuthorized,
--                KafkaError, ChildConflict (an object of a child's name is not ours),
--                RolloutFailed, ...)
--   Suspended    ReconcilePaused=True (annotation dashstream.io/paused: "true")""",
        "transient": ["KafkaUnavailable", "TopicsPending", "ReplicasUnavailable"],
        "summary": [("topicsReady", "topics ready"), ("componentsReady", "components ready")],
    },
    "AlertRuleSet": {
        "header": """\
--   Healthy      Ready=True, reported for the current metadata.generation (rules valid and
--                synced to their ConfigMap and/or PrometheusRule); other False conditions,
--                e.g. MetricsResolved under unknownMetrics: Warn, are named in the message
--   Progressing  no status yet; status or Ready for an older generation; Ready=Unknown
--   Degraded     Ready=False for the current generation: every reason needs a change
--                (InvalidSpec, InvalidRules, UnknownMetrics, SourceNotFound,
--                PrometheusRuleCRDMissing, NoTargets, ApplyFailed, ChildConflict, ...)""",
        "transient": [],
        "summary": [("rulesValid", "rules valid")],
    },
    "DashboardSet": {
        "header": """\
--   Healthy      Ready=True, reported for the current metadata.generation (dashboards valid
--                and synced to sidecar ConfigMaps and/or GrafanaDashboards); other False
--                conditions, e.g. MetricsResolved under unknownMetrics: Warn, are named
--   Progressing  no status yet; status or Ready for an older generation; Ready=Unknown;
--                Ready=False with a transient reason (NotSynced: applied, not yet observed)
--   Degraded     Ready=False for the current generation with any other reason: invalid
--                input that needs a change (InvalidSpec, InvalidDashboard, SourceError,
--                UnknownMetrics, UidConflict, TooLarge, GrafanaDashboardCRDMissing,
--                NoTargets, ApplyFailed, ChildConflict, ...)""",
        "transient": ["NotSynced"],
        "summary": [("dashboardsSynced", "dashboards synced")],
    },
}


def render(kind: str) -> str:
    spec = KINDS[kind]
    header = (f"-- Argo CD health check of dashstream.io/{kind}, from the object's own status.\n"
              f"-- Generated from ../../health.lua.in by `make generate`; do not edit.\n"
              f"{spec['header']}\n")
    transient = "\n".join(f"  {r} = true," for r in spec["transient"])  # type: ignore[attr-defined]
    summary = "".join(
        f"  if obj.status.{field} ~= nil then\n"
        f"    hs.message = hs.message .. \", {label} \" .. obj.status.{field}\n"
        f"  end\n" for field, label in spec["summary"])  # type: ignore[attr-defined]
    text = (HEALTH / "health.lua.in").read_text()
    return (text.replace("@@HEADER@@", header).replace("@@TRANSIENT@@\n",
                                                       transient + "\n" if transient else "")
            .replace("@@SUMMARY@@", summary))


def main(argv: list[str]) -> int:
    differ = []
    for kind in KINDS:
        path = HEALTH / "dashstream.io" / kind / "health.lua"
        text = render(kind)
        if "--check" in argv:
            if not path.exists() or path.read_text() != text:
                differ.append(str(path.relative_to(REPO)))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    for d in differ:
        print(f"{d}: differs from health.lua.in (run make generate)")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
