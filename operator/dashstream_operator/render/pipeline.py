"""``render_pipeline_children``: every child object of a DashStreamPipeline."""

from __future__ import annotations

import copy
from typing import Any

from dashstream_operator.models.pipeline import DashStreamPipelineSpec

from .components import component_info
from .env import render_component_env
from .workload import (
    render_configmap,
    render_deployment,
    render_service,
    render_service_monitor,
)

__all__ = ["render_pipeline_children"]


def render_pipeline_children(
    name: str,
    namespace: str,
    uid: str,
    spec: DashStreamPipelineSpec,
    *,
    default_image: str,
    servicemonitor_crd: bool,
) -> list[dict[str, Any]]:
    """The children of pipeline ``name``: per enabled component, in the fixed component
    order, its ConfigMap, Deployment, Service and (when the ServiceMonitor CRD exists
    and monitoring is enabled) ServiceMonitor.

    Pure: the same arguments always give equal lists. A disabled component renders
    nothing, so the reconciler prunes its children (those it owns and no longer
    renders).
    """
    sm = spec.resolved_service_monitor()
    with_sm = servicemonitor_crd and sm.enabled
    out: list[dict[str, Any]] = []
    for comp in spec.resolved_components():
        if not comp.enabled:
            continue
        info = component_info(comp.name)
        cenv = render_component_env(name, namespace, spec, comp)
        image = comp.image or default_image
        out.append(render_configmap(name, namespace, uid, comp, cenv))
        out.append(render_deployment(name, namespace, uid, comp, info, image, cenv))
        # Without a ServiceMonitor, the Service says how to scrape it instead (an
        # annotation-based Prometheus config picks that up; otherwise it is inert).
        out.append(render_service(name, namespace, uid, comp, info,
                                  scrape_annotations=not with_sm))
        if with_sm:
            out.append(render_service_monitor(name, namespace, uid, comp, info, sm))
    # No object shared between children (or within one): callers mutate what they get,
    # and YAML output must not turn shared objects into anchors.
    return copy.deepcopy(out)
