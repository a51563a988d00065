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

__all__ = ["HINT", "REPO", "devenv", "etcd_compact", "etcd_delete", "load_env", "require_env"]


def load_env() -> None:
    """Adopt .dev/env.sh's exports for any variable the caller did not set."""
    if not ENV_SH.exists():
        return
    for line in ENV_SH.read_text().splitlines():
        m = re.match(r"export (\w+)=(.*)$", line)
        if m and m.group(1) != "PATH":
            os.environ.setdefault(m.group(1), m.group(2).strip('"'))


def require_env(name: str, fix: str = HINT) -> str:
    """A variable a real part needs; missing means fail (never skip) with the fix."""
    load_env()
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: {fix}", pytrace=False)
    return value


def devenv(*args: str) -> None:
    """Run ``scripts/env/devenv.py`` (e.g. ``stop kafka``, ``start kube-apiserver``): how a
    test takes a real part away and brings it back."""
    subprocess.run([sys.executable, str(REPO / "scripts/env/devenv.py"), *args], check=True,
                   stdout=subprocess.DEVNULL)


def _etcd(path: str, body: dict[str, object]) -> dict[str, object]:
    """One call to the local environment's etcd v3 JSON gateway (keys are base64)."""
    import json
    import urllib.request

    port = re.search(r"^ETCD_CLIENT_PORT = (\d+)", (REPO / "scripts/env/envlib.py").read_text(),
                     re.M)
    assert port, "ETCD_CLIENT_PORT not found in scripts/env/envlib.py"
    req = urllib.request.Request(f"http://127.0.0.1:{port.group(1)}/v3/kv/{path}",
                                 json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return dict(json.loads(r.read()))


def etcd_compact() -> int:
    """Compact the local environment's etcd history up to its current revision; returns
    it. A watch resumed from an older resourceVersion then gets 410 Gone and must relist,
    so whatever happened before is never replayed to it: a watch gap, made on purpose."""
    import base64

    header = _etcd("range", {"key": base64.b64encode(b"/").decode()})["header"]
    revision = int(header["revision"])  # type: ignore[index]
    _etcd("compaction", {"revision": str(revision), "physical": True})
    return revision


def etcd_delete(resource: str, namespace: str, name: str) -> int:
    """Delete an object in etcd itself, behind a stopped API server's back (``resource``
    as in the registry: ``services/specs``, ``configmaps``); returns how many keys went.
    Restarted, the API server's caches start without it: no watch can ever deliver its
    DELETED event."""
    import base64

    key = f"/registry/{resource}/{namespace}/{name}".encode()
    return int(str(_etcd("deleterange", {"key": base64.b64encode(key).decode()}).get("deleted", 0)))
