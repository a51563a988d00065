"""The four children of one component: ConfigMap, Deployment, Service, ServiceMonitor.

Only fields we mean to own are rendered (server-side apply makes every field we send
ours, and the reconciler compares exactly these fields with the live object): no
status, no values equal to what the API server would default unless we rely on them.
"""

from __future__ import annotations

from typing import Any, Final

from dashstream_operator.models.components import ResolvedComponent, ResolvedServiceMonitor

from .components import ComponentInfo
from .env import ComponentEnv
from .names import SETTINGS_HASH_ANNOTATION, child_labels, child_metadata, selector_labels
from .quantity import canonical_quantity
from .security import container_security_context, pod_security_context

__all__ = [
    "HEALTH_PATH",
    "METRICS_PATH",
    "render_configmap",
    "render_deployment",
    "render_service",
    "render_service_monitor",
]

HEALTH_PATH: Final = "/health"
METRICS_PATH: Final = "/metrics"
TMP_VOLUME: Final = "tmp"


def render_configmap(pipeline: str, namespace: str, uid: str, comp: ResolvedComponent,
                     cenv: ComponentEnv) -> dict[str, Any]:
    """The component's settings ConfigMap (the user's non-secret settings)."""
    cm: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": child_metadata(pipeline, namespace, uid, comp.name),
    }
    # The API server drops an empty `data: {}`; rendering it would look like drift on
    # every resync. Leaving it out also releases every key we owned before.
    if cenv.config_data:
        cm["data"] = dict(cenv.config_data)
    return cm


def _quantities(values: dict[str, int | str]) -> dict[str, str]:
    # The API server returns quantities as canonical strings; rendering the same keeps
    # the "does the live object already hold it?" comparison exact.
    return {k: canonical_quantity(v) for k, v in sorted(values.items())}


def _container(comp: ResolvedComponent, info: ComponentInfo, image: str,
               cenv: ComponentEnv, configmap: str) -> dict[str, Any]:
    def probe() -> dict[str, Any]:
        return {"httpGet": {"path": HEALTH_PATH, "port": info.port_name}}

    container: dict[str, Any] = {
        "name": comp.name,
        "image": image,
        "args": [info.script],
        "ports": [{"name": info.port_name, "containerPort": info.port, "protocol": "TCP"}],
        "env": list(cenv.env),
        # After env in effect: an explicit env entry wins over the same key here.
        "envFrom": [{"configMapRef": {"name": configmap}}],
        # Readiness follows /health (it reflects the Kafka connection); liveness is far
        # more patient, so a broker outage takes pods out of the Service instead of
        # restarting them in a loop.
        "readinessProbe": {**probe(), "periodSeconds": 5, "failureThreshold": 3},
        "livenessProbe": {**probe(), "initialDelaySeconds": 10, "periodSeconds": 20,
                          "timeoutSeconds": 5, "failureThreshold": 6},
        "securityContext": container_security_context(),
        "volumeMounts": [{"name": TMP_VOLUME, "mountPath": "/tmp"}, *cenv.volume_mounts],
    }
    resources = {}
    if comp.requests:
        resources["requests"] = _quantities(comp.requests)
    if comp.limits:
        resources["limits"] = _quantities(comp.limits)
    if resources:
        container["resources"] = resources
    return container


def render_deployment(pipeline: str, namespace: str, uid: str, comp: ResolvedComponent,
                      info: ComponentInfo, image: str, cenv: ComponentEnv) -> dict[str, Any]:
    """The component's Deployment, restricted pod security, settings hash on the pods."""
    meta = child_metadata(pipeline, namespace, uid, comp.name)
    container = _container(comp, info, image, cenv, configmap=meta["name"])
    pod_spec: dict[str, Any] = {
        # The servers never call the Kubernetes API: no token in the pod.
        "automountServiceAccountToken": False,
        # Service links inject <SERVICE>_PORT=tcp://... variables; a Service
        # named "kafka" would shadow our KAFKA_* settings namespace.
        "enableServiceLinks": False,
        "securityContext": pod_security_context(),
        "containers": [container],
        # The root filesystem is read-only; /tmp is the one writable place.
        "volumes": [{"name": TMP_VOLUME, "emptyDir": {}}, *cenv.volumes],
    }
    # Only when set: an empty list or map would read back as absent and look like drift.
    if comp.node_selector:
        pod_spec["nodeSelector"] = dict(sorted(comp.node_selector.items()))
    if comp.tolerations:
        pod_spec["tolerations"] = [dict(t) for t in comp.tolerations]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {
            "replicas": comp.replicas,
            "selector": {"matchLabels": selector_labels(pipeline, comp.name)},
            "template": {
                "metadata": {
                    "labels": child_labels(pipeline, comp.name),
                    "annotations": {SETTINGS_HASH_ANNOTATION: cenv.settings_hash},
                },
                "spec": pod_spec,
            },
        },
    }


def render_service(pipeline: str, namespace: str, uid: str, comp: ResolvedComponent,
                   info: ComponentInfo, *, scrape_annotations: bool) -> dict[str, Any]:
    """ClusterIP Service of the component. ``scrape_annotations`` adds the
    ``prometheus.io/*`` annotations used when no ServiceMonitor is rendered."""
    annotations = None
    if scrape_annotations:
        annotations = {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": str(info.port),
            "prometheus.io/path": METRICS_PATH,
        }
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": child_metadata(pipeline, namespace, uid, comp.name, annotations=annotations),
        "spec": {
            "type": "ClusterIP",
            "selector": selector_labels(pipeline, comp.name),
            "ports": [{"name": info.port_name, "port": info.port,
                       "targetPort": info.port_name, "protocol": "TCP"}],
        },
    }


def render_service_monitor(pipeline: str, namespace: str, uid: str, comp: ResolvedComponent,
                           info: ComponentInfo, sm: ResolvedServiceMonitor) -> dict[str, Any]:
    """prometheus-operator ServiceMonitor: one endpoint per metrics port, the CR's extra
    labels (e.g. ``release``) so a Prometheus serviceMonitorSelector matches."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": child_metadata(pipeline, namespace, uid, comp.name,
                                   extra_labels=dict(sorted(sm.labels.items()))),
        "spec": {
            "selector": {"matchLabels": selector_labels(pipeline, comp.name)},
            "endpoints": [{"port": port, "path": METRICS_PATH, "interval": sm.interval}
                          for port in info.metrics_port_names],
        },
    }
