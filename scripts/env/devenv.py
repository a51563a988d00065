#!/usr/bin/env python3
"""The DashStream local test environment: a real Kubernetes control plane, a real
Kafka broker and a real node (kubelet + containerd) on this host, built from source and
package registries (no Docker).

  devenv.py up [PART...]       build what is missing, start what is not running;
                               optional parts only when named (prometheus-operator,
                               alertmanager, grafana-operator: scripts/env/parts.py)
  devenv.py down               stop exactly the processes `up` started
  devenv.py status             what runs, where, and the tool versions
  devenv.py build              only build/fetch the binaries and jars
  devenv.py images             build the operator and workloads images (no Docker)
                               and import them into the node's containerd
  devenv.py stop|start NAME    one process (etcd, kube-apiserver,
                               kube-controller-manager, kafka, containerd,
                               kube-scheduler, coredns, kubelet, kube-proxy, and
                               the optional parts' processes), for fault tests
  devenv.py clean              down, then delete .dev/ (cluster and broker data)

Set DASHSTREAM_CLUSTER=kind to create a kind cluster instead of the local control
plane (needs kind and a working Docker engine; Kafka still runs locally).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import builds
import images
import node
import parts
from envlib import (
    CACHE,
    DEV,
    KAFKA_POD_PORT,
    KAFKA_PORT,
    LOGS,
    POD_GATEWAY,
    RUN,
    die,
    say,
    tool_paths,
)
from pki import KUBECONFIG, ensure_pki
from procs import PROCS as CONTROL_PLANE
from procs import Proc, pid_of, start, stop

PROCS = CONTROL_PLANE + node.node_procs()
OPTIONAL_PROCS = [proc for part in parts.PARTS for proc in part.procs]
BY_NAME = {p.name: p for p in PROCS + OPTIONAL_PROCS}

ENV_SH = DEV / "env.sh"


def write_env_sh(kubeconfig: Path) -> None:
    tools = tool_paths()
    promtool = shutil.which("promtool") or "/usr/bin/promtool"
    prometheus = shutil.which("prometheus") or "/usr/bin/prometheus"
    path_dirs = [str(tools["KUBECTL"].parent), str(tools["HELM"].parent)]
    lines = [
        "# Written by `make env-up`: source it to use the local DashStream environment.",
        f"export KUBECONFIG={kubeconfig}",
        f"export KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:{KAFKA_PORT}",
        # The same broker as pods on the local node reach it.
        f"export DASHSTREAM_POD_KAFKA_BOOTSTRAP={POD_GATEWAY}:{KAFKA_POD_PORT}",
        # The images `make images` builds (names defined once, in images.py).
        f"export DASHSTREAM_OPERATOR_IMAGE={images.OPERATOR_IMAGE}",
        f"export DASHSTREAM_WORKLOADS_IMAGE={images.WORKLOADS_IMAGE}",
        f"export KUBECTL={tools['KUBECTL']}",
        f"export HELM={tools['HELM']}",
        f"export PROMTOOL={promtool}",
        f"export PROMETHEUS={prometheus}",
        f"export REDIS_SERVER={shutil.which('redis-server') or '/usr/bin/redis-server'}",
        f"export DASHSTREAM_DEV_DIR={DEV}",
        f"export DASHSTREAM_THIRDPARTY_CRDS={builds.thirdparty_crds_dir()}",
        f'export PATH={":".join(path_dirs)}:"$PATH"',
    ]
    for part in parts.PARTS:
        if part.running():
            lines += [f"export {k}={v}" for k, v in part.env().items()]
    ENV_SH.write_text("\n".join(lines) + "\n")


def up(names: list[str]) -> None:
    unknown = [n for n in names if n not in parts.BY_NAME]
    if unknown:
        die(f"no such part: {', '.join(unknown)} (parts: {', '.join(parts.BY_NAME)})")
    DEV.mkdir(exist_ok=True)
    LOGS.mkdir(exist_ok=True)
    builds.build_all()
    for name in names:
        parts.BY_NAME[name].build()
    if os.environ.get("DASHSTREAM_CLUSTER") == "kind":
        kubeconfig = kind_up()
        start(BY_NAME["kafka"])
    else:
        ensure_pki()
        node.prepare_network()
        for p in PROCS:
            start(p)
        kubeconfig = KUBECONFIG
    if names and os.environ.get("DASHSTREAM_CLUSTER") == "kind":
        say(f"optional parts ({', '.join(names)}) run against the local control plane "
            "only; not started with DASHSTREAM_CLUSTER=kind")
        names = []
    for name in names:
        for p in parts.BY_NAME[name].procs:
            start(p)
    write_env_sh(kubeconfig)
    say(f"environment up; use it with:  source {ENV_SH}")


def kind_up() -> Path:
    """Where Docker and kind exist (a laptop, hosted CI): a kind cluster instead of the
    local control plane. It cannot run on machines without a Docker engine."""
    if not shutil.which("kind") or subprocess.run(
        ["docker", "info"], capture_output=True
    ).returncode != 0:
        die("DASHSTREAM_CLUSTER=kind needs `kind` and a running Docker engine")
    kubeconfig = DEV / "kind.kubeconfig"
    names = subprocess.run(["kind", "get", "clusters"], capture_output=True, text=True).stdout
    if "dashstream" not in names.split():
        say("kind: creating cluster 'dashstream'")
        subprocess.run(["kind", "create", "cluster", "--name", "dashstream",
                        "--kubeconfig", str(kubeconfig), "--wait", "120s"], check=True)
    return kubeconfig


def down() -> None:
    # Extra processes started for the environment (the demo's operator) first.
    extras = [Proc(f.stem, "python", list, lambda: True)
              for f in sorted(RUN.glob("*.pid")) if f.stem not in BY_NAME]
    stopped = [p.name for p in extras if stop(p)]
    stopped += [p.name for p in reversed(PROCS + OPTIONAL_PROCS) if stop(p)]
    if os.environ.get("DASHSTREAM_CLUSTER") == "kind" and shutil.which("kind"):
        subprocess.run(["kind", "delete", "cluster", "--name", "dashstream"], check=False)
    say(f"stopped: {', '.join(stopped) or 'nothing was running'}")


def status() -> int:
    bad = 0
    for p in PROCS + [p for p in OPTIONAL_PROCS if pid_of(p)]:
        pid = pid_of(p)
        healthy = bool(pid) and p.healthy()
        bad += not healthy
        state = "healthy" if healthy else ("UNHEALTHY" if pid else "stopped")
        print(f"  {p.name:26s} {state:10s} pid={pid or '-'}")
    for name, path in tool_paths().items():
        print(f"  {name:26s} {'ok' if path.exists() else 'not built':10s} {path}")
    print(f"  cache: {CACHE}\n  logs:  {LOGS}\n  env:   {ENV_SH}")
    return 1 if bad else 0


def main(argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(__doc__)
        return 0
    cmd, rest = argv[0], argv[1:]
    if cmd == "up":
        up(rest)
    elif cmd == "down":
        down()
    elif cmd == "status":
        return status()
    elif cmd == "build":
        builds.build_all()
    elif cmd == "images":
        images.build_and_import()
    elif cmd in {"start", "stop"} and rest and rest[0] in BY_NAME:
        (start if cmd == "start" else stop)(BY_NAME[rest[0]])
        if BY_NAME[rest[0]] in OPTIONAL_PROCS:  # its part's variables follow whether it runs
            write_env_sh(KUBECONFIG)
    elif cmd == "clean":
        down()
        shutil.rmtree(DEV, ignore_errors=True)
        say(f"removed {DEV}")
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
