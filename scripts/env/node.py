"""The local node: containerd, kubelet, kube-scheduler, kube-proxy and CoreDNS, so the operator
and the servers can run in-cluster as pods, from images built by images.py.

No Docker and no kind: the kubelet runs on this host with containerd (Debian package)
and the CNI bridge plugin. The node is tainted ``dashstream.dev/node=local:NoSchedule``:
only pods that tolerate it (the in-cluster e2e test's) are scheduled, so the many
Deployments other tests create stay Pending as before instead of starting pods.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
from pathlib import Path

from envlib import (
    CLUSTER_DOMAIN,
    DEV,
    NODE_NAME,
    POD_BRIDGE,
    POD_GATEWAY,
    POD_SUBNET,
    say,
    tool_paths,
)
from procs import Proc, http_ok, unverified_tls

NODE = DEV / "node"
# Unix socket paths are limited to 107 bytes: keep containerd's state under /run,
# one directory per checkout.
STATE = Path("/run") / f"dashstream-{hashlib.sha1(str(DEV).encode()).hexdigest()[:8]}"
SOCKET = STATE / "containerd.sock"
TAINT = "dashstream.dev/node"
# Built by images.py from tools/pause: the sandbox (first container) of every pod.
PAUSE_IMAGE = "dashstream.local/pause:dev"
CNI_BIN = Path("/usr/lib/cni")


def ctr(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ctr", "-a", str(SOCKET), "-n", "k8s.io", *args], check=check,
                          capture_output=True, text=True, timeout=300)


def prepare_network() -> None:
    """The pod bridge with the host's gateway address, before anything binds to it."""
    for key, value in (("net/ipv4/ip_forward", "1"),
                       ("net/bridge/bridge-nf-call-iptables", "1")):
        path = Path("/proc/sys") / key
        if path.exists() and path.read_text().strip() != value:
            path.write_text(value)
    if subprocess.run(["ip", "link", "show", POD_BRIDGE], capture_output=True).returncode:
        say(f"node: creating bridge {POD_BRIDGE} with {POD_GATEWAY}")
        subprocess.run(["ip", "link", "add", POD_BRIDGE, "type", "bridge"], check=True)
    prefix = POD_SUBNET.split("/")[1]
    addrs = subprocess.run(["ip", "-o", "-4", "addr", "show", POD_BRIDGE],
                           capture_output=True, text=True, check=True).stdout
    if f"{POD_GATEWAY}/" not in addrs:
        subprocess.run(["ip", "addr", "add", f"{POD_GATEWAY}/{prefix}", "dev", POD_BRIDGE],
                       check=True)
    subprocess.run(["ip", "link", "set", POD_BRIDGE, "up"], check=True)


def containerd_prepare() -> None:
    (NODE / "cni").mkdir(parents=True, exist_ok=True)
    STATE.mkdir(parents=True, exist_ok=True)
    # restrict_oom_score_adj: this sandbox may not lower oom_score_adj below the
    # runtime's own, and the pause container asks for -998 (runc fails otherwise).
    # Every registry resolves to a closed loopback port: an image that is not
    # imported fails at once instead of being looked for on the network.
    hosts = NODE / "registry-hosts/_default"
    hosts.mkdir(parents=True, exist_ok=True)
    (hosts / "hosts.toml").write_text('server = "http://127.0.0.1:9"\n')
    (NODE / "containerd.toml").write_text(f"""version = 2
root = "{NODE / 'containerd'}"
state = "{STATE / 'state'}"
[grpc]
  address = "{SOCKET}"
[plugins."io.containerd.grpc.v1.cri"]
  restrict_oom_score_adj = true
  sandbox_image = "{PAUSE_IMAGE}"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{CNI_BIN}"
    conf_dir = "{NODE / 'cni'}"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "{NODE / 'registry-hosts'}"
""")
    (NODE / "cni/10-dashstream.conflist").write_text(json.dumps({
        "cniVersion": "1.0.0", "name": "dashstream", "plugins": [
            {"type": "bridge", "bridge": POD_BRIDGE, "isGateway": True, "ipMasq": False,
             "hairpinMode": True,
             "ipam": {"type": "host-local", "dataDir": str(NODE / "ipam"),
                      "ranges": [[{"subnet": POD_SUBNET, "gateway": POD_GATEWAY}]],
                      "routes": [{"dst": "0.0.0.0/0"}]}},
            {"type": "portmap", "capabilities": {"portMappings": True}},
            {"type": "loopback"}]}, indent=1))


def containerd_cmd() -> list[str]:
    return ["containerd", "--config", str(NODE / "containerd.toml")]


def containerd_healthy() -> bool:
    try:
        return SOCKET.exists() and ctr("version", check=False).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def containerd_before_stop() -> None:
    """Stop the pods' containers: their shims live outside containerd's process group
    and would outlive it, holding mounts under .dev/."""
    if containerd_healthy():
        tasks = ctr("task", "ls", "-q", check=False).stdout.split()
        for task in tasks:
            ctr("task", "kill", "-s", "SIGKILL", task, check=False)
        for task in tasks:
            ctr("task", "delete", "-f", task, check=False)


def containerd_after_stop() -> None:
    out = subprocess.run(["pgrep", "-f", f"containerd-shim.*{SOCKET}"], capture_output=True,
                         text=True).stdout.split()
    for pid in out:
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)
    unmount_under(NODE, STATE)


def unmount_under(*roots: Path) -> None:
    """Unmount what the kubelet and containerd mounted (volumes, rootfs, netns), deepest
    first, so `make env-clean` can delete .dev/."""
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    ours = [m for m in mounts if any(m.startswith(f"{r}/") for r in roots)]
    for mount in sorted(ours, key=len, reverse=True):
        subprocess.run(["umount", "-l", mount], capture_output=True)



def kubelet_prepare() -> None:
    """The pause image (sandbox of every pod) must be in containerd before a pod starts."""
    from images import ensure_pause_image  # here: images imports this module

    ensure_pause_image()
    (NODE / "kubelet").mkdir(parents=True, exist_ok=True)
    (NODE / "kubelet.yaml").write_text(f"""apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# This host has cgroup v1 only; the kubelet refuses it unless told.
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupsPerQOS: false
enforceNodeAllocatable: []
containerRuntimeEndpoint: unix://{SOCKET}
authentication:
  anonymous: {{enabled: false}}
  webhook: {{enabled: true}}
  x509: {{clientCAFile: {DEV / 'pki/ca.crt'}}}
authorization: {{mode: Webhook}}
# On the gateway address (the node's InternalIP): `kubectl logs` goes through here.
address: {POD_GATEWAY}
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
resolvConf: /etc/resolv.conf
clusterDNS: [{POD_GATEWAY}]
clusterDomain: {CLUSTER_DOMAIN}
podLogsDir: {NODE / 'pod-logs'}
registerWithTaints:
- {{key: {TAINT}, value: local, effect: NoSchedule}}
failSwapOn: false
# The filesystem stats the eviction manager needs are not available in this VM; a test
# node must not evict anything anyway.
evictionHard: {{}}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
localStorageCapacityIsolation: false
serializeImagePulls: false
""")


def kubelet_cmd() -> list[str]:
    return [str(tool_paths()["KUBELET"]), f"--config={NODE / 'kubelet.yaml'}",
            f"--kubeconfig={DEV / 'kubelet.kubeconfig'}", f"--hostname-override={NODE_NAME}",
            f"--node-ip={POD_GATEWAY}", f"--root-dir={NODE / 'kubelet'}", "--v=1"]


def kubelet_healthy() -> bool:
    return http_ok("http://127.0.0.1:10248/healthz") == "ok"


def scheduler_cmd() -> list[str]:
    kc = DEV / "scheduler.kubeconfig"
    return [str(tool_paths()["KUBE_SCHEDULER"]), f"--kubeconfig={kc}",
            f"--authentication-kubeconfig={kc}", f"--authorization-kubeconfig={kc}",
            "--bind-address=127.0.0.1", "--leader-elect=false", "--v=1"]


def scheduler_healthy() -> bool:
    return http_ok("https://127.0.0.1:10259/healthz", unverified_tls()) == "ok"


def kube_proxy_prepare() -> None:
    (NODE / "kube-proxy.yaml").write_text(f"""apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: {{kubeconfig: {DEV / 'kube-proxy.kubeconfig'}}}
hostnameOverride: {NODE_NAME}
clusterCIDR: {POD_SUBNET}
bindAddress: 127.0.0.1
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
# Leave the host's conntrack sysctls alone (read-only in this VM).
conntrack: {{maxPerCore: 0, min: 0}}
""")


def kube_proxy_cmd() -> list[str]:
    return [str(tool_paths()["KUBE_PROXY"]), f"--config={NODE / 'kube-proxy.yaml'}", "--v=1"]


def kube_proxy_healthy() -> bool:
    return http_ok("http://127.0.0.1:10256/livez") is not None



COREDNS_RBAC = """apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "dashstream:coredns"}
rules:
- apiGroups: [""]
  resources: [services, endpoints, namespaces]
  verbs: [list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "dashstream:coredns"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "dashstream:coredns"}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: "dashstream:coredns"}
"""


# Beside the other node components' ports (10248-10259); 18181 (CoreDNS's usual ready
# port) is the benchmark operator's, and a clash left the benchmark without /healthz.
COREDNS_HEALTH_PORT, COREDNS_READY_PORT = 10290, 10291


def coredns_prepare() -> None:
    """Cluster DNS for the pods: only the cluster domain (every other name is refused,
    so no pod query ever leaves this host)."""
    subprocess.run([str(tool_paths()["KUBECTL"]), f"--kubeconfig={DEV / 'kubeconfig'}",
                    "apply", "--server-side", "-f", "-"], input=COREDNS_RBAC, text=True,
                   check=True, capture_output=True)
    NODE.mkdir(parents=True, exist_ok=True)
    (NODE / "Corefile").write_text(f"""{CLUSTER_DOMAIN}:53 {{
    bind {POD_GATEWAY}
    errors
    kubernetes {CLUSTER_DOMAIN} {{
        kubeconfig {DEV / 'coredns.kubeconfig'} dashstream-dev
    }}
    health 127.0.0.1:{COREDNS_HEALTH_PORT}
    ready 127.0.0.1:{COREDNS_READY_PORT}
}}
""")


def coredns_cmd() -> list[str]:
    return [str(tool_paths()["COREDNS"]), "-conf", str(NODE / "Corefile")]


def coredns_healthy() -> bool:
    return http_ok(f"http://127.0.0.1:{COREDNS_READY_PORT}/ready") == "OK"


def node_procs() -> list[Proc]:
    """Started after the control plane and Kafka, in this order; stopped in reverse."""
    return [
        Proc("containerd", "containerd --config", containerd_cmd, containerd_healthy,
             containerd_prepare, before_stop=containerd_before_stop,
             after_stop=containerd_after_stop),
        Proc("kube-scheduler", "kube-scheduler", scheduler_cmd, scheduler_healthy),
        Proc("coredns", "coredns -conf", coredns_cmd, coredns_healthy, coredns_prepare),
        Proc("kubelet", "kubelet", kubelet_cmd, kubelet_healthy, kubelet_prepare),
        Proc("kube-proxy", "kube-proxy", kube_proxy_cmd, kube_proxy_healthy,
             kube_proxy_prepare),
    ]
