"""A real Alertmanager (Debian's prometheus-alertmanager) with the project's routing,
and a webhook receiver the test runs, to see what is delivered."""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from integration.workloads.servers import free_port
from support.env import REPO, require_env
from support.scenario import process
from support.wait import wait_until

ROUTING = REPO / "alertmanager/alertmanager.yml"
FIX = "run `make env-up ENV_PARTS=alertmanager` (the test targets do)"


class Webhooks:
    """Every notification posted, by receiver path (``/critical``, ``/warnings``)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.received: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()

    def alerts(self, path: str) -> list[dict[str, Any]]:
        with self._lock:
            return [a for p, body in self.received if p == path for a in body["alerts"]]

    def record(self, path: str, body: dict[str, Any]) -> None:
        with self._lock:
            self.received.append((path, body))


@contextmanager
def webhook_receiver() -> Iterator[Webhooks]:
    hooks = Webhooks(free_port())

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            hooks.record(self.path, body)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", hooks.port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hooks
    finally:
        server.shutdown()
        server.server_close()


def routing_for(hooks: Webhooks, work: Path) -> Path:
    """The shipped routing with its receivers' placeholder URLs pointed at ``hooks``, and
    its group waits cut to 1 s (routes, matchers and inhibitions are left as shipped)."""
    config = yaml.safe_load(ROUTING.read_text())
    for route in [config["route"], *config["route"].get("routes", [])]:
        if "group_wait" in route:
            route["group_wait"] = "1s"
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs") or []:
            path = hook["url"].split("alert-receiver.example", 1)[1]
            hook["url"] = f"http://127.0.0.1:{hooks.port}{path}"
    out = work / "alertmanager.yml"
    out.write_text(yaml.safe_dump(config, sort_keys=False))
    return out


def start_alertmanager(stack: ExitStack, config: Path, logs: Path,
                       host: str = "127.0.0.1", port: int | None = None) -> int:
    """A real Alertmanager with ``config``, stopped when ``stack`` closes; its port.
    ``host``: the address it listens on, e.g. the pod bridge's gateway for a Prometheus
    pod; ``port``: one chosen beforehand (a Prometheus configured before it starts)."""
    binary = require_env("ALERTMANAGER", FIX)
    port = port or free_port()
    stack.enter_context(process(
        [binary, f"--config.file={config}", f"--storage.path={config.parent / 'am-data'}",
         f"--web.listen-address={host}:{port}", "--cluster.listen-address="],
        {}, logs / "alertmanager.log"))
    wait_until(lambda: _ready(host, port), timeout=30, what="Alertmanager ready")
    return port


def _ready(host: str, port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/-/ready", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def am_alerts(port: int) -> list[dict[str, Any]]:
    """Alertmanager's view of every alert, with its state (active, suppressed) and what
    inhibits it."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/alerts", timeout=5) as r:
        alerts: list[dict[str, Any]] = json.load(r)
    return alerts


def post_alerts(port: int, alerts: list[dict[str, Any]]) -> None:
    """What Prometheus sends: firing alerts with their labels and annotations."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v2/alerts",
                                 data=json.dumps(alerts).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=5).close()
