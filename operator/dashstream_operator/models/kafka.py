"""``DashStreamPipeline.spec.kafka``: how the operator and the workloads reach the broker.

Credentials stay in Secrets (DESIGN §3.4): the spec only names Secret keys, and
the workloads receive them as env ``valueFrom``.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import ConfigDict, Field, model_validator

from .common import ApiModel, SecretKeyRef, cel

__all__ = ["KafkaSpec", "SaslMechanism", "SaslSpec", "SecurityProtocol", "TlsSpec"]

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]

# host:port[,host:port...]; hosts may be names, IPv4 or [IPv6].
BOOTSTRAP = r"^[^,\s]+:[0-9]{1,5}(,[^,\s]+:[0-9]{1,5})*$"


class SaslSpec(ApiModel):
    """SASL authentication; the username and password are read from Secrets."""

    mechanism: SaslMechanism = Field(description="SASL mechanism the broker expects.")
    username_secret_ref: SecretKeyRef = Field(description="Secret key holding the SASL username.")
    password_secret_ref: SecretKeyRef = Field(description="Secret key holding the SASL password.")


class TlsSpec(ApiModel):
    """TLS towards the broker. Without caSecretRef the system trust store is used; a client
    certificate (mutual TLS) needs both certSecretRef and keySecretRef."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "has(self.certSecretRef) == has(self.keySecretRef)",
                    "certSecretRef and keySecretRef must be set together (mutual TLS)",
                )
            ]
        }
    )

    ca_secret_ref: SecretKeyRef | None = Field(
        default=None, description="Secret key holding the PEM CA bundle that signed the broker."
    )
    cert_secret_ref: SecretKeyRef | None = Field(
        default=None, description="Secret key holding the PEM client certificate (mutual TLS)."
    )
    key_secret_ref: SecretKeyRef | None = Field(
        default=None, description="Secret key holding the PEM client private key (mutual TLS)."
    )

    @model_validator(mode="after")
    def _cert_and_key_together(self) -> Self:
        if (self.cert_secret_ref is None) != (self.key_secret_ref is None):
            raise ValueError("certSecretRef and keySecretRef must be set together (mutual TLS)")
        return self


_SASL_PROTOCOLS = ("SASL_PLAINTEXT", "SASL_SSL")
_TLS_PROTOCOLS = ("SSL", "SASL_SSL")


class KafkaSpec(ApiModel):
    """Connection to the Kafka cluster that holds the pipeline's topics."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "!has(self.securityProtocol) || !self.securityProtocol.startsWith('SASL_')"
                    " || has(self.sasl)",
                    "securityProtocol SASL_PLAINTEXT or SASL_SSL needs kafka.sasl",
                    ".sasl",
                ),
                cel(
                    "!has(self.sasl) || !has(self.securityProtocol)"
                    " || self.securityProtocol.startsWith('SASL_')",
                    "kafka.sasl is set but securityProtocol is not SASL_PLAINTEXT or SASL_SSL",
                    ".securityProtocol",
                ),
                cel(
                    "!has(self.tls) || !has(self.securityProtocol)"
                    " || self.securityProtocol.endsWith('SSL')",
                    "kafka.tls is set but securityProtocol is not SSL or SASL_SSL",
                    ".securityProtocol",
                ),
            ]
        }
    )

    bootstrap_servers: str = Field(
        min_length=1,
        max_length=4096,
        pattern=BOOTSTRAP,
        description="Comma-separated host:port list of brokers to bootstrap from, "
        "e.g. kafka-0.kafka:9092,kafka-1.kafka:9092.",
    )
    security_protocol: SecurityProtocol | None = Field(
        default=None,
        description="Kafka security.protocol. When omitted it follows from the other fields: "
        "SASL_SSL with sasl and tls, SASL_PLAINTEXT with sasl only, SSL with tls only, "
        "else PLAINTEXT.",
    )
    sasl: SaslSpec | None = Field(
        default=None, description="SASL authentication (needs a SASL_* securityProtocol)."
    )
    tls: TlsSpec | None = Field(
        default=None, description="TLS settings (needs securityProtocol SSL or SASL_SSL)."
    )

    @model_validator(mode="after")
    def _protocol_consistent(self) -> Self:
        proto = self.security_protocol
        if proto is None:
            return self
        if proto in _SASL_PROTOCOLS and self.sasl is None:
            raise ValueError(f"securityProtocol {proto} needs kafka.sasl")
        if self.sasl is not None and proto not in _SASL_PROTOCOLS:
            raise ValueError(
                "kafka.sasl is set but securityProtocol is not SASL_PLAINTEXT or SASL_SSL"
            )
        if self.tls is not None and proto not in _TLS_PROTOCOLS:
            raise ValueError("kafka.tls is set but securityProtocol is not SSL or SASL_SSL")
        return self

    def resolved_security_protocol(self) -> SecurityProtocol:
        """The effective security.protocol (explicit, or inferred from sasl/tls)."""
        if self.security_protocol is not None:
            return self.security_protocol
        if self.sasl is not None:
            return "SASL_SSL" if self.tls is not None else "SASL_PLAINTEXT"
        return "SSL" if self.tls is not None else "PLAINTEXT"
