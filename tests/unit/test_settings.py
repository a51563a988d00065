"""The settings table: one definition of every server environment variable."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dashstream_workloads.contract import COMPONENTS
from dashstream_workloads.settings import (
    SETTINGS,
    Setting,
    load,
    render_settings_markdown,
    setting,
    settings_for,
)

REPO = Path(__file__).resolve().parents[2]


def test_each_name_appears_once_per_component() -> None:
    for comp in COMPONENTS:
        names = [s.name for s in settings_for(comp)]
        assert len(names) == len(set(names)), comp


def test_names_are_env_style_and_components_known() -> None:
    for s in SETTINGS:
        assert re.fullmatch(r"[A-Z][A-Z0-9_]*", s.name), s.name
        assert s.components and s.components <= set(COMPONENTS), s.name
        assert s.description.endswith("."), s.name


def test_defaults_parse_and_respect_their_own_rules() -> None:
    for comp in COMPONENTS:
        load(comp, {})  # raises if any default is invalid


def test_secrets_have_no_default() -> None:
    secrets = {s.name for s in SETTINGS if s.secret}
    assert secrets == {"KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD", "WEBSOCKET_AUTH_TOKEN"}
    assert all(s.default is None for s in SETTINGS if s.secret)


def test_seed_names_and_defaults() -> None:
    ws = load("websocket-server", {})
    assert ws["WEBSOCKET_HOST"] == "127.0.0.1"
    assert ws["WEBSOCKET_PORT"] == 3002
    assert ws["WEBSOCKET_BUFFER_SIZE"] == 1000
    assert ws["WEBSOCKET_MAX_PAYLOAD_BYTES"] == 10 * 1024 * 1024
    assert ws["KAFKA_DLQ_TOPIC"] == "dashstream-quality-dlq"
    assert ws["KAFKA_LAG_CHECK_INTERVAL_SECS"] == 10.0
    assert ws["REDIS_URL"] is None
    ex = load("prometheus-exporter", {})
    assert ex["METRICS_PORT"] == 9190
    assert ex["PROMETHEUS_SESSION_TIMEOUT_SECS"] == 300.0
    assert "WEBSOCKET_PORT" not in ex
    qm = load("quality-monitor", {})
    assert qm["METRICS_PORT"] == 9191
    assert "KAFKA_GROUP_ID" not in qm
    assert ws["KAFKA_GROUP_ID"] != ex["KAFKA_GROUP_ID"]


def test_typed_values() -> None:
    env = {
        "WEBSOCKET_PORT": "4000",
        "KAFKA_LAG_CHECK_INTERVAL_SECS": "0.5",
        "SCHEMA_COMPATIBILITY": "ForwardCompatible",
        "KAFKA_SASL_PASSWORD": "s3cret",
    }
    ws = load("websocket-server", env)
    assert ws["WEBSOCKET_PORT"] == 4000
    assert ws["KAFKA_LAG_CHECK_INTERVAL_SECS"] == 0.5
    assert ws["SCHEMA_COMPATIBILITY"] == "ForwardCompatible"
    assert ws["KAFKA_SASL_PASSWORD"] == "s3cret"
    qm = load(
        "quality-monitor", {"QUALITY_MONITOR_MODELS": " a, b ,,c ", "QUALITY_MONITOR_SEED": "7"}
    )
    assert qm["QUALITY_MONITOR_MODELS"] == ("a", "b", "c")
    assert qm["QUALITY_MONITOR_SEED"] == 7


def test_empty_value_means_default() -> None:
    assert load("websocket-server", {"WEBSOCKET_PORT": ""})["WEBSOCKET_PORT"] == 3002
    assert load("websocket-server", {"REDIS_URL": "  "})["REDIS_URL"] is None


@pytest.mark.parametrize(
    ("env", "match"),
    [
        ({"WEBSOCKET_PORT": "http"}, "WEBSOCKET_PORT='http': not a valid int"),
        ({"WEBSOCKET_PORT": "0"}, "WEBSOCKET_PORT='0': must be >= 1"),
        ({"SCHEMA_COMPATIBILITY": "exact"}, "SCHEMA_COMPATIBILITY='exact': must be one of"),
        ({"KAFKA_LAG_CHECK_INTERVAL_SECS": "soon"}, "KAFKA_LAG_CHECK_INTERVAL_SECS"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], match: str) -> None:
    with pytest.raises(ValueError, match=re.escape(match)):
        load("websocket-server", env)


def test_bool_kind() -> None:
    s = Setting("X_FLAG", "false", frozenset({"quality-monitor"}), "A flag.", kind="bool")
    assert s.parse("Yes") is True
    assert s.parse("0") is False
    with pytest.raises(ValueError, match="X_FLAG='maybe'"):
        s.parse("maybe")


def test_secret_value_never_in_error() -> None:
    s = Setting("X_TOKEN", None, frozenset({"quality-monitor"}), "T.", secret=True, kind="int")
    with pytest.raises(ValueError) as info:
        s.parse("hunter2")
    assert "hunter2" not in str(info.value)
    assert "<redacted>" in str(info.value)


def test_setting_lookup_and_unknown_component() -> None:
    assert setting("quality-monitor", "METRICS_PORT").default == "9191"
    with pytest.raises(KeyError):
        setting("quality-monitor", "WEBSOCKET_PORT")
    with pytest.raises(ValueError, match="unknown component"):
        settings_for("grafana")


def test_configuration_doc_is_generated() -> None:
    doc = (REPO / "docs/configuration.md").read_text()
    assert doc == render_settings_markdown(), "run make generate"
    for s in SETTINGS:
        assert f"| `{s.name}` |" in doc
