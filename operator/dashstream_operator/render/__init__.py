"""Pure renderers of a DashStreamPipeline's children.

CR model in, manifest dicts out: no I/O, no clock, no randomness. The reconciler
applies what :func:`render_pipeline_children` returns with server-side apply and
prunes the children it owns (controller ownerReference) that are no longer rendered;
``dashstream render`` prints the same list for GitOps review.
"""

from __future__ import annotations

from .components import COMPONENTS, ComponentInfo, component_info
from .env import (
    BIND_ALL,
    SECRET_SETTINGS,
    TLS_MOUNT_ROOT,
    ComponentEnv,
    consumer_group,
    render_component_env,
    settings_hash,
    settings_problems,
)
from .names import (
    MANAGED_BY,
    PART_OF,
    PIPELINE_LABEL,
    SETTINGS_HASH_ANNOTATION,
    child_labels,
    child_name,
    dns_label,
    owner_reference,
    pipeline_label_value,
    selector_labels,
)
from .pipeline import render_pipeline_children
from .resolve import resolve_container_env
from .security import (
    RUN_AS_ID,
    container_security_context,
    pod_security_context,
    pod_spec_of,
    restricted_violations,
)
from .workload import (
    HEALTH_PATH,
    METRICS_PATH,
    render_configmap,
    render_deployment,
    render_service,
    render_service_monitor,
)

__all__ = [
    "BIND_ALL",
    "COMPONENTS",
    "HEALTH_PATH",
    "MANAGED_BY",
    "METRICS_PATH",
    "PART_OF",
    "PIPELINE_LABEL",
    "RUN_AS_ID",
    "SECRET_SETTINGS",
    "SETTINGS_HASH_ANNOTATION",
    "TLS_MOUNT_ROOT",
    "ComponentEnv",
    "ComponentInfo",
    "child_labels",
    "child_name",
    "component_info",
    "consumer_group",
    "container_security_context",
    "dns_label",
    "owner_reference",
    "pipeline_label_value",
    "pod_security_context",
    "pod_spec_of",
    "render_component_env",
    "render_configmap",
    "render_deployment",
    "render_pipeline_children",
    "render_service",
    "render_service_monitor",
    "resolve_container_env",
    "restricted_violations",
    "selector_labels",
    "settings_hash",
    "settings_problems",
]
