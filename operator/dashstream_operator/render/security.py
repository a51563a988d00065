"""Pod Security "restricted": the security context we render, and a checker for it.

:func:`restricted_violations` is pure and reusable (tests of the renderer, the
integration test reading live Deployments back). It follows the Pod Security
Standards' "restricted" profile as of Kubernetes 1.30 and adds the project's own rule:
a read-only root filesystem on every container.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

__all__ = [
    "RUN_AS_ID",
    "container_security_context",
    "pod_security_context",
    "pod_spec_of",
    "restricted_violations",
]

#: Non-root uid/gid the workloads image runs as (any non-zero id works; fixed so file
#: modes on mounted Secrets can rely on the fsGroup).
RUN_AS_ID: Final = 10001

# Volume types the restricted profile allows.
_ALLOWED_VOLUMES: Final = frozenset({
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
    "projected", "secret",
})
_SAFE_SYSCTLS: Final = frozenset({
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range", "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.ip_local_reserved_ports", "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes",
})
_SELINUX_TYPES: Final = frozenset({"", "container_t", "container_init_t", "container_kvm_t"})


def pod_security_context() -> dict[str, Any]:
    """The pod-level securityContext every DashStream pod gets."""
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS_ID,
        "runAsGroup": RUN_AS_ID,
        "fsGroup": RUN_AS_ID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security_context() -> dict[str, Any]:
    """The container-level securityContext; repeated on the container so it still holds
    if someone moves the container into a pod without our pod-level context."""
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def pod_spec_of(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    """The pod spec inside a Pod, a pod template or a workload (Deployment, Job, ...)."""
    spec = obj.get("spec", obj)
    if "template" in spec:
        spec = spec["template"].get("spec", {})
    if "jobTemplate" in spec:  # CronJob
        return pod_spec_of(spec["jobTemplate"])
    return spec


def _container_violations(where: str, ctr: Mapping[str, Any], pod: Mapping[str, Any],
                          read_only_root: bool) -> list[str]:
    sc = ctr.get("securityContext") or {}
    psc = pod.get("securityContext") or {}
    out: list[str] = []
    if sc.get("privileged"):
        out.append(f"{where}: privileged")
    if sc.get("allowPrivilegeEscalation") is not False:
        out.append(f"{where}: allowPrivilegeEscalation must be false")
    caps = sc.get("capabilities") or {}
    if "ALL" not in (caps.get("drop") or []):
        out.append(f"{where}: capabilities must drop ALL")
    added = set(caps.get("add") or []) - {"NET_BIND_SERVICE"}
    if added:
        out.append(f"{where}: capabilities add {sorted(added)}")
    non_root = sc.get("runAsNonRoot", psc.get("runAsNonRoot"))
    if non_root is not True:
        out.append(f"{where}: runAsNonRoot must be true")
    if sc.get("runAsUser", psc.get("runAsUser")) == 0:
        out.append(f"{where}: runAsUser 0")
    seccomp = (sc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
    if seccomp not in ("RuntimeDefault", "Localhost"):
        out.append(f"{where}: seccompProfile.type must be RuntimeDefault or Localhost")
    if sc.get("procMount", "Default") != "Default":
        out.append(f"{where}: procMount must be Default")
    if (sc.get("seLinuxOptions") or {}).get("type", "") not in _SELINUX_TYPES:
        out.append(f"{where}: seLinuxOptions.type not allowed")
    if (sc.get("appArmorProfile") or {}).get("type") == "Unconfined":
        out.append(f"{where}: appArmorProfile Unconfined")
    if (sc.get("windowsOptions") or {}).get("hostProcess"):
        out.append(f"{where}: windowsOptions.hostProcess")
    if any(p.get("hostPort") for p in ctr.get("ports") or []):
        out.append(f"{where}: hostPort")
    if read_only_root and sc.get("readOnlyRootFilesystem") is not True:
        out.append(f"{where}: readOnlyRootFilesystem must be true")
    return out


def restricted_violations(obj: Mapping[str, Any], *, read_only_root: bool = True) -> list[str]:
    """Every way ``obj`` (a Pod, pod template, pod spec or workload) breaks Pod Security
    "restricted" (plus a read-only root filesystem unless ``read_only_root=False``).
    An empty list means it passes."""
    pod = pod_spec_of(obj)
    out: list[str] = []
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(key):
            out.append(f"pod: {key}=true")
    psc = pod.get("securityContext") or {}
    if psc.get("runAsUser") == 0:
        out.append("pod: runAsUser 0")
    if (psc.get("seccompProfile") or {}).get("type") == "Unconfined":
        out.append("pod: seccompProfile Unconfined")
    if (psc.get("seLinuxOptions") or {}).get("type", "") not in _SELINUX_TYPES:
        out.append("pod: seLinuxOptions.type not allowed")
    if (psc.get("appArmorProfile") or {}).get("type") == "Unconfined":
        out.append("pod: appArmorProfile Unconfined")
    for sysctl in psc.get("sysctls") or []:
        if sysctl.get("name") not in _SAFE_SYSCTLS:
            out.append(f"pod: sysctl {sysctl.get('name')} not allowed")
    for vol in pod.get("volumes") or []:
        kinds = set(vol) - {"name"}
        if not kinds <= _ALLOWED_VOLUMES:
            out.append(f"pod: volume {vol.get('name')} of type {sorted(kinds - _ALLOWED_VOLUMES)}")
    containers = [("container", c) for c in pod.get("containers") or []]
    containers += [("initContainer", c) for c in pod.get("initContainers") or []]
    containers += [("ephemeralContainer", c) for c in pod.get("ephemeralContainers") or []]
    if not pod.get("containers"):
        out.append("pod: no containers")
    for kind, ctr in containers:
        out.extend(_container_violations(f"{kind} {ctr.get('name')}", ctr, pod, read_only_root))
    return out
