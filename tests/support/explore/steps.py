"""Step sequences as YAML: what a failing exploration writes, what a regression replays."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from support.explore.oracle import check, cr_versions, quiesce
from support.explore.world import Violation, World

REGRESSIONS = Path(__file__).resolve().parents[2] / "data/explore"


class _NoAliases(yaml.SafeDumper):
    """Each step written out whole (steps share spec dicts; no &id001 anchors)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def write_sequence(path: Path, steps: list[dict[str, Any]], violation: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.dump({"violation": violation[:2000], "steps": steps}, Dumper=_NoAliases,
                     sort_keys=False, width=100)
    path.write_text("# Replayed by tests/e2e/test_explore.py::test_regression; found by "
                    "`make explore`.\n" + text)


def read_sequence(path: Path) -> list[dict[str, Any]]:
    doc = yaml.safe_load(path.read_text())
    steps = doc["steps"]
    assert isinstance(steps, list) and steps, f"{path}: no steps"
    return steps


def judge(world: World, attempts: int = 5) -> None:
    """Quiesce, the oracle, then two more passes in which nothing may be written: a
    converged operator writes nothing, not merely "not in every window". A write in
    those passes is a violation unless a Deployment's status moved meanwhile (its
    controller's own progress, which the pipeline's status reports): then judge again."""
    for _ in range(attempts):
        quiesce(world)
        op = world.operator_up()
        before = (op.writes(), cr_versions(world), _all_children(world))
        rollouts = _deployment_versions(world)
        problems = check(world)
        op.wait_passes(2)
        after = (op.writes(), cr_versions(world), _all_children(world))
        if after != before and _deployment_versions(world) != rollouts and not problems:
            continue
        if after != before:
            moved = sorted(set(before[2].items()) ^ set(after[2].items()))
            problems.append(f"a quiescent operator wrote: {after[0] - before[0]} API write(s),"
                            f" CRs moved: {before[1] != after[1]}, children moved: {moved[:6]}")
        if problems:
            raise Violation(f"{len(problems)} violation(s):\n" + "\n".join(problems))
        return
    raise Violation(f"still writing after {attempts} quiet windows, each time after a "
                    "Deployment's status moved")


def _deployment_versions(world: World) -> dict[str, str]:
    return {d.metadata.name: d.metadata.resourceVersion
            for d in world.list_kind("apps/v1", "Deployment")}


def _all_children(world: World) -> dict[str, str]:
    return world.children_versions(*(d.uid for d in world.declared.values()))


def replay(world: World, steps: list[dict[str, Any]]) -> None:
    judge(world)
    for n, step in enumerate(steps, 1):
        try:
            world.do(step)
            judge(world)
        except Violation as exc:
            raise Violation(f"after step {n} {step.get('op')}: {exc}") from None
