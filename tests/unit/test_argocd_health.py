"""The Argo CD health checks of our kinds, run as Argo CD runs them: Lua over the object.

Argo CD evaluates ``health.lua`` with gopher-lua (Lua 5.1) and a global ``obj``; the
script returns a table ``{status, message}``. Here the same scripts run under ``lupa``
with Lua 5.1 (Argo CD's dialect) and with lupa's default newer Lua, against fixtures
in Argo CD's own ``health_test.yaml`` format (tests/data/argocd/dashstream.io/<Kind>/),
so the scripts and their tests can be contributed upstream as they are. They run both
from manifests/argocd/health/ and from the argocd-cm snippet generated from them.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
import yaml
from lupa import LuaRuntime

from dashstream_operator.models import (
    AlertRuleSetStatus,
    BaseStatus,
    DashboardSetStatus,
    DashStreamPipelineStatus,
)

REPO = Path(__file__).resolve().parents[2]
HEALTH = REPO / "manifests/argocd/health/dashstream.io"
CM_SNIPPET = REPO / "manifests/argocd/resource-customizations.yaml"
FIXTURES = REPO / "tests/data/argocd/dashstream.io"
KINDS = ("DashStreamPipeline", "AlertRuleSet", "DashboardSet")
STATUS_MODELS: dict[str, type[BaseStatus]] = {
    "DashStreamPipeline": DashStreamPipelineStatus,
    "AlertRuleSet": AlertRuleSetStatus,
    "DashboardSet": DashboardSetStatus,
}
ARGO_STATUSES = {"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}
# lupa.lua51 is Argo CD's dialect (gopher-lua implements Lua 5.1); "lupa" is the default.
RUNTIMES = ("lupa.lua51", "lupa")


def lua_runtime(module: str) -> Any:
    try:
        runtime: type[LuaRuntime] = importlib.import_module(module).LuaRuntime
    except ImportError:
        pytest.fail(f"{module} is not available in this lupa build", pytrace=False)
    return runtime(unpack_returned_tuples=True)


def run_health(script: str, obj: dict[str, Any], module: str = "lupa.lua51") -> dict[str, Any]:
    """Evaluate a health script as Argo CD does: global ``obj``, the chunk returns ``hs``."""
    lua = lua_runtime(module)
    lua.globals().obj = lua.table_from(obj, recursive=True)
    hs = lua.execute(script)
    assert hs is not None, "the script returned nothing"
    out = {"status": hs["status"], "message": hs["message"]}
    assert out["status"] in ARGO_STATUSES, out
    return out


def health_scripts() -> dict[str, str]:
    return {kind: (HEALTH / kind / "health.lua").read_text() for kind in KINDS}


def snippet_scripts() -> dict[str, str]:
    data = yaml.safe_load(CM_SNIPPET.read_text())["data"]
    return {kind: data[f"resource.customizations.health.dashstream.io_{kind}"] for kind in KINDS}


def cases() -> list[Any]:
    out = []
    for kind in KINDS:
        spec = yaml.safe_load((FIXTURES / kind / "health_test.yaml").read_text())
        for case in spec["tests"]:
            path = FIXTURES / kind / case["inputPath"]
            out.append(pytest.param(kind, path, case["healthStatus"],
                                    id=f"{kind}-{path.stem}"))
    return out


def load(path: Path) -> dict[str, Any]:
    obj: dict[str, Any] = yaml.safe_load(path.read_text())
    return obj


@pytest.mark.parametrize("module", RUNTIMES)
@pytest.mark.parametrize(("kind", "path", "expected"), cases())
def test_health(kind: str, path: Path, expected: dict[str, str], module: str) -> None:
    obj = load(path)
    assert obj["kind"] == kind
    got = run_health(health_scripts()[kind], obj, module)
    assert got["status"] == expected["status"]
    if "message" in expected:
        assert got["message"] == expected["message"]


@pytest.mark.parametrize(("kind", "path", "expected"), cases())
def test_snippet_scripts_behave_the_same(kind: str, path: Path,
                                         expected: dict[str, str]) -> None:
    """What users paste into argocd-cm is the same script (gen_chart.py embeds it)."""
    assert snippet_scripts()[kind].rstrip("\n") == health_scripts()[kind].rstrip("\n")
    assert run_health(snippet_scripts()[kind], load(path))["status"] == expected["status"]


@pytest.mark.parametrize("kind", KINDS)
def test_every_state_is_covered(kind: str) -> None:
    """Each kind has fixtures for Healthy, Progressing and Degraded, and a missing status."""
    spec = yaml.safe_load((FIXTURES / kind / "health_test.yaml").read_text())
    states = {c["healthStatus"]["status"] for c in spec["tests"]}
    assert {"Healthy", "Progressing", "Degraded"} <= states
    no_status = [c for c in spec["tests"] if "status" not in load(FIXTURES / kind / c["inputPath"])]
    assert no_status and all(c["healthStatus"]["status"] == "Progressing" for c in no_status)
    listed = {FIXTURES / kind / c["inputPath"] for c in spec["tests"]}
    assert listed == set((FIXTURES / kind / "testdata").glob("*.yaml")), "unlisted fixture"


@pytest.mark.parametrize(("kind", "path", "expected"), cases())
def test_fixture_status_has_the_operators_shape(kind: str, path: Path,
                                                expected: dict[str, str]) -> None:
    """Fixtures carry status as the operator writes it: they parse with its status model,
    and every condition has the fields the health checks read."""
    obj = load(path)
    if "status" not in obj:
        return
    # Round trip through the model: nothing unknown, nothing of the wrong type.
    assert STATUS_MODELS[kind].from_body(obj).to_wire() == obj["status"]
    for cond in obj["status"]["conditions"]:
        assert set(cond) == {"type", "status", "reason", "message", "lastTransitionTime",
                             "observedGeneration"}


def test_ready_false_with_an_unknown_reason_is_degraded() -> None:
    """A refusal the script does not list yet is surfaced, never hidden as Progressing
    (the gap in Argo CD's built-in KafkaTopic check)."""
    obj = load(FIXTURES / "DashStreamPipeline/testdata/invalid-spec.yaml")
    obj["status"]["conditions"][-1]["reason"] = "SomeNewRefusal"
    for kind, script in health_scripts().items():
        obj["kind"] = kind
        assert run_health(script, obj)["status"] == "Degraded"


def test_missing_generation_is_not_stale() -> None:
    """Without metadata.generation (not served by every source) Ready=True is Healthy."""
    obj = load(FIXTURES / "DashStreamPipeline/testdata/healthy.yaml")
    del obj["metadata"]["generation"]
    assert run_health(health_scripts()["DashStreamPipeline"], obj)["status"] == "Healthy"


def test_ready_without_any_observed_generation_is_stale() -> None:
    """Nothing says which generation a Ready=True is for: do not trust it."""
    obj = load(FIXTURES / "DashStreamPipeline/testdata/healthy.yaml")
    del obj["status"]["observedGeneration"]
    for cond in obj["status"]["conditions"]:
        del cond["observedGeneration"]
    got = run_health(health_scripts()["DashStreamPipeline"], obj)
    assert got == {"status": "Progressing", "message": "Waiting for the operator to "
                   "reconcile generation 2 (status is for generation none)"}


@pytest.mark.parametrize("kind", KINDS)
def test_scripts_follow_argocd_conventions(kind: str) -> None:
    """As Argo CD's built-in scripts: a local hs table returned, nil-checked status, no
    Lua 5.2+ syntax that gopher-lua rejects, no globals defined."""
    script = health_scripts()[kind]
    assert script.startswith("-- Argo CD health check of dashstream.io/" + kind)
    assert "local hs = {}" in script and script.rstrip().endswith("return hs")
    assert "obj.status == nil" in script
    for construct in ("goto ", "::", "//", "table.unpack", "<const>", "<close>"):
        assert construct not in script, construct
    lua = lua_runtime("lupa.lua51")
    before = set(lua.globals())
    lua.globals().obj = lua.table_from(load(FIXTURES / kind / "testdata/no-status.yaml"),
                                       recursive=True)
    lua.execute(script)
    assert set(lua.globals()) - before == {"obj"}, "the script leaks globals"
