"""The operator limits glibc's malloc arenas before its first thread."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from dashstream_operator.memory import limit_malloc_arenas


def test_an_explicit_malloc_arena_max_is_the_users_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert limit_malloc_arenas() is False


def test_sets_the_limit_on_glibc() -> None:
    # In a fresh interpreter: mallopt changes the process for good.
    code = ("import os; os.environ.pop('MALLOC_ARENA_MAX', None);"
            "from dashstream_operator.memory import limit_malloc_arenas as f; print(f())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout.strip()
    assert out == ("True" if platform.libc_ver()[0] == "glibc" else "False")
