"""The Pod Security "restricted" checker, on hand-made good and bad pods."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from dashstream_operator.render import (
    container_security_context,
    pod_security_context,
    pod_spec_of,
    restricted_violations,
)


def _pod() -> dict[str, Any]:
    return {
        "securityContext": pod_security_context(),
        "containers": [{"name": "c", "image": "i",
                        "securityContext": container_security_context()}],
        "volumes": [{"name": "tmp", "emptyDir": {}}, {"name": "s", "secret": {"secretName": "x"}}],
    }


def test_our_contexts_pass_in_every_wrapper() -> None:
    pod = _pod()
    assert restricted_violations(pod) == []
    assert restricted_violations({"kind": "Pod", "spec": pod}) == []
    deployment = {"kind": "Deployment", "spec": {"template": {"spec": pod}}}
    assert restricted_violations(deployment) == []
    cron = {"kind": "CronJob", "spec": {"jobTemplate": {"spec": {"template": {"spec": pod}}}}}
    assert pod_spec_of(cron) is pod
    assert restricted_violations(cron) == []


def _set(obj: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for key in parents:
        obj = obj[int(key)] if key.isdigit() else obj.setdefault(key, {})  # type: ignore[index]
    if value is None:
        obj.pop(last, None)
    else:
        obj[last] = value


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("containers.0.securityContext.allowPrivilegeEscalation", None,
         "allowPrivilegeEscalation must be false"),
        ("containers.0.securityContext.allowPrivilegeEscalation", True,
         "allowPrivilegeEscalation must be false"),
        ("containers.0.securityContext.privileged", True, "privileged"),
        ("containers.0.securityContext.capabilities", {"drop": ["NET_RAW"]}, "drop ALL"),
        ("containers.0.securityContext.capabilities", {"drop": ["ALL"], "add": ["SYS_ADMIN"]},
         "capabilities add"),
        ("containers.0.securityContext.runAsNonRoot", False, "runAsNonRoot must be true"),
        ("containers.0.securityContext.runAsUser", 0, "runAsUser 0"),
        ("containers.0.securityContext.seccompProfile", {"type": "Unconfined"}, "seccompProfile"),
        ("containers.0.securityContext.readOnlyRootFilesystem", None, "readOnlyRootFilesystem"),
        ("containers.0.securityContext.procMount", "Unmasked", "procMount"),
        ("containers.0.ports", [{"containerPort": 80, "hostPort": 80}], "hostPort"),
        ("securityContext.runAsUser", 0, "pod: runAsUser 0"),
        ("securityContext.sysctls", [{"name": "kernel.msgmax", "value": "1"}], "sysctl"),
        ("hostNetwork", True, "hostNetwork"),
        ("hostPID", True, "hostPID"),
        ("volumes", [{"name": "h", "hostPath": {"path": "/"}}], "hostPath"),
        ("containers", [], "no containers"),
    ],
)
def test_each_violation_is_reported(path: str, value: Any, message: str) -> None:
    pod = copy.deepcopy(_pod())
    _set(pod, path, value)
    violations = restricted_violations(pod)
    assert any(message in v for v in violations), violations


def test_pod_level_settings_are_inherited() -> None:
    pod = _pod()
    ctx = pod["containers"][0]["securityContext"]
    del ctx["runAsNonRoot"], ctx["seccompProfile"]
    assert restricted_violations(pod) == []
    del pod["securityContext"]["runAsNonRoot"]
    assert restricted_violations(pod) == ["container c: runAsNonRoot must be true"]


def test_init_containers_are_checked_and_read_only_root_is_optional() -> None:
    pod = _pod()
    pod["initContainers"] = [{"name": "init", "securityContext": {
        "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}]
    assert restricted_violations(pod) == ["initContainer init: readOnlyRootFilesystem must be true"]
    assert restricted_violations(pod, read_only_root=False) == []
