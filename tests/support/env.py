"""Where the real parts are: the local environment's env.sh, or the caller's own."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ENV_SH = REPO / ".dev/env.sh"
HINT = (
    "run `make env-up` first (it builds and starts a local kube-apiserver, etcd, "
    "kube-controller-manager and Kafka), or export KUBECONFIG and KAFKA_BOOTSTRAP_SERVERS "
    "for your own cluster and broker"
)

__all__ = ["HINT", "REPO", "devenv", "load_env", "require_env"]


def load_env() -> None:
    """Adopt .dev/env.sh's exports for any variable the caller did not set."""
    if not ENV_SH.exists():
        return
    for line in ENV_SH.read_text().splitlines():
        m = re.match(r"export (\w+)=(.*)$", line)
        if m and m.group(1) != "PATH":
            os.environ.setdefault(m.group(1), m.group(2).strip('"'))


def require_env(name: str) -> str:
    """A variable a real part needs; missing means fail (never skip) with the fix."""
    load_env()
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: {HINT}", pytrace=False)
    return value


def devenv(*args: str) -> None:
    """Run ``scripts/env/devenv.py`` (e.g. ``stop kafka``, ``start kube-apiserver``): how a
    test takes a real part away and brings it back."""
    subprocess.run([sys.executable, str(REPO / "scripts/env/devenv.py"), *args], check=True,
                   stdout=subprocess.DEVNULL)
