"""The operator's own metrics and its HTTP endpoint (/healthz and /metrics on one port).

One explicit registry (a metric registered into one registry while /metrics serves
another never reaches Prometheus; with a single registry that cannot happen)
served on the liveness port, so the chart's single Service and ServiceMonitor cover
both. /healthz says whether the operator is alive: its resync loop makes progress (it
stamps the time after every object it reconciles and before every pass), and has not
died. It does not ask whether a pass finished: with a dead broker a pass over many
pipelines is slow but moving, and a restart then would only make the operator absent
exactly when it is needed. A pass stuck on one object stops the stamps.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["METRICS", "REGISTRY", "Metrics", "Timed", "about", "reconcile_timer", "serve",
           "standby_endpoint"]

REGISTRY = CollectorRegistry(auto_describe=True)


class Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.reconciles = Counter(
            "dashstream_operator_reconciles", "Reconciles by kind and result "
            "(success, retry: transient failure, invalid: refused input, error: bug).",
            ["kind", "result"], registry=registry)
        self.duration = Histogram(
            "dashstream_operator_reconcile_duration_seconds", "Reconcile duration by kind.",
            ["kind"], registry=registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
        self.drift_repairs = Counter(
            "dashstream_operator_drift_repairs", "Children or topics put back after a change "
            "made behind the operator's back, by kind of owner.", ["kind"], registry=registry)
        self.kafka_errors = Counter(
            "dashstream_operator_kafka_admin_errors", "Kafka admin failures by reason "
            "(KafkaUnavailable, InvalidTopicConfig, KafkaError, ...).", ["reason"],
            registry=registry)
        self.validation_failures = Counter(
            "dashstream_operator_validation_failures", "Objects refused by validation, by kind "
            "and reason.", ["kind", "reason"], registry=registry)
        self.kafka_in_flight = Gauge(
            "dashstream_operator_kafka_requests_in_flight", "Kafka admin operations "
            "(describe, apply, delete) waiting for the broker right now.", registry=registry)
        self.kafka_metadata_requests = Counter(
            "dashstream_operator_kafka_metadata_requests", "Whole-cluster topic listings sent "
            "to Kafka (at most one per connection per resync pass; outside a pass, one per "
            "reconcile).", registry=registry)
        self.api_requests = Counter(
            "dashstream_operator_api_requests", "Requests the operator's reconcilers sent to "
            "the Kubernetes API, by HTTP verb (kopf's watches not included).", ["verb"],
            registry=registry)
        self.last_resync = Gauge(
            "dashstream_operator_last_resync_timestamp_seconds",
            "When the resync loop last completed a pass.", registry=registry)
        self.resync_passes = Counter(
            "dashstream_operator_resync_passes", "Resync passes completed (tests and "
            "benchmarks wait on this count instead of on time).", registry=registry)
        self.progress = Gauge(
            "dashstream_operator_resync_progress_timestamp_seconds",
            "When the resync loop last made progress (an object reconciled, a pass "
            "started).", registry=registry)
        self.leader = Gauge(
            "dashstream_operator_leader", "1 while this replica reconciles (it holds the "
            "leader Lease, or runs without leader election); 0 while it waits as a standby.",
            registry=registry)
        self.resync_objects = Gauge(
            "dashstream_operator_resync_objects", "Objects reconciled by the last resync pass.",
            registry=registry)


METRICS = Metrics(REGISTRY)


def about(kind: str, namespace: object, name: object) -> dict[str, object]:
    """``extra=`` for a log call about one of our objects: kopf's JSON formatter then
    adds its ``object`` (namespace/name) to the line, as on kopf's own lines."""
    return {"k8s_skip": True, "k8s_ref": {"apiVersion": "dashstream.io/v1alpha1",
                                          "kind": kind, "namespace": namespace,
                                          "name": name}}


class Timed:
    """The result a reconcile reports: success, retry (a transient failure, tried again
    soon), invalid (refused input), error (an exception: a bug or an unreachable API)."""

    result = "success"


@contextmanager
def reconcile_timer(kind: str) -> Iterator[Timed]:
    """Time one reconcile and count it by the result it sets (``error`` if it raised)."""
    start = time.perf_counter()
    timed = Timed()
    try:
        yield timed
    except Exception:
        timed.result = "error"
        raise
    finally:
        METRICS.duration.labels(kind).observe(time.perf_counter() - start)
        METRICS.reconciles.labels(kind, timed.result).inc()


async def serve(url: str, alive: Callable[[], str | None]) -> web.AppRunner:
    """Serve /healthz (at the URL's path) and /metrics on the URL's host and port;
    ``alive`` answers why the operator is not alive, or None."""
    parsed = urlparse(url)

    async def healthz(_: web.Request) -> web.Response:
        why = alive()
        if why:
            return web.Response(status=503, text=why + "\n")
        return web.Response(text="ok\n")

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(REGISTRY),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get(parsed.path or "/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, parsed.hostname or "0.0.0.0", parsed.port or 8080).start()
    return runner


@contextmanager
def standby_endpoint(url: str) -> Iterator[None]:
    """/healthz (200: a standby is alive, waiting is its job) and /metrics
    (``dashstream_operator_leader`` 0) while a replica waits for the leader Lease, on the
    port the leader's endpoint takes over afterwards; ``none``: nothing served."""
    if url == "none":
        yield
        return
    parsed = urlparse(url)
    health_path = parsed.path or "/healthz"

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/metrics":
                body, kind = generate_latest(REGISTRY), CONTENT_TYPE_LATEST
            elif self.path == health_path:
                body, kind = b"standby\n", "text/plain"
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:  # probes every few seconds: no lines
            pass

    server = ThreadingHTTPServer((parsed.hostname or "0.0.0.0", parsed.port or 8080), Handler)
    thread = threading.Thread(target=server.serve_forever, name="standby-http", daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
