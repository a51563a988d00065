"""The oracle: after quiescence, the cluster must be what the pure renderers say.

Quiescence is observed, never waited out: two resync passes of the operator with no
API write and no CR resourceVersion moving in between. Then every declared CR's
children are rendered by the operator's pure renderers (``render_pipeline_children``,
``render_rule_children``, ``render_dashboard_children``) and compared with the live
objects in every field the render sets; topics are compared with the broker; and the
conditions are checked against what was observed, not against the operator's word.
"""

from __future__ import annotations

import json
from typing import Any

from kubernetes import client

from dashstream_operator.models import DashStreamPipelineSpec
from dashstream_operator.models.alertruleset import AlertRuleSetSpec
from dashstream_operator.models.dashboardset import DashboardSetSpec
from dashstream_operator.reconcile.pipeline import DEFAULT_IMAGE
from dashstream_operator.render import dashboards as rd
from dashstream_operator.render import render_pipeline_children
from dashstream_operator.render.rules import render_rule_children
from support.explore import specs
from support.explore.compare import difference, owned_fields, unrendered
from support.explore.topics import deleted_topics_left, topic_problems
from support.explore.world import MANAGED_BY, Violation, World
from support.kube import get_custom, list_custom, meta, present
from support.operator import log_problems
from support.pipelines import condition
from support.wait import wait_until

GC_PATIENCE = 300.0  # seconds more for orphans: the collector's informers back off

CRDS = {"ServiceMonitor": "servicemonitors.monitoring.coreos.com",
        "PrometheusRule": "prometheusrules.monitoring.coreos.com",
        "GrafanaDashboard": "grafanadashboards.grafana.integreatly.org"}
Key = tuple[str, str]  # (kind, name) of a child


def quiesce(world: World, timeout: float = 180) -> int:
    """Wait until two passes go by with no write; returns the pass count then."""
    op = world.operator_up()

    def quiet() -> int | None:
        writes, versions = op.writes(), cr_versions(world)
        passes = op.wait_passes(2)
        return passes if (op.writes(), cr_versions(world)) == (writes, versions) else None

    try:
        return wait_until(quiet, timeout=timeout, what="two resync passes with no write")[0]
    except AssertionError as exc:
        raise Violation(f"never quiescent: {exc}") from exc


def cr_versions(world: World) -> dict[str, str]:
    custom = client.CustomObjectsApi(world.api)
    out = {}
    for kind, plural in specs.KINDS.items():
        for item in list_custom(custom, "dashstream.io", "v1alpha1", world.ns, plural):
            out[f"{kind}/{item['metadata']['name']}"] = item["metadata"]["resourceVersion"]
    return out


# --- what the renderers say -------------------------------------------------------------

def has_crd(world: World, kind: str) -> bool:
    """Whether the cluster serves ``kind``; asked once per world (the CRDs are installed
    for the session and never removed by an exploration)."""
    if kind not in world.crds:
        try:
            client.ApiextensionsV1Api(world.api).read_custom_resource_definition(CRDS[kind])
            world.crds[kind] = True
        except client.ApiException:
            world.crds[kind] = False
    return world.crds[kind]


def _cond_of(body: dict[str, Any], type_: str) -> dict[str, Any]:
    return condition(body, type_) or {}


def rendered(world: World, live_crs: dict[Key, dict[str, Any]]) -> dict[Key, tuple[str, dict[
        str, Any]]]:
    """Child (kind, name) -> (owner kind/name, rendered object) of every declared CR."""
    out: dict[Key, tuple[str, dict[str, Any]]] = {}
    for (kind, name), body in live_crs.items():
        meta_ = body["metadata"]
        if kind == "DashStreamPipeline":
            children = render_pipeline_children(
                name, world.ns, meta_["uid"], DashStreamPipelineSpec.from_body(body),
                default_image=DEFAULT_IMAGE, servicemonitor_crd=has_crd(world, "ServiceMonitor"))
        elif kind == "AlertRuleSet":
            # A refused spec leaves the last valid one synced (with its generation).
            valid = world.last_valid.get((kind, name))
            if valid is None:
                continue
            ars = AlertRuleSetSpec.from_body({"spec": valid[0]})
            groups = [g.model_dump(mode="json", by_alias=True, exclude_none=True)
                      for g in ars.groups or []]
            children = render_rule_children(
                name, world.ns, meta_["uid"], valid[1], groups, ars.resolved_targets(name),
                prometheus_rule_crd=has_crd(world, "PrometheusRule")).objects
        else:
            ds = DashboardSetSpec.from_body(body)
            payloads = []
            for d in ds.dashboards:
                raw = rd.decode_source(d)
                obj = rd.parse_dashboard(raw)
                payloads.append(rd.DashboardPayload(d.name, obj["uid"],
                                                    rd.bind_datasource(raw, obj, ds.datasource)))
            children = rd.render_dashboard_children(
                rd.Owner(name, world.ns, meta_["uid"]), payloads, ds.resolved_targets(),
                ds.folder, has_crd(world, "GrafanaDashboard"))
        for child in children:
            out[(child["kind"], child["metadata"]["name"])] = (f"{kind}/{name}", child)
    return out


# --- the checks -------------------------------------------------------------------------

def check(world: World) -> list[str]:
    """Every violation of the declared state; [] when the cluster is as declared."""
    custom = client.CustomObjectsApi(world.api)
    live_crs: dict[Key, dict[str, Any]] = {}
    problems: list[str] = []
    for (kind, name), declared in world.declared.items():
        body = get_custom(custom, "dashstream.io", "v1alpha1", world.ns, specs.KINDS[kind],
                          name)
        live_crs[(kind, name)] = body
        status = body.get("status") or {}
        if status.get("observedGeneration") != body["metadata"]["generation"]:
            problems.append(f"{kind}/{name}: observedGeneration {status.get('observedGeneration')}"
                            f" for generation {body['metadata']['generation']}")
        if body["spec"] != declared.spec:
            problems.append(f"{kind}/{name}: spec is not what was declared")
    wanted = rendered(world, live_crs)
    conflicted = {k for k in wanted if k[0] == "ConfigMap" and k[1] in world.foreign}
    problems += _children(world, wanted, conflicted)
    problems += _foreign(world)
    problems += _conditions(world, live_crs, wanted, conflicted)
    problems += topic_problems(world, live_crs)
    # The finalizer deletes them after the pipeline is gone from the API: wait for it.
    try:
        wait_until(lambda: not deleted_topics_left(world), timeout=60,
                   what="topics of Delete-policy pipelines deleted")
    except AssertionError:
        problems += deleted_topics_left(world)
    if world.operator is not None:
        problems += [f"operator log: {p}" for p in log_problems(
            world.unread_log(), world.operator.expected_errors)]
    return problems


def _children(world: World, wanted: dict[Key, tuple[str, dict[str, Any]]],
              conflicted: set[Key]) -> list[str]:
    known_uids = {d.uid for d in world.declared.values()}

    def extra_children(orphans: bool = True) -> list[str]:
        """Children no render produces; ``orphans`` False: leave out those whose every
        owner is a deleted CR (the garbage collector's to remove, not the operator's)."""
        out = []
        for api_version, kind in (("v1", "ConfigMap"), ("v1", "Service"), ("apps/v1", "Deployment"),
                                  *[(v, k) for v, k in _optional(world)]):
            for obj in world.list_kind(api_version, kind):
                labels = obj.metadata.labels or {}
                refs = {r.uid for r in obj.metadata.ownerReferences or []}
                ours = labels.get("app.kubernetes.io/managed-by") == MANAGED_BY.split("=")[1] \
                    or refs & (known_uids | world.gone_uids)
                orphan = bool(refs) and refs <= world.gone_uids
                if ours and (kind, obj.metadata.name) not in wanted and (orphans or not orphan):
                    out.append(f"{kind}/{obj.metadata.name} exists; no render produces it"
                               + (" (its owner is deleted)" if orphan else ""))
        return out

    # Children of a deleted CR go by the garbage collector, on its own time: wait for it.
    # Right after API server restarts the collector's informers back off and resync (its
    # monitor of a CRD-backed kind can take minutes): what the operator answers for is
    # the ownerReference that lets the collector act, so orphans get longer.
    try:
        wait_until(lambda: not extra_children(), timeout=60, what="no child beyond the render")
        problems = []
    except AssertionError:
        problems = extra_children() if extra_children(orphans=False) else []
        if not problems:
            try:
                wait_until(lambda: not extra_children(), timeout=GC_PATIENCE,
                           what="the garbage collector to remove children of deleted CRs")
            except AssertionError:
                problems = extra_children()
    for (kind, name), (owner, want) in sorted(wanted.items()):
        if (kind, name) in conflicted:
            continue
        res = world.dyn.resources.get(api_version=want["apiVersion"], kind=kind)
        try:
            live = res.get(name=name, namespace=world.ns).to_dict()
        except Exception:
            problems.append(f"{kind}/{name} ({owner}) missing")
            continue
        found = difference(want, live)
        if found:
            problems.append(f"{kind}/{name} ({owner}) differs from the render at {found}")
        owned = owned_fields(live)
        if owned is None:
            problems.append(f"{kind}/{name} ({owner}): no field applied by the operator")
        else:
            left = unrendered(owned, want)
            if left:
                problems.append(f"{kind}/{name} ({owner}): the operator still owns "
                                f"{', '.join(left[:5])}, which the render no longer sets")
        added = world.added.get((kind, name))
        if added and added[0] == live["metadata"]["uid"] and \
                added[1] not in (live["metadata"].get("annotations") or {}):
            problems.append(f"{kind}/{name}: the annotation {added[1]} someone added was removed")
    return problems


def _optional(world: World) -> list[tuple[str, str]]:
    return [(v, k) for v, k in (("monitoring.coreos.com/v1", "ServiceMonitor"),
                                ("monitoring.coreos.com/v1", "PrometheusRule"),
                                ("grafana.integreatly.org/v1beta1", "GrafanaDashboard"))
            if has_crd(world, k)]


def _foreign(world: World) -> list[str]:
    core = client.CoreV1Api(world.api)
    problems = []
    for name, rv in world.foreign.items():
        cm = meta(core.read_namespaced_config_map(name, world.ns))
        if cm.resource_version != rv or cm.owner_references:
            problems.append(f"foreign ConfigMap/{name} was changed (resourceVersion {rv} -> "
                            f"{cm.resource_version})")
    return problems


def _conditions(world: World, live_crs: dict[Key, dict[str, Any]],
                wanted: dict[Key, tuple[str, dict[str, Any]]], conflicted: set[Key]) -> list[str]:
    problems = []
    for (kind, name), body in live_crs.items():
        conds = (body.get("status") or {}).get("conditions") or []
        ready = _cond_of(body, "Ready")
        tolerated = {"MetricsResolved"} if kind != "DashStreamPipeline" else set()
        parts = [c for c in conds if c["type"] not in ("Ready", "ReconcilePaused")]
        others_true = all(c["status"] == "True" for c in parts if c["type"] not in tolerated)
        if (ready.get("status") == "True") != others_true:
            problems.append(f"{kind}/{name}: Ready {ready.get('status')} but the conditions "
                            f"it summarises are {[(c['type'], c['status']) for c in parts]}")
        mine = {k for k, (owner, _) in wanted.items() if owner == f"{kind}/{name}"}
        says_conflict = "ChildConflict" in json.dumps(conds)
        if mine & conflicted and not says_conflict:
            problems.append(f"{kind}/{name}: wants {sorted(mine & conflicted)} which a foreign "
                            f"object holds, yet no condition says ChildConflict")
        if says_conflict and not mine & conflicted:
            problems.append(f"{kind}/{name}: a condition still says ChildConflict, but no "
                            "foreign object holds a name it wants")
        if kind == "AlertRuleSet" and specs.is_broken(body["spec"]) and \
                _cond_of(body, "Valid").get("reason") != "InvalidRules":
            problems.append(f"{kind}/{name}: a rule does not parse, yet Valid is "
                            f"{_cond_of(body, 'Valid')}")
        if _cond_of(body, "ReconcilePaused").get("status") == "True":
            problems.append(f"{kind}/{name}: ReconcilePaused after it was resumed")
        if kind == "DashStreamPipeline":
            problems += _workloads_truth(world, name, body, mine, bool(mine & conflicted))
    return problems


def _workloads_truth(world: World, name: str, body: dict[str, Any], mine: set[Key],
                     conflicted: bool) -> list[str]:
    """WorkloadsReady True never while a Deployment lacks ready pods; and True whenever
    every Deployment has completely rolled out (read from the Deployments, the way
    `kubectl rollout status` reads them)."""
    said = _cond_of(body, "WorkloadsReady").get("status") == "True"
    apps = client.AppsV1Api(world.api)
    complete = True
    for kind, child in sorted(mine):
        if kind != "Deployment":
            continue
        d = apps.read_namespaced_deployment(child, world.ns)
        st, want = present(d.status), present(d.spec).replicas or 0
        ready = st.ready_replicas or 0
        if said and ready < want:
            return [f"DashStreamPipeline/{name}: WorkloadsReady True while Deployment/"
                    f"{child} has {ready}/{want} ready"]
        complete &= (st.observed_generation or 0) >= (meta(d).generation or 0) and \
            want == (st.replicas or 0) == (st.updated_replicas or 0) == ready == \
            (st.available_replicas or 0)
    if complete and not conflicted and not said:
        return [f"DashStreamPipeline/{name}: every Deployment has rolled out, yet "
                f"WorkloadsReady is {_cond_of(body, 'WorkloadsReady')}"]
    return []
