"""Every environment variable the three DashStream servers read, defined once.

The servers read their configuration only through :func:`load`; the operator's
renderer (``dashstream_operator.render``) sets these same names on the
Deployments; ``docs/configuration.md`` is :func:`render_settings_markdown`.
One table, three consumers, so the names cannot drift apart again (in the old
stack they did: its Helm chart never wired the Kafka TLS/SASL variables, and its
docs named ``DASHSTREAM_*`` variables that no code read).

Names follow ``../shared/seeds/observability-infrastructure.md`` and
``prometheus-metrics.md``. A variable set to the empty string counts as unset,
because Kubernetes cannot "unset" an inherited env entry, only blank it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from dashstream_workloads.contract.spec import (
    COMPONENTS,
    PROMETHEUS_EXPORTER,
    QUALITY_MONITOR,
    WEBSOCKET_SERVER,
)

__all__ = [
    "SETTINGS",
    "Setting",
    "SettingKind",
    "load",
    "render_settings_markdown",
    "setting",
    "settings_for",
]

SettingKind = Literal["str", "int", "float", "bool", "csv"]

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


@dataclass(frozen=True)
class Setting:
    """One environment variable: its name, default (as the string a user would set),
    the components that read it and how its value is parsed.

    ``secret`` settings are only ever set from a Secret (``env.valueFrom``): the
    renderer never writes them into a ConfigMap and the servers never log them.
    """

    name: str
    default: str | None
    components: frozenset[str]
    description: str
    secret: bool = False
    kind: SettingKind = "str"
    choices: tuple[str, ...] = ()
    minimum: float | None = None

    def parse(self, raw: str) -> Any:
        """Convert ``raw`` to the setting's type; raise ValueError naming the variable."""
        value: Any
        text = raw.strip()
        # Never echo a secret's value, even a malformed one (errors end up in logs).
        shown = "<redacted>" if self.secret else repr(raw)
        try:
            if self.kind == "int":
                value = int(text)
            elif self.kind == "float":
                value = float(text)
            elif self.kind == "bool":
                low = text.lower()
                if low not in _TRUE | _FALSE:
                    raise ValueError("expected one of true/false/1/0/yes/no/on/off")
                value = low in _TRUE
            elif self.kind == "csv":
                value = tuple(part.strip() for part in text.split(",") if part.strip())
            else:
                value = raw
        except ValueError as exc:
            detail = "" if self.secret else f" ({exc})"
            raise ValueError(f"{self.name}={shown}: not a valid {self.kind}{detail}") from None
        if self.choices and value not in self.choices:
            raise ValueError(f"{self.name}={shown}: must be one of {', '.join(self.choices)}")
        if self.minimum is not None and value < self.minimum:
            raise ValueError(f"{self.name}={shown}: must be >= {self.minimum:g}")
        return value


WS = frozenset({WEBSOCKET_SERVER})
EX = frozenset({PROMETHEUS_EXPORTER})
QM = frozenset({QUALITY_MONITOR})
CONSUMERS = WS | EX
ALL = frozenset(COMPONENTS)


def _s(
    name: str,
    default: str | None,
    components: frozenset[str],
    description: str,
    kind: SettingKind = "str",
    **extra: Any,
) -> Setting:
    return Setting(name, default, components, description, kind=kind, **extra)


SETTINGS: tuple[Setting, ...] = (
    # --- Kafka connection (all components) -------------------------------------------
    _s("KAFKA_BROKERS", "localhost:9092", ALL,
       "Bootstrap servers, comma-separated host:port (the CR's spec.kafka.bootstrapServers)."),
    _s("KAFKA_TOPIC", "dashstream-quality", ALL,
       "Quality events topic (the CR's topic with role events)."),
    _s("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT", ALL, "Kafka security.protocol.",
       choices=("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")),
    _s("KAFKA_SASL_MECHANISM", None, ALL, "SASL mechanism, required with a SASL_* protocol.",
       choices=("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")),
    _s("KAFKA_SASL_USERNAME", None, ALL, "SASL username (from a Secret).", secret=True),
    _s("KAFKA_SASL_PASSWORD", None, ALL, "SASL password (from a Secret).", secret=True),
    _s("KAFKA_SSL_CA_LOCATION", None, ALL,
       "Path of the PEM CA bundle that signed the broker; unset uses the system trust store."),
    _s("KAFKA_SSL_CERTIFICATE_LOCATION", None, ALL,
       "Path of the PEM client certificate (mutual TLS)."),
    _s("KAFKA_SSL_KEY_LOCATION", None, ALL, "Path of the PEM client private key (mutual TLS)."),
    # --- Consumers (websocket-server, prometheus-exporter) ----------------------------
    # Two rows for KAFKA_GROUP_ID: each consumer has its own default group, so the two
    # never share offsets even when run side by side without the operator.
    _s("KAFKA_GROUP_ID", "dashstream-websocket-server", WS, "Kafka consumer group."),
    _s("KAFKA_GROUP_ID", "dashstream-prometheus-exporter", EX, "Kafka consumer group."),
    _s("KAFKA_AUTO_OFFSET_RESET", "earliest", CONSUMERS,
       "Where a new consumer group starts; earliest loses nothing after downtime.",
       choices=("earliest", "latest")),
    _s("KAFKA_SESSION_TIMEOUT_MS", "45000", CONSUMERS,
       "How long the group waits for a consumer that stopped answering (a crashed pod) "
       "before handing its partitions to another replica (librdkafka's "
       "session.timeout.ms; the broker bounds it, 6000-300000 by default).", "int",
       minimum=1000),
    _s("SCHEMA_COMPATIBILITY", "Exact", CONSUMERS,
       "Accepted header schema versions: Exact, ForwardCompatible (newer too) or "
       "BackwardCompatible (older too).",
       choices=("Exact", "ForwardCompatible", "BackwardCompatible")),
    _s("KAFKA_LAG_CHECK_INTERVAL_SECS", "10", CONSUMERS,
       "Seconds between consumer-lag polls of the assigned partitions.", "float", minimum=0.1),
    _s("KAFKA_LAG_STALE_PARTITION_SECS", "120", WS,
       "Seconds without an offset update after which a partition is logged as stale "
       "(alert thresholds are in the alert rules, not here).", "float", minimum=1),
    # --- websocket-server --------------------------------------------------------------
    _s("WEBSOCKET_HOST", "127.0.0.1", WS,
       "Bind address. Loopback by default (no auth by default); the operator sets 0.0.0.0."),
    _s("WEBSOCKET_PORT", "3002", WS,
       "Port of /ws, /, /health, /metrics and /version.", "int", minimum=1),
    _s("WEBSOCKET_AUTH_TOKEN", None, WS,
       "Bearer token required on /ws when set (in a pipeline: from the Secret key named "
       "by spec.components.websocketServer.authTokenSecretRef).", secret=True),
    _s("WEBSOCKET_BUFFER_SIZE", "1000", WS, "Broadcast buffer size (messages).", "int",
       minimum=1),
    _s("WEBSOCKET_CLIENT_QUEUE_SIZE", "1000", WS,
       "Per-client send queue (messages); a client that falls further behind loses messages "
       "(counted as lagged_receiver) and never slows the others.", "int", minimum=1),
    _s("WEBSOCKET_CLIENT_MAX_DELAY_MS", "1000", WS,
       "Longest an event waits in a client's send queue; older ones are dropped (counted as "
       "lagged_receiver, the client is told with a lagged frame), so an overloaded server "
       "sheds instead of queueing seconds. 0: no bound.", "int", minimum=0),
    _s("WEBSOCKET_MAX_PAYLOAD_BYTES", "10485760", WS,
       "Largest payload decoded or decompressed; larger ones are counted as payload_too_large "
       "and sent to the DLQ.", "int", minimum=1),
    _s("KAFKA_DLQ_TOPIC", "dashstream-quality-dlq", WS,
       "Dead-letter topic for undecodable messages (the CR's topic with role dlq)."),
    # A pipeline may declare no dlq topic; an empty KAFKA_DLQ_TOPIC means "default", so
    # turning the DLQ off needs its own switch.
    _s("WEBSOCKET_DLQ_ENABLED", "true", WS,
       "Send undecodable messages to KAFKA_DLQ_TOPIC; when false they are only counted and "
       "logged (the operator sets false for a pipeline without a dlq topic).", "bool"),
    _s("WEBSOCKET_SEQUENCE_MAX_THREADS", "10000", WS,
       "Threads whose last sequence number is remembered (bounds memory; least recently "
       "seen are forgotten first).", "int", minimum=1),
    _s("WEBSOCKET_REPLAY_BUFFER_SIZE", "1000", WS,
       "Messages kept in memory for reconnecting clients.", "int", minimum=0),
    _s("WEBSOCKET_REPLAY_MAX_AGE_SECS", "300", WS,
       "Age after which a message leaves the in-memory replay buffer.", "float", minimum=0),
    _s("REDIS_URL", None, WS, "Redis for the persistent replay tier, e.g. redis://host:6379/0; "
       "unset keeps replay in memory only."),
    _s("WEBSOCKET_REPLAY_REDIS_MAX_MESSAGES", "10000", WS,
       "Messages kept in Redis for replay.", "int", minimum=0),
    _s("WEBSOCKET_REPLAY_REDIS_TTL_SECS", "3600", WS,
       "Time-to-live of the replay entries in Redis.", "int", minimum=1),
    # --- prometheus-exporter / quality-monitor HTTP -------------------------------------
    # One name, two rows: each process serves /metrics on its own default port, so the
    # two can run on one host (the e2e suite does) without configuration.
    _s("METRICS_HOST", "0.0.0.0", EX | QM, "Bind address of /metrics, /health and /version."),
    _s("METRICS_PORT", "9190", EX, "Port of /metrics, /health and /version.", "int", minimum=1),
    _s("METRICS_PORT", "9191", QM, "Port of /metrics, /health and /version.", "int", minimum=1),
    # --- prometheus-exporter ------------------------------------------------------------
    # No bucket overrides (the seeds' PROMETHEUS_QUALITY_SCORE_BUCKETS): buckets are fixed
    # by the metrics contract so every target of a metric uses the same layout.
    _s("PROMETHEUS_SESSION_TIMEOUT_SECS", "300", EX,
       "Idle seconds after which a session's turn count is observed in "
       "dashstream_turns_by_session.", "float", minimum=0.1),
    # --- quality-monitor ----------------------------------------------------------------
    _s("QUALITY_MONITOR_RATE", "1", QM, "Events published per second.", "float", minimum=0.001),
    _s("QUALITY_MONITOR_MODELS", "gpt-4o,claude-3-5-sonnet,llama-3-70b", QM,
       "Model names to spread events over.", "csv"),
    _s("QUALITY_MONITOR_SESSIONS", "20", QM, "Concurrent synthetic sessions (threads).", "int",
       minimum=1),
    _s("QUALITY_MONITOR_TENANT_ID", "default", QM, "Tenant id written into every header."),
    _s("QUALITY_MONITOR_SEED", None, QM,
       "Random seed for reproducible event streams; unset draws one.", "int"),
    _s("QUALITY_MONITOR_MAX_EVENTS", "0", QM, "Stop after this many events (0: never).", "int",
       minimum=0),
    _s("QUALITY_MONITOR_COMPRESSION_THRESHOLD_BYTES", "512", QM,
       "Payloads larger than this are zstd-compressed (0 disables compression).", "int",
       minimum=0),
    _s("QUALITY_MONITOR_FAULT_INJECTION", "false", QM,
       "Serve POST /admin/inject?kind=gap|duplicate|reorder (tests only: it makes the "
       "stream deliberately wrong). Same as --fault-injection, settable from a "
       "pipeline's settings when the server runs in a pod.", "bool"),
    # --- logging (all) ------------------------------------------------------------------
    _s("LOG_LEVEL", "INFO", ALL, "Log level.",
       choices=("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")),
    _s("LOG_FORMAT", "json", ALL, "json (structured, one object per line) or text.",
       choices=("json", "text")),
)


def settings_for(component: str) -> tuple[Setting, ...]:
    """The settings ``component`` reads, in table order (one row per name)."""
    if component not in ALL:
        raise ValueError(f"unknown component {component!r}; expected one of {sorted(ALL)}")
    return tuple(s for s in SETTINGS if component in s.components)


def setting(component: str, name: str) -> Setting:
    """The row of variable ``name`` for ``component`` (KeyError when it does not read it)."""
    for s in settings_for(component):
        if s.name == name:
            return s
    raise KeyError(f"{component} does not read {name}")


def load(component: str, environ: Mapping[str, str]) -> dict[str, Any]:
    """Typed values of every setting of ``component``, keyed by variable name.

    Unset or empty variables take the default (``None`` when there is none).
    Raises ValueError naming the variable on a bad value.
    """
    out: dict[str, Any] = {}
    for s in settings_for(component):
        raw = environ.get(s.name)
        if raw is None or raw.strip() == "":
            raw = s.default
        out[s.name] = None if raw is None else s.parse(raw)
    return out


_DOC_HEADER = """\
# Configuration of the DashStream servers

<!-- Generated from workloads/dashstream_workloads/settings.py; do not edit by hand.
     Regenerate: make generate (scripts/gen_docs.py). -->

Every environment variable the three servers read, with its default and the
components that read it. The servers parse them with
`dashstream_workloads.settings.load()`; the operator sets the same names on
the Deployments it renders (see [pipeline-children.md](pipeline-children.md)).
An empty value counts as unset. Variables marked *secret* are only ever set
from a Secret (`env.valueFrom.secretKeyRef`), never from a ConfigMap.

Extra variables can be passed per component with the pipeline's
`spec.components.<component>.settings`; they are stored in the component's
settings ConfigMap. Values the operator derives from the CR (Kafka connection,
topics, group id, bind address) take precedence over them.

"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_settings_markdown() -> str:
    """``docs/configuration.md``: one table of every variable."""
    lines = [
        _DOC_HEADER.rstrip("\n") + "\n",
        "| variable | default | components | type | description |",
        "|---|---|---|---|---|",
    ]
    for s in SETTINGS:
        default = "*(unset)*" if s.default is None else f"`{s.default}`"
        comps = ", ".join(c for c in COMPONENTS if c in s.components)
        kind = s.kind + (", secret" if s.secret else "")
        desc = s.description + (f" One of: {', '.join(s.choices)}." if s.choices else "")
        lines.append(f"| `{s.name}` | {default} | {comps} | {kind} | {_cell(desc)} |")
    return "\n".join(lines) + "\n"
