"""The operator process every DashboardSet test runs against (resync every 3 s)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from support.dashboardsets import RESYNC
from support.operator import OperatorProcess, run_operator


@pytest.fixture
def operator(namespace: str, crds_installed: list[str], thirdparty_crds: list[str],
             artifacts_dir: Path) -> Iterator[OperatorProcess]:
    with run_operator([namespace], artifacts_dir / "logs", resync=RESYNC) as op:
        yield op

