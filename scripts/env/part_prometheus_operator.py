"""Part: a real prometheus-operator, run as a process against the local API server.

Built from the Go module proxy through the wrapper module tools/prometheus-operator
(its go.mod replaces two of its own modules with local paths, so `go install` refuses
it). Before it starts, every CRD of its module is installed: it cannot watch without
PodMonitor, Probe, ScrapeConfig and the rest. It then turns the cluster's Prometheus
objects, ServiceMonitors and PrometheusRules into Prometheus configurations (the
``prometheus-<name>`` Secret) and rule ConfigMaps, as in any kube-prometheus-stack.
"""

from __future__ import annotations

from envlib import APISERVER_PORT, CACHE, VERSIONS
from gomodules import build_wrapped, install_module_crds, module_dir
from parts import Part
from pki import PKI
from procs import Proc, http_ok

NAME = "prometheus-operator"
PORT = 18080
MODULE = "github.com/prometheus-operator/prometheus-operator"


def version() -> str:
    return VERSIONS["PROMETHEUS_OPERATOR_VERSION"]


def build() -> None:
    build_wrapped(NAME, version(), MODULE, {f"{MODULE}/cmd/operator": "operator",
                                            f"{MODULE}/cmd/prometheus-config-reloader":
                                            "prometheus-config-reloader"})


def install_crds() -> None:
    install_module_crds(NAME, module_dir(MODULE, version()) / "example/prometheus-operator-crd")


def command() -> list[str]:
    return [
        str(CACHE / f"{NAME}-{version()}/bin/operator"),
        f"-apiserver=https://127.0.0.1:{APISERVER_PORT}",
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
