"""A component's environment: what the operator derives from the CR, the user's
``settings``, Kafka credentials from Secrets, and the hash that rolls the pods.

Split of responsibilities:

- values derived from the CR (brokers, topics, group id, security protocol, bind
  address and port, TLS file paths) are explicit ``env`` entries, so the Deployment
  alone says how the process is configured;
- the user's ``spec.components.<c>.settings`` go into the component's ConfigMap,
  read with ``envFrom``; keys the operator sets are left out of it (an explicit
  ``env`` entry would override them anyway, and a ConfigMap showing a value that is
  not in effect misleads), and so are keys that look like secrets;
- SASL credentials are ``env.valueFrom.secretKeyRef``; TLS files are Secret volumes.
  Secret values are never known to the renderer, so they cannot leak from it.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any, Final

from dashstream_operator.models.common import SecretKeyRef
from dashstream_operator.models.components import ResolvedComponent
from dashstream_operator.models.pipeline import DashStreamPipelineSpec
from dashstream_workloads.settings import SETTINGS, settings_for

from .components import component_info

__all__ = [
    "BIND_ALL",
    "SECRET_SETTINGS",
    "TLS_MOUNT_ROOT",
    "ComponentEnv",
    "consumer_group",
    "render_component_env",
    "settings_hash",
    "settings_problems",
]

# In a pod the Service must reach the process; the binaries default to loopback.
BIND_ALL: Final = "0.0.0.0"
TLS_MOUNT_ROOT: Final = "/etc/dashstream/kafka"
# 0440 plus the pod's fsGroup: the non-root user reads the files through its group,
# nobody else can (a private key must not be world-readable).
TLS_FILE_MODE: Final = 0o440
SECRET_SETTINGS: Final = frozenset(s.name for s in SETTINGS if s.secret)
# Where each secret setting is set instead (named in the note that drops it).
SECRET_REF_FIELDS: Final = {
    "WEBSOCKET_AUTH_TOKEN": "spec.components.websocketServer.authTokenSecretRef",
    "KAFKA_SASL_USERNAME": "spec.kafka.sasl.usernameSecretRef",
    "KAFKA_SASL_PASSWORD": "spec.kafka.sasl.passwordSecretRef",
}
_SECRET_LOOKING = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|CREDENTIAL|PRIVATE_KEY", re.I)

# (CR field, volume name, file name, env var) of each TLS Secret reference.
_TLS_FILES: Final = (
    ("ca_secret_ref", "kafka-tls-ca", "ca.crt", "KAFKA_SSL_CA_LOCATION"),
    ("cert_secret_ref", "kafka-tls-cert", "tls.crt", "KAFKA_SSL_CERTIFICATE_LOCATION"),
    ("key_secret_ref", "kafka-tls-key", "tls.key", "KAFKA_SSL_KEY_LOCATION"),
)


@dataclass(frozen=True)
class ComponentEnv:
    """Everything a component's container gets from settings and Secrets."""

    env: list[dict[str, Any]]
    config_data: dict[str, str]
    volumes: list[dict[str, Any]] = field(default_factory=list)
    volume_mounts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def settings_hash(self) -> str:
        return settings_hash(self.env, self.config_data)


def settings_hash(env: list[dict[str, Any]], config_data: dict[str, str]) -> str:
    """sha256 of the explicit env entries and the ConfigMap data.

    A ConfigMap read through ``envFrom`` is only read at container start, so a change of
    its data must change the pod template to reach the pods; hashing only settings
    (never replicas, resources or the image) means nothing else rolls them. Secret
    references are hashed as references: their values are never known here.
    """
    canonical = json.dumps({"env": env, "data": config_data}, sort_keys=True,
                           separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def consumer_group(pipeline: str, namespace: str, component: str) -> str:
    """Kafka consumer group of a consuming component: unique per pipeline, because two
    pipelines in different namespaces may well share a broker and topic names."""
    return f"dashstream.{namespace}.{pipeline}.{component}"


def _secret_env(name: str, ref: SecretKeyRef) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}}}


def _operator_values(pipeline: str, namespace: str, spec: DashStreamPipelineSpec,
                     comp: ResolvedComponent) -> dict[str, str]:
    """Plain values the operator derives from the CR, by variable name."""
    info = component_info(comp.name)
    kafka = spec.kafka
    values = {
        "KAFKA_BROKERS": kafka.bootstrap_servers,
        "KAFKA_TOPIC": spec.events_topic(),
        "KAFKA_SECURITY_PROTOCOL": kafka.resolved_security_protocol(),
        info.host_var: BIND_ALL,
        info.port_var: str(info.port),
    }
    if kafka.sasl is not None:
        values["KAFKA_SASL_MECHANISM"] = kafka.sasl.mechanism
    if kafka.tls is not None:
        for attr, volume, filename, var in _TLS_FILES:
            if getattr(kafka.tls, attr) is not None:
                values[var] = f"{TLS_MOUNT_ROOT}/{volume.removeprefix('kafka-tls-')}/{filename}"
    if info.consumer:
        values["KAFKA_GROUP_ID"] = consumer_group(pipeline, namespace, comp.name)
    if comp.name == "websocket-server":
        dlq = spec.dlq_topic()
        values["WEBSOCKET_DLQ_ENABLED"] = "true" if dlq else "false"
        if dlq:
            values["KAFKA_DLQ_TOPIC"] = dlq
    return values


def _tls_volumes(spec: DashStreamPipelineSpec) -> tuple[list[dict[str, Any]],
                                                         list[dict[str, Any]]]:
    tls = spec.kafka.tls
    volumes: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = []
    if tls is None:
        return volumes, mounts
    for attr, volume, filename, _ in _TLS_FILES:
        ref: SecretKeyRef | None = getattr(tls, attr)
        if ref is None:
            continue
        # One volume per reference: the CA, certificate and key may live in different
        # Secrets, and projecting only the named key keeps other keys out of the pod.
        volumes.append({"name": volume, "secret": {
            "secretName": ref.name,
            "items": [{"key": ref.key, "path": filename}],
            "defaultMode": TLS_FILE_MODE,
        }})
        mounts.append({"name": volume, "mountPath": f"{TLS_MOUNT_ROOT}/"
                       f"{volume.removeprefix('kafka-tls-')}", "readOnly": True})
    return volumes, mounts


def _user_settings(pipeline: str, namespace: str, spec: DashStreamPipelineSpec,
                   comp: ResolvedComponent) -> tuple[dict[str, str], list[str]]:
    """The ConfigMap data of ``comp`` and why any of its settings were left out."""
    owned = set(_operator_values(pipeline, namespace, spec, comp))
    data: dict[str, str] = {}
    problems: list[str] = []
    known = {s.name for s in settings_for(comp.name)}
    for key in sorted(comp.settings):
        where = f"spec.components.{comp.name}.settings.{key}"
        if key in SECRET_SETTINGS or _SECRET_LOOKING.search(key):
            ref = SECRET_REF_FIELDS.get(key)
            problems.append(f"{where}: ignored, secrets must come from a Secret reference"
                            + (f" ({ref})" if ref else "") + ", never from settings")
        elif key in owned:
            problems.append(f"{where}: ignored, the operator sets {key} from the pipeline spec")
        else:
            if key not in known:
                problems.append(f"{where}: {comp.name} does not read {key} (kept)")
            data[key] = comp.settings[key]
    return data, problems


def settings_problems(pipeline: str, namespace: str, spec: DashStreamPipelineSpec) -> list[str]:
    """Human-readable notes on settings the renderer left out or that no server reads,
    for a status condition or an Event (contains keys, never values)."""
    out: list[str] = []
    for comp in spec.resolved_components():
        if comp.enabled:
            out.extend(_user_settings(pipeline, namespace, spec, comp)[1])
    return out


def render_component_env(pipeline: str, namespace: str, spec: DashStreamPipelineSpec,
                         comp: ResolvedComponent) -> ComponentEnv:
    """The env entries, ConfigMap data and Secret volumes of ``comp``'s container."""
    values = _operator_values(pipeline, namespace, spec, comp)
    sasl = spec.kafka.sasl
    secret_refs = dict(comp.secret_refs)
    if sasl is not None:
        secret_refs |= {"KAFKA_SASL_USERNAME": sasl.username_secret_ref,
                        "KAFKA_SASL_PASSWORD": sasl.password_secret_ref}
    env: list[dict[str, Any]] = []
    # Settings-table order, so the rendered list is stable and reads like the docs.
    for s in settings_for(comp.name):
        if s.name in values:
            env.append({"name": s.name, "value": values[s.name]})
        elif s.name in secret_refs:
            env.append(_secret_env(s.name, secret_refs[s.name]))
    missing = set(values) - {e["name"] for e in env}
    assert not missing, f"{comp.name} does not read {sorted(missing)}"  # settings table drift
    data, _ = _user_settings(pipeline, namespace, spec, comp)
    volumes, mounts = _tls_volumes(spec)
    return ComponentEnv(env=env, config_data=data, volumes=volumes, volume_mounts=mounts)
