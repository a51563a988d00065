"""librdkafka client configuration of the operator's own admin client, from the spec.

Secret values are read through a callable (the k8s layer reads Secrets; tests pass a
dict), used only in this configuration, and never logged or written to status.
"""

from __future__ import annotations

from collections.abc import Callable

from dashstream_operator.models import KafkaSpec, SecretKeyRef

__all__ = ["SecretReader", "admin_config"]

SecretReader = Callable[[SecretKeyRef], str]


def admin_config(kafka: KafkaSpec, read_secret: SecretReader) -> dict[str, str]:
    conf = {
        "bootstrap.servers": kafka.bootstrap_servers,
        "security.protocol": kafka.resolved_security_protocol(),
    }
    if kafka.sasl is not None:
        conf["sasl.mechanism"] = kafka.sasl.mechanism
        conf["sasl.username"] = read_secret(kafka.sasl.username_secret_ref)
        conf["sasl.password"] = read_secret(kafka.sasl.password_secret_ref)
    if kafka.tls is not None:
        if kafka.tls.ca_secret_ref is not None:
            conf["ssl.ca.pem"] = read_secret(kafka.tls.ca_secret_ref)
        if kafka.tls.cert_secret_ref is not None and kafka.tls.key_secret_ref is not None:
            conf["ssl.certificate.pem"] = read_secret(kafka.tls.cert_secret_ref)
            conf["ssl.key.pem"] = read_secret(kafka.tls.key_secret_ref)
    return conf
