"""Drawing the next step from the world's current state (hypothesis strategies)."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import strategies as st

from dashstream_operator.render.dashboards import child_name
from support.explore import specs
from support.explore.world import FAULT_NAMES, World

PIPELINES = ("p0", "p1")
RULESET, DASHBOARDS = "rules0", "dash0"
# Names the pipelines' and the rule set's children take: a foreign object may get there first.
CHILD_NAMES = [f"{p}-{c}" for p in PIPELINES
               for c in ("websocket-server", "prometheus-exporter", "quality-monitor")] + \
    [f"{RULESET}-rules"] + [child_name(DASHBOARDS, d.stem) for d in specs.DASHBOARDS]


def expected_children(world: World) -> list[tuple[str, str, str]]:
    """(apiVersion, kind, name) of the children the model says exist. Drawn from the
    model, never from the live cluster: hypothesis replays a sequence while shrinking,
    and a draw that depends on timing would make it refuse the replay as flaky."""
    from support.explore.oracle import rendered  # the oracle imports the world too

    bodies = {key: {"metadata": {"uid": d.uid or "uid", "generation": 1}, "spec": d.spec}
              for key, d in world.declared.items()}
    return sorted((obj["apiVersion"], kind, name)
                  for (kind, name), (_, obj) in rendered(world, bodies).items()
                  if not (kind == "ConfigMap" and name in world.foreign))


@st.composite
def pipeline_move(draw: st.DrawFn, world: World) -> dict[str, Any]:
    name = draw(st.sampled_from(PIPELINES))
    template = world.templates.get(("DashStreamPipeline", name))
    if template is None:
        spec = specs.pipeline_spec(name)
        if draw(st.booleans()):
            spec = draw(specs.pipeline_change(spec, name))[1]
        return {"op": "apply", "kind": "DashStreamPipeline", "name": name, "spec": spec}
    what, spec = draw(specs.pipeline_change(template, name))
    return {"op": "apply", "kind": "DashStreamPipeline", "name": name, "spec": spec,
            "change": what}


@st.composite
def ruleset_move(draw: st.DrawFn, world: World) -> dict[str, Any]:
    """One in four is refused by a condition (a rule that does not parse)."""
    broken = draw(st.integers(0, 3)) == 3
    return {"op": "apply", "kind": "AlertRuleSet", "name": RULESET,
            "spec": draw(specs.ruleset_spec(broken)),
            **({"change": "broken-rule"} if broken else {})}


@st.composite
def dashboardset_move(draw: st.DrawFn, world: World) -> dict[str, Any]:
    return {"op": "apply", "kind": "DashboardSet", "name": DASHBOARDS,
            "spec": draw(specs.dashboardset_spec(DASHBOARDS))}


@st.composite
def delete_move(draw: st.DrawFn, world: World) -> dict[str, Any]:
    kind, name = draw(st.sampled_from(sorted(world.templates)))
    return {"op": "delete", "kind": kind, "name": name}


@st.composite
def invalid_move(draw: st.DrawFn, world: World) -> dict[str, Any]:
    kind = draw(st.sampled_from(["DashStreamPipeline", "AlertRuleSet", "DashboardSet"]))
    if kind == "AlertRuleSet":
        return {"op": "apply-invalid", "kind": kind, "name": RULESET,
                "spec": specs.invalid_ruleset(draw(specs.ruleset_spec()))}
    if kind == "DashboardSet":
        return {"op": "apply-invalid", "kind": kind, "name": DASHBOARDS,
                "spec": specs.invalid_dashboardset(draw(specs.dashboardset_spec(DASHBOARDS)))}
    name = draw(st.sampled_from(PIPELINES))
    template = world.templates.get(("DashStreamPipeline", name)) or specs.pipeline_spec(name)
    return {"op": "apply-invalid", "kind": kind, "name": name,
            "spec": draw(specs.invalid_pipeline(template, name))}


@st.composite
def hand_edit_move(draw: st.DrawFn, world: World) -> dict[str, Any]:
    api_version, kind, name = draw(st.sampled_from(expected_children(world)))
    how = draw(st.sampled_from(["owned", "added", "delete"]))
    return {"op": "edit-child", "api_version": api_version, "kind": kind, "name": name,
            "how": how}


@st.composite
def foreign_move(draw: st.DrawFn, world: World) -> dict[str, Any]:
    unforeign = bool(world.foreign) and draw(st.booleans())
    if unforeign:
        return {"op": "unforeign", "name": draw(st.sampled_from(sorted(world.foreign)))}
    return {"op": "foreign", "name": draw(st.sampled_from(CHILD_NAMES))}


@st.composite
def pause_move(draw: st.DrawFn, world: World) -> dict[str, Any]:
    kind, name = draw(st.sampled_from(sorted(world.templates)))
    template = world.templates[(kind, name)]
    if kind == "DashStreamPipeline":
        spec = draw(specs.pipeline_change(template, name))[1]
    elif kind == "AlertRuleSet":
        spec = draw(specs.ruleset_spec())
    else:
        spec = draw(specs.dashboardset_spec(name))
    return {"op": "pause", "kind": kind, "name": name, "spec": copy.deepcopy(spec)}


@st.composite
def plain_move(draw: st.DrawFn, world: World) -> dict[str, Any]:
    """What a fault's inner step is made of: a declarative change or a hand edit (made
    while the operator is dead or frozen, a hand edit is a change it never sees happen)."""
    moves = [pipeline_move(world), ruleset_move(world), dashboardset_move(world)]
    if world.templates:
        moves.append(delete_move(world))
    if expected_children(world):
        moves.append(hand_edit_move(world))
    return draw(st.one_of(moves))


@st.composite
def fault_move(draw: st.DrawFn, world: World) -> dict[str, Any]:
    fault = draw(st.sampled_from(FAULT_NAMES))
    during = draw(st.none() | plain_move(world))
    return {"op": "fault", "fault": fault, "during": during}


# (move, weight): about 15 in 100 transitions are faults, most are spec changes.
WEIGHTS = (("pipeline", 24), ("ruleset", 6), ("dashboardset", 6), ("delete", 4),
           ("invalid", 4), ("hand-edit", 10), ("foreign", 6), ("pause", 6), ("fault", 14))


@st.composite
def any_move(draw: st.DrawFn, world: World) -> dict[str, Any]:
    available = {"pipeline": True, "ruleset": True, "dashboardset": True,
                 "delete": bool(world.templates), "invalid": True,
                 "hand-edit": bool(expected_children(world)), "foreign": True,
                 "pause": bool(world.templates), "fault": True}
    choices = [name for name, weight in WEIGHTS if available[name] for _ in range(weight)]
    kind = draw(st.sampled_from(choices))
    move = {"pipeline": pipeline_move, "ruleset": ruleset_move,
            "dashboardset": dashboardset_move, "delete": delete_move, "invalid": invalid_move,
            "hand-edit": hand_edit_move, "foreign": foreign_move, "pause": pause_move,
            "fault": fault_move}[kind]
    return draw(move(world))
