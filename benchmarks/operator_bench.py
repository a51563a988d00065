"""Operator benchmarks, measured side by side in one run (figures, no assertions).

1. Converge N DashStreamPipelines (2 topics + all children each) from apply to observed
   state, against a tight client loop that creates the same topics (one batch per
   pipeline) and server-side applies the same rendered objects.
2. Drift-repair latency over 50 hand edits (p50/p95).
3. A curve over 100 / 300 / 1,000 pipelines (``BENCH_CURVE``; light ones: one topic, no
   servers, on top of the 100 above): per point, converge time of the added pipelines
   against a tight loop creating the same topics, then per no-op resync pass the API
   requests, API writes, Kafka topic listings and the pass's duration, and the
   operator's RSS.
"""

from __future__ import annotations

import os
import secrets
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from kubernetes import client, config
from kubernetes.dynamic import DynamicClient
from prometheus_client.parser import text_string_to_metric_families

from dashstream_operator.models import DashStreamPipelineSpec
from dashstream_operator.render import render_pipeline_children

REPO = Path(__file__).resolve().parents[1]
N = int(os.environ.get("BENCH_PIPELINES", "100"))
CURVE = [int(x) for x in os.environ.get("BENCH_CURVE", "100,300,1000").split(",")]
RESYNC = 5.0
EDITS = 50


def _pipeline(name: str, ns: str, bootstrap: str, components: bool = True) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "kafka": {"bootstrapServers": bootstrap},
        "topics": [{"name": f"{ns}-{name}-ev", "role": "events"},
                   {"name": f"{ns}-{name}-dlq", "role": "dlq"}]}
    if not components:
        spec["topics"] = spec["topics"][:1]
        spec["components"] = {c: {"enabled": False} for c in
                              ("websocketServer", "prometheusExporter", "qualityMonitor")}
    return {"apiVersion": "dashstream.io/v1alpha1", "kind": "DashStreamPipeline",
            "metadata": {"name": name, "namespace": ns}, "spec": spec}


def _wait(check: Any, timeout: float, what: str, interval: float = 0.2) -> float:
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise SystemExit(f"benchmark: {what} not reached in {timeout:.0f}s")
        time.sleep(interval)
    return time.monotonic() - start


def _scrape(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return {s.name + str(sorted(s.labels.items())): s.value
            for f in text_string_to_metric_families(text) for s in f.samples}


class Bench:
    def __init__(self) -> None:
        self.api = config.new_client_from_config()
        self.dyn = DynamicClient(self.api)
        self.core = client.CoreV1Api(self.api)
        self.custom = client.CustomObjectsApi(self.api)
        self.apps = client.AppsV1Api(self.api)
        self.bootstrap = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
        from confluent_kafka.admin import AdminClient
        self.kafka = AdminClient({"bootstrap.servers": self.bootstrap})
        self.namespaces: list[str] = []
        self.topics: list[str] = []

    def namespace(self, prefix: str) -> str:
        ns = f"{prefix}-{secrets.token_hex(3)}"
        self.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
        self.namespaces.append(ns)
        return ns

    def apply(self, obj: dict[str, Any]) -> None:
        res = self.dyn.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
        res.server_side_apply(body=obj, name=obj["metadata"]["name"],
                              namespace=obj["metadata"]["namespace"],
                              field_manager="bench", force_conflicts=True)

    def ready_count(self, ns: str, want_children: bool) -> int:
        try:
            listing: Any = self.custom.list_namespaced_custom_object(
                "dashstream.io", "v1alpha1", ns, "dashstreampipelines", _request_timeout=60)
            items = listing["items"]
        except (client.ApiException, OSError) as exc:  # a busy API server: ask again
            print(f"[bench] listing pipelines failed ({exc}); retrying", flush=True)
            return -1
        ok = 0
        for i in items:
            conds = {c["type"]: c for c in (i.get("status") or {}).get("conditions") or []}
            if conds.get("TopicsReady", {}).get("status") == "True" and (
                    not want_children or "WorkloadsReady" in conds):
                ok += 1
        return ok

    def baseline(self, ns: str) -> float:
        """The same topics and objects, created by the tightest loop we can write."""
        from confluent_kafka.admin import NewTopic

        start = time.monotonic()
        for i in range(N):
            body = _pipeline(f"b{i:03d}", ns, self.bootstrap)
            futures = self.kafka.create_topics(
                [NewTopic(t["name"], 1, -1) for t in body["spec"]["topics"]])
            for f in futures.values():
                f.result(timeout=30)
            self.topics += [t["name"] for t in body["spec"]["topics"]]
            spec = DashStreamPipelineSpec.from_body(body)
            for child in render_pipeline_children(body["metadata"]["name"], ns,
                                                  f"00000000-0000-0000-0000-{i:012d}", spec,
                                                  default_image="bench:1",
                                                  servicemonitor_crd=self.servicemonitors()):
                child["metadata"].pop("ownerReferences", None)
                self.apply(child)
        return time.monotonic() - start

    def topic_loop(self, count: int) -> float:
        """What a light pipeline converges to (one topic), by the tightest loop."""
        from confluent_kafka.admin import NewTopic

        ns = secrets.token_hex(3)
        start = time.monotonic()
        for i in range(count):
            name = f"bench-loop-{ns}-{i:04d}"
            for f in self.kafka.create_topics([NewTopic(name, 1, -1)]).values():
                f.result(timeout=30)
            self.topics.append(name)
        return time.monotonic() - start

    def servicemonitors(self) -> bool:
        try:
            client.ApiextensionsV1Api(self.api).read_custom_resource_definition(
                "servicemonitors.monitoring.coreos.com")
            return True
        except client.ApiException:
            return False

    def _namespace_names(self) -> set[str]:
        return {n.metadata.name for n in self.core.list_namespace().items
                if n.metadata and n.metadata.name}

    def cleanup(self) -> None:
        for ns in self.namespaces:
            self.core.delete_namespace(ns, propagation_policy="Background")
        if self.topics:
            self.kafka.delete_topics(self.topics, operation_timeout=60)
        # Wait for the garbage collection of about 1,000 CRs and their children: run
        # beside the next benchmark, it made the WebSocket fan-out latencies 5x worse.
        print(f"[bench] waiting for {len(self.namespaces)} namespaces to be deleted ...",
              flush=True)
        try:
            took = _wait(lambda: not set(self.namespaces) & self._namespace_names(),
                         600, "bench namespaces deleted", interval=1.0)
            print(f"[bench] namespaces deleted after {took:.0f}s", flush=True)
        except SystemExit as exc:  # pipelines keep no finalizer; report, do not fail
            print(f"[bench] warning: {exc}", flush=True)


def _install_crds() -> None:
    """Our CRDs and the ServiceMonitor CRD (as a user with prometheus-operator has)."""
    kubectl = os.environ.get("KUBECTL", "kubectl")
    paths = [str(REPO / "crds")]
    if os.environ.get("DASHSTREAM_THIRDPARTY_CRDS"):
        paths.append(os.environ["DASHSTREAM_THIRDPARTY_CRDS"])
    for path in paths:
        subprocess.run([kubectl, "apply", "--server-side", "-f", path], check=True,
                       capture_output=True)
    subprocess.run([kubectl, "wait", "--for=condition=Established", "crd", "--all",
                    "--timeout=60s"], check=True, capture_output=True)


def run() -> list[tuple[str, str]]:
    _install_crds()
    b = Bench()
    rows: list[tuple[str, str]] = []
    op_ns = b.namespace("bench-op")
    log = open(REPO / ".dev/logs/operator-bench.log", "ab")  # noqa: SIM115
    port = _free_port()  # a fixed one once clashed with CoreDNS's ready port
    proc = subprocess.Popen([sys.executable, "-m", "dashstream_operator.main", "-n", op_ns,
                             "--liveness", f"http://127.0.0.1:{port}/healthz",
                             "--resync-interval", str(RESYNC)], stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        _wait(lambda: _ok(port), 60, "operator up")
        print(f"[bench] converging {N} pipelines with the operator ...", flush=True)
        start = time.monotonic()
        for i in range(N):
            body = _pipeline(f"p{i:03d}", op_ns, b.bootstrap)
            b.topics += [t["name"] for t in body["spec"]["topics"]]
            b.apply(body)
        _wait(lambda: b.ready_count(op_ns, True) == N, 900, "operator convergence")
        t_op = time.monotonic() - start
        print(f"[bench] tight client loop for the same {N} pipelines ...", flush=True)
        t_base = b.baseline(b.namespace("bench-base"))
        rows += [(f"converge {N} pipelines (operator)", f"{t_op:.1f} s"),
                 ("same objects by a tight client loop", f"{t_base:.1f} s"),
                 ("ratio operator / loop", f"{t_op / t_base:.2f}")]

        lat = []
        for i in range(EDITS):
            name = f"p{i % N:03d}-websocket-server"
            b.apps.patch_namespaced_deployment(name, op_ns, {"spec": {"replicas": 5}})
            t = time.monotonic()
            _wait(lambda n=name: b.apps.read_namespaced_deployment(n, op_ns).spec.replicas == 1,
                  30, "repair", interval=0.01)
            lat.append(time.monotonic() - t)
        q = statistics.quantiles(lat, n=20)
        p50, p95 = statistics.median(lat) * 1000, q[18] * 1000
        rows += [(f"drift repair over {EDITS} hand edits", f"p50 {p50:.0f} ms, p95 {p95:.0f} ms")]

        rows += _curve(b, op_ns, port, proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:  # busy with 1,000 objects: do not hide the cause
            proc.kill()
            proc.wait(timeout=10)
        b.cleanup()
    return rows


def _curve(b: Bench, ns: str, port: int, pid: int) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    light = 0
    for point in CURVE:
        added = point - light
        print(f"[bench] curve: {added} more light pipelines (to {point}) ...", flush=True)
        start = time.monotonic()
        for i in range(light, point):
            body = _pipeline(f"l{i:04d}", ns, b.bootstrap, components=False)
            b.topics += [t["name"] for t in body["spec"]["topics"]]
            b.apply(body)
        _wait(lambda p=point: b.ready_count(ns, False) >= N + p, 1800, f"{point} converged")
        t_op = time.monotonic() - start
        t_loop = b.topic_loop(added)
        light = point
        # Quiet: two whole passes in which the operator wrote nothing (the first 100
        # pipelines' Deployments move their status for a while).
        _wait(lambda: _passes_without_writes(port, 2), 600, "operator quiet", interval=0)
        _await_passes(port, 1)  # start on a pass boundary
        m0, t0 = _scrape(port), time.monotonic()
        _await_passes(port, 3)
        m1, elapsed = _scrape(port), time.monotonic() - t0
        delta = {k: v - m0.get(k, 0) for k, v in m1.items()}
        reqs = sum(v for k, v in delta.items()
                   if k.startswith("dashstream_operator_api_requests_total"))
        writes = sum(v for k, v in delta.items()
                     if k.startswith("dashstream_operator_api_requests_total") and "'GET'" not in k)
        listings = delta.get("dashstream_operator_kafka_metadata_requests_total[]", 0.0)
        status = Path(f"/proc/{pid}/status").read_text().splitlines()
        rss = int(next(line.split()[1] for line in status if line.startswith("VmRSS")))
        crs = N + point
        rows += [
            (f"[{point}] converge {added} added pipelines: operator / loop",
             f"{t_op:.1f} s / {t_loop:.1f} s = {t_op / t_loop:.2f}"),
            (f"[{point}] per no-op pass ({crs} pipelines): API requests, writes",
             f"{reqs / 3:.1f}, {writes / 3:.1f}"),
            (f"[{point}] per no-op pass: Kafka topic listings", f"{listings / 3:.1f}"),
            (f"[{point}] no-op pass duration (interval {RESYNC:.0f} s excluded)",
             f"{max(elapsed / 3 - RESYNC, 0):.2f} s"),
            (f"[{point}] operator RSS ({crs} CRs)", f"{rss / 1024:.0f} MiB"),
        ]
        for k, v in rows[-5:]:
            print(f"{k:60s} {v}", flush=True)
    return rows


def _operator_writes(port: int) -> float:
    return sum(v for k, v in _scrape(port).items()
               if k.startswith("dashstream_operator_api_requests_total") and "'GET'" not in k)


def _passes(port: int) -> float:
    return _scrape(port).get("dashstream_operator_resync_passes_total[]", 0.0)


def _await_passes(port: int, count: int) -> None:
    """Wait until ``count`` more resync passes completed (the operator's own counter)."""
    target = _passes(port) + count
    _wait(lambda: _passes(port) >= target, 300, f"{count} resync passes", interval=0.1)


def _passes_without_writes(port: int, count: int) -> bool:
    before = _operator_writes(port)
    _await_passes(port, count)
    return _operator_writes(port) == before


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ok(port: int) -> bool:
    try:
        return urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).status == 200
    except OSError:
        return False


def run_benchmark(record: bool) -> None:
    rows = run()
    for k, v in rows:
        print(f"{k:50s} {v}", flush=True)
    if record:
        from benchmarks._report import append_section

        append_section(f"Operator: {N} pipelines, then a curve over {CURVE} light ones",
                       ["| figure | value |", "|---|---|",
                        *(f"| {k} | {v} |" for k, v in rows)])


if __name__ == "__main__":
    run_benchmark(record="--record" in sys.argv)
