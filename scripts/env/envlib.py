"""Shared paths, versions and small helpers of the local test environment.

Standard library only: this runs before the project's virtualenv exists.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEV = REPO / ".dev"
LOGS = DEV / "logs"
RUN = DEV / "run"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dashstream"

# Loopback ports of the local environment (chosen away from the usual defaults so a
# developer's own etcd/Kafka/Prometheus keeps working beside it).
ETCD_CLIENT_PORT = 12379
ETCD_PEER_PORT = 12380
APISERVER_PORT = 16443
KAFKA_PORT = 19092
KAFKA_CONTROLLER_PORT = 19093
# The node (kubelet + containerd) puts pods on a bridge whose gateway is this host:
# pods reach the API server and a second Kafka listener there.
NODE_NAME = "dashstream-node"
POD_BRIDGE = "dsbr0"
POD_SUBNET = "10.244.0.0/24"
POD_GATEWAY = "10.244.0.1"
KAFKA_POD_PORT = 19094
# Cluster DNS (CoreDNS on the gateway address, port 53): <svc>.<ns>.svc names in pods.
CLUSTER_DOMAIN = "cluster.local"

_T0 = time.monotonic()


def versions() -> dict[str, str]:
    out: dict[str, str] = {}
    for line in (REPO / "scripts/env/versions.env").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            out[key.strip()] = value.strip()
    return out


VERSIONS = versions()


def say(msg: str) -> None:
    """Progress line with the time since this command started."""
    elapsed = time.monotonic() - _T0
    print(f"[env {elapsed:6.1f}s] {msg}", flush=True)


def die(msg: str) -> None:
    print(f"[env] ERROR: {msg}", file=sys.stderr, flush=True)
    raise SystemExit(1)


def go_env() -> dict[str, str]:
    """Go settings that keep every module and build cache under our cache dir."""
    env = dict(os.environ)
    env.update(
        GOMODCACHE=str(CACHE / "go/mod"),
        GOCACHE=str(CACHE / "go/build"),
        GOFLAGS="-modcacherw",  # lets `rm -rf` clean the module cache
        CGO_ENABLED="0",
        GOTOOLCHAIN="local",
    )
    return env


def need_tool(name: str, hint: str) -> str:
    path = shutil.which(name)
    if not path:
        die(f"`{name}` is not on PATH: {hint}")
    assert path is not None
    return path


def run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=True, text=True, **kwargs)  # type: ignore[call-overload]


def k8s_dir() -> Path:
    return CACHE / f"kubernetes-{VERSIONS['KUBERNETES_VERSION']}"


def helm_dir() -> Path:
    return CACHE / f"helm-{VERSIONS['HELM_VERSION']}"


def coredns_dir() -> Path:
    return CACHE / f"coredns-{VERSIONS['COREDNS_VERSION']}"


def kafka_dir() -> Path:
    return CACHE / f"kafka-{VERSIONS['KAFKA_VERSION']}"


def tool_paths() -> dict[str, Path]:
    kbin = k8s_dir() / "bin"
    return {
        "ETCD": kbin / "etcd",
        "KUBE_APISERVER": kbin / "kube-apiserver",
        "KUBE_CONTROLLER_MANAGER": kbin / "kube-controller-manager",
        "KUBECTL": kbin / "kubectl",
        "KUBE_SCHEDULER": kbin / "kube-scheduler",
        "KUBELET": kbin / "kubelet",
        "KUBE_PROXY": kbin / "kube-proxy",
        "HELM": helm_dir() / "bin/helm",
        "COREDNS": coredns_dir() / "bin/coredns",
    }
