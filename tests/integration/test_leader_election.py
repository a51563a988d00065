"""Two operator replicas with leader election against the real API server and broker:
one reconciles while the other waits; SIGKILL of the leader hands over within one lease
duration, SIGTERM (a drain, a rolling update) within one retry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.dynamic import DynamicClient

from support.events import event_list
from support.kube import apply
from support.operator import OperatorProcess, run_operator
from support.pipelines import condition, get_pipeline, pipeline
from support.wait import wait_until

LEASE_SECONDS = 6
OFF = {"websocketServer": {"enabled": False}, "prometheusExporter": {"enabled": False},
       "qualityMonitor": {"enabled": False}}
SASL = {"mechanism": "PLAIN", "usernameSecretRef": {"name": "absent", "key": "u"},
        "passwordSecretRef": {"name": "absent", "key": "p"}}


def leader(op: OperatorProcess) -> float | None:
    """1 leader, 0 standby; None until its endpoint answers."""
    try:
        return op.metrics().get("dashstream_operator_leader")
    except OSError:
        return None


def reason(api: client.ApiClient, ns: str, name: str, type_: str) -> str:
    try:
        return str((condition(get_pipeline(api, ns, name), type_) or {}).get("reason", ""))
    except client.ApiException:
        return ""


def holder(api: client.ApiClient, ns: str) -> str:
    lease: Any = client.CoordinationV1Api(api).read_namespaced_lease("dashstream-operator", ns)
    return str(lease.spec.holder_identity or "")


def test_one_replica_reconciles_and_the_other_takes_over(
        kube_api: client.ApiClient, dyn: DynamicClient, namespace: str, kafka_bootstrap: str,
        crds_installed: list[str], artifacts_dir: Path) -> None:
    logs = artifacts_dir / "logs"
    args = ("--leader-elect", "--leader-elect-namespace", namespace,
            "--leader-elect-lease-seconds", str(LEASE_SECONDS))
    with run_operator([namespace], logs, resync=2.0, extra_args=args, name="replica-a") as a:
        wait_until(lambda: leader(a) == 1, timeout=30, what="the first replica leads")
        with run_operator([namespace], logs, resync=2.0, extra_args=args,
                          name="replica-b") as b:
            wait_until(lambda: leader(b) == 0, timeout=30, what="the second one waits")
            # A refusal posts one Warning Event: two reconciling replicas would post two.
            apply(dyn, pipeline("refused", namespace, kafka_bootstrap,
                                [{"name": f"{namespace}-refused", "role": "events"}],
                                kafka={"bootstrapServers": kafka_bootstrap,
                                       "securityProtocol": "SASL_PLAINTEXT", "sasl": SASL},
                                components=OFF))
            wait_until(lambda: reason(kube_api, namespace, "refused", "Ready")
                       == "KafkaSecretMissing", timeout=30, what="KafkaSecretMissing")
            a.wait_passes(2)
            events = event_list(kube_api, namespace, "refused")
            assert events.count(("Warning", "KafkaSecretMissing")) == 1, events
            assert b.passes() == 0 and "Handler '" not in b.log(), "the standby reconciled"
            assert "standby: Lease" in b.log()
            a.kill()  # SIGKILL: the Lease is not released, it must expire
            apply(dyn, pipeline("after", namespace, kafka_bootstrap,
                                [{"name": f"{namespace}-after", "role": "events"}],
                                components=OFF))
            _, took = wait_until(lambda: reason(kube_api, namespace, "after", "TopicsReady")
                                 == "TopicsReady", timeout=15,
                                 what="a CR made after the leader's SIGKILL reconciled")
            assert leader(b) == 1
            print(f"leader SIGKILLed: the standby reconciled a new pipeline {took:.1f}s "
                  f"later (lease {LEASE_SECONDS} s)")
            with run_operator([namespace], logs, resync=2.0, extra_args=args,
                              name="replica-c") as c:
                wait_until(lambda: leader(c) == 0, timeout=30, what="a new standby waits")
                first = holder(kube_api, namespace)
                b.stop()  # SIGTERM: releases the Lease
                _, handed = wait_until(lambda: leader(c) == 1, timeout=LEASE_SECONDS - 1,
                                       what="the standby leads before the lease could expire")
                assert holder(kube_api, namespace) not in ("", first)
                print(f"leader SIGTERMed: the standby took over {handed:.1f}s later")
