"""Smaller pieces: names, env resolution, settings notes and the CLI's edges."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from dashstream_operator.cli import main as cli_main
from dashstream_operator.models import DashStreamPipelineSpec
from dashstream_operator.render import (
    child_name,
    dns_label,
    pipeline_label_value,
    resolve_container_env,
    settings_problems,
)
from dashstream_operator.render.quantity import canonical_quantity


def test_names_fit_and_stay_distinct() -> None:
    assert child_name("demo", "quality-monitor") == "demo-quality-monitor"
    assert child_name("a.b", "websocket-server") == "a-b-websocket-server"
    long_a, long_b = "x" * 100 + "a", "x" * 100 + "b"
    for comp in ("websocket-server", "prometheus-exporter"):
        na, nb = child_name(long_a, comp), child_name(long_b, comp)
        assert len(na) <= 63 and na.endswith(f"-{comp}") and na != nb
    assert pipeline_label_value("demo") == "demo"
    assert len(dns_label("y" * 253)) == 63
    assert dns_label("y" * 253) == dns_label("y" * 253)


def test_resolve_env_precedence_and_refs() -> None:
    container = {
        "envFrom": [{"configMapRef": {"name": "cm"}},
                    {"configMapRef": {"name": "missing", "optional": True}}],
        "env": [{"name": "A", "value": "explicit"},
                {"name": "S", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "k"}}},
                {"name": "O", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "no",
                                                              "optional": True}}}],
    }
    env = resolve_container_env(container, {"cm": {"A": "from-cm", "B": "b"}},
                                {"sec": {"k": "v"}})
    assert env == {"A": "explicit", "B": "b", "S": "v"}
    with pytest.raises(KeyError, match="Secret sec key k"):
        resolve_container_env(container, {"cm": {}}, {})
    with pytest.raises(KeyError, match="ConfigMap cm not found"):
        resolve_container_env(container, {}, {"sec": {"k": "v"}})


def test_settings_problems_name_keys_never_values() -> None:
    body = {"spec": {"kafka": {"bootstrapServers": "k:9092"}, "components": {
        "websocketServer": {"settings": {"KAFKA_TOPIC": "t", "KAFKA_SASL_PASSWORD": "hunter2",
                                         "UNKNOWN_KNOB": "1", "LOG_LEVEL": "DEBUG"}},
        "qualityMonitor": {"enabled": False, "settings": {"X_TOKEN": "hunter3"}}}}}
    notes = settings_problems("p", "ns", DashStreamPipelineSpec.from_body(body))
    assert len(notes) == 3
    assert any("KAFKA_TOPIC: ignored, the operator sets KAFKA_TOPIC" in n for n in notes)
    assert any("KAFKA_SASL_PASSWORD: ignored, secrets must come from a Secret" in n
               for n in notes)
    assert any("UNKNOWN_KNOB" in n and "(kept)" in n for n in notes)
    assert not any("hunter" in n for n in notes)


PIPELINE = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: unrelated}
---
apiVersion: dashstream.io/v1alpha1
kind: DashStreamPipeline
metadata: {name: a}
spec:
  kafka: {bootstrapServers: "k:9092"}
  components:
    websocketServer: {settings: {MY_SECRET: s}}
    prometheusExporter: {enabled: false}
    qualityMonitor: {enabled: false}
"""


def test_cli_reads_stdin_skips_other_kinds_and_warns(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(PIPELINE))
    assert cli_main(["render", "-f", "-", "-n", "team", "--image", "i:1"]) == 0
    out, err = capsys.readouterr()
    assert out.count("\n---\n") + out.startswith("---\n") == 4  # CM, Deploy, Svc, SM
    assert "namespace: team" in out and "image: i:1" in out
    assert "uid: 00000000-0000-0000-0000-000000000000" in out
    assert "MY_SECRET: ignored" in err and "unrelated" not in out


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("kind: DashStreamPipeline\nmetadata: {name: a}\nspec: {}\n", "spec.kafka"),
        ("kind: DashStreamPipeline\nspec: {kafka: {bootstrapServers: 'k:1'}}\n",
         "metadata.name"),
        ("kind: ConfigMap\n", "no DashStreamPipeline"),
        ("a: [\n", "dashstream render:"),
    ],
)
def test_cli_errors_are_one_line(text: str, message: str, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    assert cli_main(["render", "-f", str(path)]) == 1
    out, err = capsys.readouterr()
    assert out == "" and message in err and "Traceback" not in err


# Pairs observed from kube-apiserver 1.36 (server-side dry-run of container resources).
@pytest.mark.parametrize(
    ("given", "stored"),
    [("100m", "100m"), ("0.5", "500m"), (1, "1"), ("1000m", "1"), ("1.5", "1500m"),
     ("2000", "2k"), ("1100", "1100"), ("128Mi", "128Mi"), ("1024Mi", "1Gi"),
     ("0.5Gi", "512Mi"), ("1536Mi", "1536Mi"), ("1.5Gi", "1536Mi"), ("1000M", "1G"),
     ("500M", "500M"), ("0", "0"), ("0.5Ki", "512"), ("0.3Ki", "307200m"), ("1e3", "1e3"),
     ("12e6", "12e6"), ("1.5e3", "1500"), ("2.5e-3", "3e-3"), ("1e-10", "1e-3"),
     ("1.0001", "1001m"), ("0.0001", "1m"), ("1000k", "1M"), ("512Ki", "512Ki"),
     ("100000000m", "100k")],
)
def test_quantities_render_as_the_api_server_stores_them(given: int | str, stored: str) -> None:
    assert canonical_quantity(given) == stored
