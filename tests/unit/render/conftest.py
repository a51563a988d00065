"""``--update-golden``: rewrite tests/data/render/expected/ from the current renderer."""

from __future__ import annotations

import contextlib

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    # ValueError: another conftest already registered the option, with the same meaning.
    with contextlib.suppress(ValueError):
        parser.addoption("--update-golden", action="store_true", default=False,
                         help="rewrite golden files from the current output instead of "
                              "comparing (review the git diff afterwards)")


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    # default=: pytest only reads pytest_addoption from initial conftests, so when the
    # whole tests/ tree runs this option may not exist; comparing is the safe default.
    return bool(request.config.getoption("--update-golden", default=False))
