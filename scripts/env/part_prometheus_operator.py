"""Part: a real prometheus-operator, run as a process against the local API server.

Built from the Go module proxy through the wrapper module tools/prometheus-operator
(its go.mod replaces two of its own modules with local paths, so `go install` refuses
it). Before it starts, every CRD of its module is installed: it cannot watch without
PodMonitor, Probe, ScrapeConfig and the rest. It then turns the cluster's Prometheus
objects, ServiceMonitors and PrometheusRules into Prometheus configurations (the
``prometheus-<name>`` Secret) and rule ConfigMaps, as in any kube-prometheus-stack,
and runs the Prometheus pods (prometheus_image.py builds their images).
"""

from __future__ import annotations

from envlib import APISERVER_PORT, CACHE, VERSIONS
from gomodules import build_wrapped, install_module_crds, module_dir
from parts import Part
from pki import PKI
from procs import Proc, http_ok
from prometheus_image import import_images, prometheus_image, prometheus_version

NAME = "prometheus-operator"
PORT = 18080
MODULE = "github.com/prometheus-operator/prometheus-operator"
# The Prometheus of the pods it runs (module versions v0.3XX.Y are Prometheus 3.XX.Y).
PROMETHEUS_MODULE = "github.com/prometheus/prometheus"


def version() -> str:
    return VERSIONS["PROMETHEUS_OPERATOR_VERSION"]


def build() -> None:
    build_wrapped(NAME, version(), MODULE, {f"{MODULE}/cmd/operator": "operator",
                                            f"{MODULE}/cmd/prometheus-config-reloader":
                                            "prometheus-config-reloader"})
    major, minor, patch = prometheus_version().lstrip("v").split(".")
    build_wrapped("prometheus", prometheus_version(), PROMETHEUS_MODULE,
                  {f"{PROMETHEUS_MODULE}/cmd/prometheus": "prometheus"},
                  module_version=f"v0.{int(major) * 100 + int(minor)}.{patch}",
                  # what prometheus_build_info and `prometheus --version` report
                  ldflags="-X github.com/prometheus/common/version.Version="
                  + prometheus_version().lstrip("v"))


def reloader_image() -> str:
    return f"dashstream.local/prometheus-config-reloader:{version()}"


def prepare() -> None:
    """Its CRDs (it cannot watch without them) and the images of the Prometheus pods it
    will run, in the node's containerd (which runs by now)."""
    install_module_crds(NAME, module_dir(MODULE, version()) / "example/prometheus-operator-crd")
    import_images(CACHE / f"prometheus-{prometheus_version()}/bin/prometheus",
                  CACHE / f"{NAME}-{version()}/bin/prometheus-config-reloader",
                  reloader_image())


def command() -> list[str]:
    return [
        str(CACHE / f"{NAME}-{version()}/bin/operator"),
        f"-apiserver=https://127.0.0.1:{APISERVER_PORT}",
        f"-ca-file={PKI / 'ca.crt'}", f"-cert-file={PKI / 'admin.crt'}",
        f"-key-file={PKI / 'admin.key'}", f"-web.listen-address=127.0.0.1:{PORT}",
        # The image of the config-reloader sidecar in the Prometheus pods it manages.
        f"-prometheus-config-reloader={reloader_image()}",
        "-log-level=warn",
    ]


def healthy() -> bool:
    return http_ok(f"http://127.0.0.1:{PORT}/healthz") is not None


def env() -> dict[str, str]:
    return {"DASHSTREAM_PROMETHEUS_OPERATOR_URL": f"http://127.0.0.1:{PORT}",
            "DASHSTREAM_PROMETHEUS_OPERATOR_VERSION": version(),
            # What a Prometheus object's spec.image and spec.version name here.
            "DASHSTREAM_PROMETHEUS_IMAGE": prometheus_image(),
            "DASHSTREAM_PROMETHEUS_VERSION": prometheus_version()}


PART = Part(NAME, build, [Proc(NAME, "bin/operator", command, healthy, prepare)], env)
