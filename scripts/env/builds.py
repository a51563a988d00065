"""Build or fetch every real component of the local environment, from registries only.

- kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy, kubectl
  and etcd: built from source with
  the wrapper Go module in tools/k8s (module proxy only, no prebuilt downloads);
- helm: `go install` of the pinned release (its go.mod has no replace directives);
- Kafka: broker jars resolved by tools/kafka/pom.xml with Maven;
- prometheus, promtool, redis-server, chromium, and the node's containerd, runc, CNI
  plugins, iptables, conntrack and debootstrap: Debian packages.

Each result lives in CACHE/<component>-<version>/ with a stamp of its inputs, so it is
rebuilt only when the pinned version (or the wrapper module) changes.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import time
from pathlib import Path

from envlib import (
    CACHE,
    REPO,
    VERSIONS,
    coredns_dir,
    die,
    go_env,
    helm_dir,
    k8s_dir,
    kafka_dir,
    need_tool,
    say,
)

K8S_TARGETS = [
    "k8s.io/kubernetes/cmd/kube-apiserver",
    "k8s.io/kubernetes/cmd/kube-controller-manager",
    "k8s.io/kubernetes/cmd/kubectl",
    "k8s.io/kubernetes/cmd/kube-scheduler",
    "k8s.io/kubernetes/cmd/kubelet",
    "k8s.io/kubernetes/cmd/kube-proxy",
    "go.etcd.io/etcd/server/v3",
]
K8S_BINARIES = ["kube-apiserver", "kube-controller-manager", "kubectl", "kube-scheduler",
                "kubelet", "kube-proxy", "etcd"]
# A tool on PATH (or an absolute path) -> the Debian package that brings it.
APT_PACKAGES = {
    "promtool": "prometheus", "prometheus": "prometheus", "redis-server": "redis-server",
    # headless browser for the websocket-server viewer test (tests/integration/workloads)
    "chromium": "chromium",
    # the node: container runtime, CNI plugins, kube-proxy's iptables, and debootstrap
    # for the base of the images (scripts/images)
    "containerd": "containerd", "runc": "runc", "/usr/lib/cni/bridge":
    "containernetworking-plugins", "iptables": "iptables", "conntrack": "conntrack",
    "debootstrap": "debootstrap",
}


def _stamp(files: list[Path], extra: str) -> str:
    h = hashlib.sha256(extra.encode())
    for f in files:
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def _fresh(outdir: Path, stamp: str, binaries: list[str]) -> bool:
    stamp_file = outdir / ".stamp"
    return (
        stamp_file.exists()
        and stamp_file.read_text().strip() == stamp
        and all((outdir / "bin" / b).exists() for b in binaries)
    )


def _go_build_with_progress(cwd: Path, args: list[str], targets: list[str], label: str) -> None:
    """`go build -v` prints each package as it compiles: turn that into a percentage."""
    env = go_env()
    say(f"{label}: downloading Go modules (cached under {CACHE / 'go/mod'})")
    subprocess.run(["go", "mod", "download"], cwd=cwd, env=env, check=True)
    listed = subprocess.run(
        ["go", "list", "-deps", *targets], cwd=cwd, env=env, check=True, text=True,
        capture_output=True,
    )
    total = max(1, len(listed.stdout.split()))
    say(f"{label}: compiling up to {total} packages (cold: about 5 min on 2 cores)")
    proc = subprocess.Popen(
        ["go", "build", "-v", *args, *targets], cwd=cwd, env=env,
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )
    assert proc.stderr is not None
    last_pct, last_t = -1, time.monotonic()
    tail: list[str] = []
    for done, line in enumerate(proc.stderr, start=1):
        tail = [*tail, line.rstrip()][-30:]
        pct = min(99, done * 100 // total)
        if pct >= last_pct + 5 or time.monotonic() - last_t > 60:
            say(f"{label}: {pct:3d}% ({done}/{total} packages)  {line.strip()[:60]}")
            last_pct, last_t = pct, time.monotonic()
    if proc.wait() != 0:
        die(f"{label}: go build failed:\n" + "\n".join(tail))


def build_kubernetes() -> None:
    k8s = VERSIONS["KUBERNETES_VERSION"]
    outdir = k8s_dir()
    mod = REPO / "tools/k8s"
    stamp = _stamp([mod / "go.mod", mod / "go.sum"], k8s)
    if _fresh(outdir, stamp, K8S_BINARIES):
        say(f"kubernetes {k8s} + etcd: cached in {outdir}")
        return
    need_tool("go", "install Go >= 1.26 (the polyglot machine has it)")
    minor = k8s.split(".")[1]
    # Without these the binaries report v0.0.0-master and helm's kubeVersion checks fail
    # (variable names from kubernetes hack/lib/version.sh).
    ld = ["-s", "-w"]
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        ld += [f"-X {pkg}.gitVersion={k8s}", f"-X {pkg}.gitMajor=1",
               f"-X {pkg}.gitMinor={minor}", f"-X {pkg}.gitTreeState=clean"]
    etcd = VERSIONS["ETCD_VERSION"]
    ld += [f"-X go.etcd.io/etcd/api/v3/version.GitSHA=dashstream-{etcd}"]
    tmp = outdir.with_name(outdir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "bin").mkdir(parents=True)
    _go_build_with_progress(
        mod, ["-trimpath", "-ldflags", " ".join(ld), "-o", str(tmp / "bin") + "/"],
        K8S_TARGETS, f"kubernetes {k8s}",
    )
    (tmp / "bin/server").rename(tmp / "bin/etcd")  # etcd's main package is named server
    (tmp / ".stamp").write_text(stamp)
    shutil.rmtree(outdir, ignore_errors=True)
    tmp.rename(outdir)
    say(f"kubernetes {k8s} + etcd {etcd}: built into {outdir}/bin")


def build_helm() -> None:
    ver = VERSIONS["HELM_VERSION"]
    outdir = helm_dir()
    if _fresh(outdir, f"{ver}+k8s", ["helm"]):
        say(f"helm {ver}: cached in {outdir}")
        return
    need_tool("go", "install Go >= 1.26")
    major = ver.split(".")[0]
    say(f"helm {ver}: building from source (go install, a few minutes cold)")
    env = go_env() | {"GOBIN": str(outdir / "bin")}
    mod = f"helm.sh/helm/{major}"
    # Helm's Makefile stamps the Kubernetes version of its client libraries into the
    # default capabilities; without it `helm template` assumes v1.20 and charts with a
    # kubeVersion constraint fail.
    info = subprocess.run(["go", "mod", "download", "-json", f"{mod}@{ver}"], env=env,
                          check=True, capture_output=True, text=True, cwd=CACHE).stdout
    gomod = Path(json.loads(info)["GoMod"]).read_text()
    minor = re.search(r"k8s\.io/client-go v0\.(\d+)\.", gomod)
    ld = [f"-s -w -X {mod}/internal/version.version={ver}"]
    if minor:
        for pkg in (f"{mod}/pkg/lint/rules", f"{mod}/pkg/chartutil"):
            ld.append(f"-X {pkg}.k8sVersionMajor=1 -X {pkg}.k8sVersionMinor={minor.group(1)}")
    subprocess.run(
        ["go", "install", "-trimpath", "-ldflags", " ".join(ld), f"{mod}/cmd/helm@{ver}"],
        env=env, check=True, cwd=CACHE,
    )
    (outdir / ".stamp").write_text(f"{ver}+k8s")
    say(f"helm {ver}: built into {outdir}/bin")


def build_coredns() -> None:
    ver = VERSIONS["COREDNS_VERSION"]
    outdir = coredns_dir()
    if _fresh(outdir, ver, ["coredns"]):
        say(f"coredns {ver}: cached in {outdir}")
        return
    need_tool("go", "install Go >= 1.26")
    say(f"coredns {ver}: building from source (go install, about 3 min cold)")
    env = go_env() | {"GOBIN": str(outdir / "bin")}
    subprocess.run(["go", "install", "-trimpath", "-ldflags", "-s -w",
                    f"github.com/coredns/coredns@{ver}"], env=env, check=True, cwd=CACHE)
    (outdir / ".stamp").write_text(ver)
    say(f"coredns {ver}: built into {outdir}/bin")


def fetch_kafka() -> None:
    ver = VERSIONS["KAFKA_VERSION"]
    outdir = kafka_dir()
    pom = REPO / "tools/kafka/pom.xml"
    stamp = _stamp([pom], ver)
    if (outdir / ".stamp").exists() and (outdir / ".stamp").read_text() == stamp:
        say(f"kafka {ver}: jars cached in {outdir}/libs")
        return
    need_tool("mvn", "install Maven (Debian package maven)")
    need_tool("java", "install a JDK >= 17")
    say(f"kafka {ver}: resolving broker jars with Maven")
    shutil.rmtree(outdir, ignore_errors=True)
    subprocess.run(
        ["mvn", "-B", "-q", "-f", str(pom), f"-Dkafka.version={ver}",
         f"-Dmaven.repo.local={CACHE / 'm2'}",
         "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies",
         "-DincludeScope=runtime", f"-DoutputDirectory={outdir / 'libs'}"],
        check=True,
    )
    jars = len(list((outdir / "libs").glob("*.jar")))
    (outdir / ".stamp").write_text(stamp)
    say(f"kafka {ver}: {jars} jars in {outdir}/libs")


def install_debian_packages(packages: dict[str, str] = APT_PACKAGES) -> None:
    """``packages``: a tool on PATH (or an absolute path) -> the package that brings it."""
    def present(tool: str) -> bool:
        return bool(shutil.which(tool)) or (tool.startswith("/") and Path(tool).exists())

    missing = sorted({pkg for tool, pkg in packages.items() if not present(tool)})
    if not missing:
        say(f"Debian packages: installed ({', '.join(sorted(set(packages.values())))})")
        return
    say(f"installing Debian packages: {' '.join(missing)}")
    env = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    # policy-rc.d 101 stops the packages' init scripts from starting system services
    # on the default ports: we run our own copies on loopback.
    policy = Path("/usr/sbin/policy-rc.d")
    created = not policy.exists()
    if created:
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
    try:
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
            check=True, env=env,
        )
    finally:
        if created:
            policy.unlink()


THIRDPARTY_CRDS = {
    "github.com/prometheus-operator/prometheus-operator@PROMETHEUS_OPERATOR_VERSION": [
        "example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml",
        "example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml",
    ],
    "github.com/grafana/grafana-operator/v5@GRAFANA_OPERATOR_VERSION": [
        "config/crd/bases/grafana.integreatly.org_grafanadashboards.yaml",
    ],
}


def thirdparty_crds_dir() -> Path:
    return CACHE / (f"thirdparty-crds-{VERSIONS['PROMETHEUS_OPERATOR_VERSION']}-"
                    f"{VERSIONS['GRAFANA_OPERATOR_VERSION']}")


def fetch_thirdparty_crds() -> None:
    """CRDs of prometheus-operator and grafana-operator, read from their Go modules."""
    outdir = thirdparty_crds_dir()
    if (outdir / ".stamp").exists():
        say(f"third-party CRDs: cached in {outdir}")
        return
    need_tool("go", "install Go >= 1.26")
    outdir.mkdir(parents=True, exist_ok=True)
    for module, files in THIRDPARTY_CRDS.items():
        path, var = module.split("@")
        mod = f"{path}@{VERSIONS[var]}"
        say(f"third-party CRDs: downloading the Go module {mod}")
        info = subprocess.run(["go", "mod", "download", "-json", mod], env=go_env(),
                              check=True, capture_output=True, text=True, cwd=CACHE).stdout
        moddir = Path(json.loads(info)["Dir"])
        for f in files:
            shutil.copyfile(moddir / f, outdir / Path(f).name)
    (outdir / ".stamp").write_text("ok")


def build_all() -> None:
    CACHE.mkdir(parents=True, exist_ok=True)
    install_debian_packages()
    fetch_thirdparty_crds()
    fetch_kafka()
    build_helm()
    build_coredns()
    build_kubernetes()
