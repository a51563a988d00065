"""Stateful exploration: random sequences of CR changes, hand edits, foreign objects,
pauses and faults against the real operator, API server, node and broker — the pure
renderers judging the cluster after every step (support/explore/oracle.py).

``make test`` runs a fixed-seed exploration of about 40 transitions; ``make explore
N=1000`` runs N with random seeds and prints what it did. A failing sequence is shrunk
by hypothesis and written as YAML; copied under tests/data/explore/ it is replayed by
``test_regression`` from then on.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.errors import HypothesisException
from hypothesis.stateful import RuleBasedStateMachine, rule, run_state_machine_as_test
from kubernetes import client
from kubernetes.dynamic import DynamicClient

from support.explore import moves
from support.explore.steps import REGRESSIONS, judge, read_sequence, replay, write_sequence
from support.explore.world import Violation, World
from support.kube import create_test_namespace, delete_test_namespace
from support.operator import OperatorProcess, run_operator

RESYNC = float(os.environ.get("EXPLORE_RESYNC", "0.3"))
STEPS_PER_RUN = 20


@dataclass
class Context:
    """What every example's world is made from, and what the whole exploration did."""

    api: client.ApiClient
    dyn: DynamicClient
    admin: Any
    bootstrap: str
    log_dir: Path
    failures_dir: Path
    transitions: int = 0
    faults: int = 0
    violations: list[str] = field(default_factory=list)
    ops: Counter[str] = field(default_factory=Counter)

    def new_world(self) -> World:
        ns = create_test_namespace(self.api, f"x-{secrets.token_hex(4)}")

        def start() -> AbstractContextManager[OperatorProcess]:
            return run_operator([ns], self.log_dir, resync=RESYNC)

        return World(ns, self.api, self.dyn, self.admin, self.bootstrap, start)

    def end_world(self, world: World) -> None:
        self.transitions += world.transitions
        self.faults += world.faults
        try:
            world.operator_down()
        finally:
            _drop(world)


def _drop(world: World) -> None:
    """Delete the namespace and the topics the world made."""
    delete_test_namespace(world.api, world.ns)
    topics = [t for t in world.admin.list_topics(timeout=10).topics if t.startswith(world.ns)]
    if topics:
        for f in world.admin.delete_topics(topics, operation_timeout=30).values():
            f.result(timeout=30)


def _label(step: dict[str, Any]) -> str:
    if step["op"] == "fault":
        inner = step.get("during")
        return f"fault:{step['fault']}" + (f"+{_label(inner)}" if inner else "")
    return f"{step['op']}:{step.get('kind', '')}".rstrip(":")


class Explorer(RuleBasedStateMachine):
    ctx: ClassVar[Context]

    def __init__(self) -> None:
        super().__init__()
        self.world = self.ctx.new_world()
        self.steps: list[dict[str, Any]] = []
        self.world.operator_up()

    def _run(self, step: dict[str, Any]) -> None:
        self.steps.append(step)
        self.ctx.ops[_label(step)] += 1
        started = time.monotonic()
        try:
            self.world.do(step)
            judge(self.world)
            self._trace(step, started, None)
        except Exception as exc:  # a harness error too: its sequence is worth keeping
            self._failed(step, started, exc)

    def _failed(self, step: dict[str, Any] | None, started: float, exc: BaseException) -> None:
        text = str(exc) if isinstance(exc, Violation) else f"{type(exc).__name__}: {exc}"
        text = text.replace(self.world.ns, "{ns}")
        if step is not None:
            self._trace(step, started, text)
        # Rewritten on each failing run while hypothesis shrinks; the last one it
        # replays (and this file keeps) is the shortest sequence.
        write_sequence(self.ctx.failures_dir / "last-failure.yaml", self.steps, text)
        raise Violation(text) from exc

    def _trace(self, step: dict[str, Any], started: float, violation: str | None) -> None:
        """One JSON line per transition: what, where, how long, what broke."""
        self.ctx.failures_dir.mkdir(parents=True, exist_ok=True)
        with open(self.ctx.failures_dir / "trace.jsonl", "a") as f:
            f.write(json.dumps({"ns": self.world.ns, "n": len(self.steps), "step": _label(step),
                                "seconds": round(time.monotonic() - started, 1),
                                "violation": violation}) + "\n")

    @rule(data=st.data())
    def step(self, data: st.DataObject) -> None:
        """One transition; the kind is drawn here (weighted) rather than by hypothesis's
        rule choice, which disables whole rules per run ("swarm") and would leave most
        runs without faults or hand edits."""
        self._run(data.draw(moves.any_move(self.world)))

    def teardown(self) -> None:
        try:
            self.ctx.end_world(self.world)
        except Exception as exc:  # the operator's log, judged when it stops
            self._failed(None, time.monotonic(), exc)


@pytest.fixture
def context(kube_api: client.ApiClient, dyn: DynamicClient, kafka_admin: Any,
            kafka_bootstrap: str, crds_installed: list[str], thirdparty_crds: list[str],
            artifacts_dir: Path) -> Iterator[Context]:
    yield Context(kube_api, dyn, kafka_admin, kafka_bootstrap, artifacts_dir / "logs",
                  artifacts_dir / "explore")


def _explore(ctx: Context, transitions: int, fixed_seed: bool) -> None:
    Explorer.ctx = ctx
    started = time.monotonic()
    last = ctx.failures_dir / "last-failure.yaml"
    # A fixed seed runs once (the same seed again would repeat the same sequences) and
    # does not shrink (minutes of replays in `make test`): the whole sequence is kept.
    phases = [Phase.explicit, Phase.generate] if fixed_seed else list(Phase)
    while ctx.transitions < transitions:
        runs = math.ceil((transitions - ctx.transitions) / STEPS_PER_RUN)
        last.unlink(missing_ok=True)
        try:
            run_state_machine_as_test(Explorer, settings=settings(
                max_examples=runs, stateful_step_count=STEPS_PER_RUN, deadline=None,
                database=None, derandomize=fixed_seed, print_blob=False, phases=phases,
                report_multiple_bugs=False, suppress_health_check=list(HealthCheck)))
        except (Violation, HypothesisException) as exc:
            # HypothesisException: the failure did not happen again when replayed (a
            # timing-dependent violation, "Flaky"); it happened once, so it counts.
            kept = ctx.failures_dir / f"failure-{len(ctx.violations) + 1}.yaml"
            if last.exists():
                last.rename(kept)
            ctx.violations.append(f"{exc}\n  shortest sequence: {kept}")
        if fixed_seed:
            break
    summary = {"transitions": ctx.transitions, "faults": ctx.faults,
               "violations": len(ctx.violations),
               "minutes": round((time.monotonic() - started) / 60, 1),
               "steps": dict(sorted(ctx.ops.items()))}
    print(f"exploration: {json.dumps(summary)}")
    (ctx.failures_dir).mkdir(parents=True, exist_ok=True)
    (ctx.failures_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    assert not ctx.violations, "\n\n".join(ctx.violations)


def test_exploration(context: Context) -> None:
    """``EXPLORE_TRANSITIONS`` (default 40, fixed seed); ``EXPLORE_RANDOM=1`` for random
    seeds (what ``make explore`` sets)."""
    transitions = int(os.environ.get("EXPLORE_TRANSITIONS", "40"))
    _explore(context, transitions, fixed_seed=os.environ.get("EXPLORE_RANDOM") != "1")


# EXPLORE_REPLAY=path/to/failure.yaml replays one sequence an exploration wrote.
REPLAY = [Path(p) for p in os.environ.get("EXPLORE_REPLAY", "").split(",") if p]


@pytest.mark.parametrize("path", REPLAY or sorted(REGRESSIONS.glob("*.yaml")),
                         ids=lambda p: p.stem)
def test_regression(context: Context, path: Path) -> None:
    """A sequence an exploration once failed on: replayed step by step, judged after each."""
    world = context.new_world()
    try:
        world.operator_up()
        replay(world, read_sequence(path))
    finally:
        context.end_world(world)
