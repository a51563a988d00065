"""A broker outage is quiet and bounded: one Event per pipeline per transition, no
status write while nothing changes, librdkafka's lines in the JSON log, /healthz
staying 200 with 60 pipelines, and SIGTERM honoured while Kafka calls hang."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from kubernetes import client
from kubernetes.dynamic import DynamicClient

from support.env import devenv
from support.events import events_by_object
from support.kube import apply, list_custom
from support.operator import run_operator
from support.pipelines import condition, pipeline
from support.wait import wait_until

PIPELINES = 60
OFF = {"websocketServer": {"enabled": False}, "prometheusExporter": {"enabled": False},
       "qualityMonitor": {"enabled": False}}


def _reasons(api: client.ApiClient, ns: str) -> dict[str, str]:
    items = list_custom(client.CustomObjectsApi(api), "dashstream.io", "v1alpha1", ns,
                        "dashstreampipelines")
    return {i["metadata"]["name"]: (condition(i, "TopicsReady") or {}).get("reason", "")
            for i in items}


def _versions(api: client.ApiClient, ns: str) -> dict[str, str]:
    items = list_custom(client.CustomObjectsApi(api), "dashstream.io", "v1alpha1", ns,
                        "dashstreampipelines")
    return {i["metadata"]["name"]: i["metadata"]["resourceVersion"] for i in items}


def _healthz(port: int | None) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
        return int(r.status)


class HealthPoller:
    """Polls /healthz in the background for as long as the block runs."""

    def __init__(self, port: int | None) -> None:
        self.port = port
        self.codes: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.wait(0.2):  # the poll cadence, not a wait for a state
            try:
                self.codes.append(_healthz(self.port))
            except urllib.error.HTTPError as exc:
                self.codes.append(exc.code)

    def __enter__(self) -> HealthPoller:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(5)


class Blackhole:
    """A loopback port that accepts connections and never answers: a broker that hangs
    (a network partition), unlike a stopped one that refuses at once."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                self.conns.append(self.sock.accept()[0])

    def __enter__(self) -> Blackhole:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.sock.close()
        for conn in self.conns:
            conn.close()


def test_sigterm_is_honoured_while_kafka_requests_hang(
        kube_api: client.ApiClient, dyn: DynamicClient, namespace: str,
        crds_installed: list[str], artifacts_dir: Path) -> None:
    with Blackhole() as hole, run_operator([namespace], artifacts_dir / "logs", resync=2.0,
                                          extra_args=("--kafka-timeout", "60")) as op:
        apply(dyn, pipeline("hang", namespace, f"127.0.0.1:{hole.port}",
                            [{"name": f"{namespace}-hang", "role": "events"}],
                            components=OFF))
        wait_until(lambda: op.metrics().get(
            "dashstream_operator_kafka_requests_in_flight", 0) > 0, timeout=60,
            what="a Kafka request in flight against the hanging broker")
        op.proc.send_signal(signal.SIGTERM)
        stop = time.monotonic()
        op.proc.wait(timeout=5)
        print(f"SIGTERM honoured in {time.monotonic() - stop:.1f}s with a Kafka request "
              f"hanging (timeout 60 s)")


def test_a_broker_outage_is_quiet(kube_api: client.ApiClient, dyn: DynamicClient,
                                  namespace: str, kafka_bootstrap: str,
                                  crds_installed: list[str], artifacts_dir: Path) -> None:
    names = [f"p{i:03d}" for i in range(PIPELINES)]
    logs = artifacts_dir / "logs"
    with run_operator([namespace], logs, resync=2.0):
        for name in names:
            apply(dyn, pipeline(name, namespace, kafka_bootstrap,
                                [{"name": f"{namespace}-{name}", "role": "events"}],
                                components=OFF))
        wait_until(lambda: set(_reasons(kube_api, namespace).values()) == {"TopicsReady"}
                   and len(_reasons(kube_api, namespace)) == PIPELINES, timeout=300,
                   interval=1, what=f"{PIPELINES} pipelines TopicsReady")
    devenv("stop", "kafka")
    try:
        # (Re)started during the outage.
        with run_operator([namespace], logs, resync=2.0) as op:
            op.expect_errors()  # none: an outage is a condition, not an error
            _, took = wait_until(lambda: set(_reasons(kube_api, namespace).values()) == {
                "KafkaUnavailable"}, timeout=180, interval=1,
                what="every pipeline KafkaUnavailable")
            print(f"{PIPELINES} pipelines KafkaUnavailable {took:.1f}s after the start")
            before = _versions(kube_api, namespace)
            with HealthPoller(op.port) as health:
                op.wait_passes(5, timeout=300)  # five passes with the broker still down
            after = _versions(kube_api, namespace)
            changed = [n for n in names if before[n] != after[n]]
            print(f"5 passes during the outage: {len(changed)} pipelines changed their "
                  f"resourceVersion; /healthz polled {len(health.codes)} times: "
                  f"{sorted(set(health.codes))}")
            assert not changed, f"status churn during the outage: {changed[:5]}"
            assert health.codes and set(health.codes) == {200}
            text = op.log()
    finally:
        devenv("start", "kafka")
    raw = [line for line in text.splitlines() if "|FAIL|" in line or line.startswith("%")]
    assert not raw, f"librdkafka lines bypassed the logger: {raw[:3]}"
    routed = [json.loads(line) for line in text.splitlines()
              if line.startswith("{") and "librdkafka:" in line]
    print(f"{len(routed)} librdkafka lines in the JSON log, e.g. "
          f"{routed[0]['message'][:120] if routed else None}")
    assert routed, "no librdkafka line reached the operator's logger"
    with run_operator([namespace], logs, resync=2.0):
        wait_until(lambda: set(_reasons(kube_api, namespace).values()) == {"TopicsReady"},
                   timeout=180, interval=1, what="recovery")
        per_pipeline: dict[str, list[tuple[str | None, str | None]]] = {}

        def counted(type_: str, reason: str) -> set[int]:
            return {per_pipeline.get(n, []).count((type_, reason)) for n in names}

        def both_seen() -> bool:
            per_pipeline.update(events_by_object(kube_api, namespace))
            return counted("Warning", "KafkaUnavailable") == {1} and \
                counted("Normal", "KafkaAvailable") == {1}

        wait_until(both_seen, timeout=60, interval=1,
                   what="one KafkaUnavailable and one KafkaAvailable Event per pipeline")
        print(f"Events per pipeline: KafkaUnavailable {counted('Warning', 'KafkaUnavailable')}"
              f", KafkaAvailable {counted('Normal', 'KafkaAvailable')}")
