"""Part: a real grafana-operator (v5), run as a process against the local API server.

Built through the wrapper module tools/grafana-operator (`go install` of the release
asks the module proxy for its version list, which is not served), every CRD of its
module installed first. No Grafana server can run here (none is in a reachable
registry), so the operator ends each GrafanaDashboard at "no matching instances" —
after it has decoded the dashboard, which is what the tests ask of it: a dashboard it
cannot read is reported invalid.
"""

from __future__ import annotations

from envlib import CACHE, VERSIONS
from gomodules import build_wrapped, install_module_crds, module_dir
from parts import Part
from pki import KUBECONFIG
from procs import Proc, http_ok

NAME = "grafana-operator"
MODULE = "github.com/grafana/grafana-operator/v5"
PROBE_PORT = 18081
METRICS_PORT = 18082


def version() -> str:
    return VERSIONS["GRAFANA_OPERATOR_VERSION"]


def build() -> None:
    build_wrapped(NAME, version(), MODULE, {MODULE: "grafana-operator"})


def install_crds() -> None:
    install_module_crds(NAME, module_dir(MODULE, version()) / "config/crd/bases")


def command() -> list[str]:
    return [str(CACHE / f"{NAME}-{version()}/bin/grafana-operator"),
            f"--kubeconfig={KUBECONFIG}",
            f"--health-probe-bind-address=127.0.0.1:{PROBE_PORT}",
            f"--metrics-bind-address=127.0.0.1:{METRICS_PORT}", "--pprof-addr="]


def healthy() -> bool:
    return http_ok(f"http://127.0.0.1:{PROBE_PORT}/healthz") is not None


def env() -> dict[str, str]:
    return {"DASHSTREAM_GRAFANA_OPERATOR_METRICS": f"http://127.0.0.1:{METRICS_PORT}",
            "DASHSTREAM_GRAFANA_OPERATOR_VERSION": version()}


PART = Part(NAME, build, [Proc(NAME, "grafana-operator", command, healthy, install_crds)],
            env)
