"""Settings the operator leaves out of a component's ConfigMap are reported, not dropped
silently: status.settingsNotes (keys only) and one Warning Event per change."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.dynamic import DynamicClient

from support.events import event_list, wait_for_events
from support.kube import apply
from support.operator import OperatorProcess, run_operator
from support.pipelines import get_pipeline, pipeline
from support.wait import wait_until

SECRET_VALUE = "s3cret-value-never-shown"
RESYNC = 2.0


@pytest.fixture
def operator(namespace: str, crds_installed: list[str], artifacts_dir: Path,
             ) -> Iterator[OperatorProcess]:
    with run_operator([namespace], artifacts_dir / "logs", resync=RESYNC) as op:
        yield op


def test_ignored_and_unknown_settings_are_reported(
        kube_api: client.ApiClient, dyn: DynamicClient, namespace: str, kafka_bootstrap: str,
        operator: OperatorProcess) -> None:
    settings = {"WEBSOCKET_AUTH_TOKEN": SECRET_VALUE,  # a secret: only from a Secret
                "KAFKA_TOPIC": "elsewhere",  # the operator sets it from spec.topics
                "NOT_READ_BY_ANY_SERVER": "1",  # kept, with a note
                "WEBSOCKET_REPLAY_BUFFER_SIZE": "5000"}  # fine
    body = pipeline("notes", namespace, kafka_bootstrap,
                    [{"name": f"notes-{namespace}", "role": "events"}],
                    components={"websocketServer": {"settings": settings},
                                "prometheusExporter": {"enabled": False},
                                "qualityMonitor": {"enabled": False}})
    apply(dyn, body)
    notes, took = wait_until(
        lambda: (get_pipeline(kube_api, namespace, "notes").get("status") or {}).get(
            "settingsNotes"), timeout=60, what="status.settingsNotes")
    print(f"settingsNotes after {took:.1f}s:\n  " + "\n  ".join(notes))
    prefix = "spec.components.websocket-server.settings."
    assert notes == [
        f"{prefix}KAFKA_TOPIC: ignored, the operator sets KAFKA_TOPIC from the pipeline spec",
        f"{prefix}NOT_READ_BY_ANY_SERVER: websocket-server does not read "
        "NOT_READ_BY_ANY_SERVER (kept)",
        f"{prefix}WEBSOCKET_AUTH_TOKEN: ignored, secrets must come from a Secret reference "
        "(spec.components.websocketServer.authTokenSecretRef), never from settings",
    ]
    wait_for_events(kube_api, namespace, "notes", ("Warning", "SettingsIgnored"))
    cm = client.CoreV1Api(kube_api).read_namespaced_config_map("notes-websocket-server",
                                                               namespace)
    assert cm.data == {"NOT_READ_BY_ANY_SERVER": "1", "WEBSOCKET_REPLAY_BUFFER_SIZE": "5000"}
    events = client.CoreV1Api(kube_api).list_namespaced_event(namespace).items
    # What the operator writes (status.kopf is kopf's copy of the spec, which holds the
    # value anyway; that is why secrets belong in Secrets).
    ours = {k: v for k, v in get_pipeline(kube_api, namespace, "notes")["status"].items()
            if k != "kopf"}
    shown = json.dumps(ours) + " ".join(e.message or "" for e in events)
    assert SECRET_VALUE not in shown, "a setting's value leaked into status or an Event"

    # Resyncs do not repeat the Event; fixing the spec clears the notes.
    operator.wait_passes(3)  # three passes over the unchanged spec
    count = event_list(kube_api, namespace, "notes").count(("Warning", "SettingsIgnored"))
    assert count == 1, f"{count} SettingsIgnored Events for one spec"
    body["spec"]["components"]["websocketServer"]["settings"] = {
        "WEBSOCKET_REPLAY_BUFFER_SIZE": "5000"}
    apply(dyn, body)
    wait_until(lambda: "settingsNotes" not in (
        get_pipeline(kube_api, namespace, "notes").get("status") or {}),
        timeout=30, what="settingsNotes cleared")
