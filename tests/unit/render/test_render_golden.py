"""Golden files: tests/data/render/input/<case>.yaml -> expected/<case>.yaml.

The expected file is exactly what ``dashstream render -f input/<case>.yaml`` prints
(with the options in CASES). Regenerate with
``python -m pytest tests/unit/render --update-golden`` and review the diff.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from dashstream_operator.cli import main as cli_main
from dashstream_operator.cli_render import dump_children, render

DATA = Path(__file__).resolve().parents[2] / "data/render"
IMAGE = "dashstream/dashstream-workloads:golden"
# Options per case; every other case renders with the ServiceMonitor CRD present.
CASES: dict[str, dict[str, Any]] = {"no-servicemonitor-crd": {"servicemonitor_crd": False}}
INPUTS = sorted(p.stem for p in (DATA / "input").glob("*.yaml"))


def _render_case(case: str) -> str:
    opts = {"servicemonitor_crd": True, **CASES.get(case, {})}
    children, _ = render((DATA / "input" / f"{case}.yaml").read_text(), default_image=IMAGE,
                         **opts)
    out = io.StringIO()
    dump_children(children, out)
    return out.getvalue()


def test_every_required_case_exists() -> None:
    required = {"minimal", "tls-sasl", "disabled-component", "no-servicemonitor-crd", "custom"}
    assert required <= set(INPUTS)
    assert set(CASES) <= set(INPUTS)


@pytest.mark.parametrize("case", INPUTS)
def test_golden(case: str, update_golden: bool) -> None:
    expected = DATA / "expected" / f"{case}.yaml"
    actual = _render_case(case)
    if update_golden:
        expected.write_text(actual)
        pytest.skip(f"updated {expected.name}")
    assert expected.exists(), f"no golden file for {case}: run with --update-golden"
    assert actual == expected.read_text(), f"{case}: rerun with --update-golden and review"


def test_no_stale_golden_files() -> None:
    assert sorted(p.stem for p in (DATA / "expected").glob("*.yaml")) == INPUTS


@pytest.mark.parametrize("case", ["minimal", "no-servicemonitor-crd"])
def test_cli_prints_the_golden_stream(case: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["render", "-f", str(DATA / "input" / f"{case}.yaml"), "--image", IMAGE]
    if not CASES.get(case, {}).get("servicemonitor_crd", True):
        args.append("--no-servicemonitor")
    assert cli_main(args) == 0
    assert capsys.readouterr().out == (DATA / "expected" / f"{case}.yaml").read_text()
