"""Part: a real prometheus-operator, run as a process against the local API server.

Built from the Go module proxy through the wrapper module tools/prometheus-operator
(its go.mod replaces two of its own modules with local paths, so `go install` refuses
it). Before it starts, every CRD of its module is installed: it cannot watch without
PodMonitor, Probe, ScrapeConfig and the rest. It then turns the cluster's Prometheus
objects, ServiceMonitors and PrometheusRules into Prometheus configurations (the
``prometheus-<name>`` Secret) and rule ConfigMaps, as in any kube-prometheus-stack.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import builds
from envlib import APISERVER_PORT, CACHE, REPO, VERSIONS, die, go_env, need_tool, say, tool_paths
from parts import Part
from pki import KUBECONFIG, PKI
from procs import Proc, http_ok

NAME = "prometheus-operator"
PORT = 18080
MODULE = "github.com/prometheus-operator/prometheus-operator"
BINARIES = ["operator", "prometheus-config-reloader"]
WRAPPER = REPO / "tools/prometheus-operator"


def version() -> str:
    return VERSIONS["PROMETHEUS_OPERATOR_VERSION"]


def outdir() -> Path:
    return CACHE / f"prometheus-operator-{version()}"


def build() -> None:
    ver = version()
    pinned = f"{MODULE} {ver}"
    if pinned not in (WRAPPER / "go.mod").read_text():
        die(f"{WRAPPER / 'go.mod'} does not require {pinned} (versions.env): keep them in step")
    stamp = builds._stamp([WRAPPER / "go.mod", WRAPPER / "go.sum"], ver)
    out = outdir()
    if builds._fresh(out, stamp, BINARIES):
        say(f"{NAME} {ver}: cached in {out}")
        return
    need_tool("go", "install Go >= 1.26 (the polyglot machine has it)")
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "bin").mkdir(parents=True)
    builds._go_build_with_progress(
        WRAPPER, ["-trimpath", "-ldflags", "-s -w", "-o", str(tmp / "bin") + "/"],
        [f"{MODULE}/cmd/{b}" for b in BINARIES], f"{NAME} {ver}")
    (tmp / ".stamp").write_text(stamp)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    say(f"{NAME} {ver}: built into {out}/bin")


def crds_dir() -> Path:
    info = subprocess.run(["go", "mod", "download", "-json", f"{MODULE}@{version()}"],
                          env=go_env(), check=True, capture_output=True, text=True,
                          cwd=CACHE).stdout
    return Path(json.loads(info)["Dir"]) / "example/prometheus-operator-crd"


def install_crds() -> None:
    paths = sorted(crds_dir().glob("*.yaml"))
    say(f"{NAME}: installing its {len(paths)} CRDs")
    kubectl = [str(tool_paths()["KUBECTL"]), "--kubeconfig", str(KUBECONFIG)]
    # monitoring.coreos.com_prometheuses.yaml holds prometheuses.monitoring.coreos.com
    names = [".".join(reversed(p.stem.split("_", 1))) for p in paths]
    for args in ([*kubectl, "apply", "--server-side", "--force-conflicts",
                  *(f"--filename={p}" for p in paths)],
                 [*kubectl, "wait", "--for=condition=Established", "--timeout=60s",
                  *(f"crd/{n}" for n in names)]):
        done = subprocess.run(args, capture_output=True, text=True)
        if done.returncode != 0:
            die(f"{NAME}: {' '.join(args[3:5])} of its CRDs failed:\n{done.stderr[-2000:]}")


def command() -> list[str]:
    return [
        str(outdir() / "bin/operator"), f"-apiserver=https://127.0.0.1:{APISERVER_PORT}",
        f"-ca-file={PKI / 'ca.crt'}", f"-cert-file={PKI / 'admin.crt'}",
        f"-key-file={PKI / 'admin.key'}", f"-web.listen-address=127.0.0.1:{PORT}",
        # The image of the config-reloader sidecar in the Prometheus pods it manages.
        f"-prometheus-config-reloader=dashstream.local/prometheus-config-reloader:{version()}",
        "-log-level=warn",
    ]


def healthy() -> bool:
    return http_ok(f"http://127.0.0.1:{PORT}/healthz") is not None


def env() -> dict[str, str]:
    return {"DASHSTREAM_PROMETHEUS_OPERATOR_URL": f"http://127.0.0.1:{PORT}",
            "DASHSTREAM_PROMETHEUS_OPERATOR_VERSION": version()}


PART = Part(NAME, build, [Proc(NAME, "bin/operator", command, healthy, install_crds)], env)
