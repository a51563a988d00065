"""Run the three DashStream servers as real processes (their console scripts) and read them.

Importable from any test as ``integration.workloads.servers`` (``tests/`` is on
``sys.path``). Nothing here mocks anything: each server is the installed console
script talking to the real broker, Redis and the test's own clients.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from support.wait import wait_until

__all__ = [
    "PORT_VARIABLE",
    "ServerProc",
    "free_port",
    "http_get",
    "parse_metrics",
    "run_redis",
    "start_server",
]

SCRIPTS = {
    "websocket-server": "dashstream-websocket-server",
    "prometheus-exporter": "dashstream-exporter",
    "quality-monitor": "dashstream-quality-monitor",
}
PORT_VARIABLE = {
    "websocket-server": "WEBSOCKET_PORT",
    "prometheus-exporter": "METRICS_PORT",
    "quality-monitor": "METRICS_PORT",
}
# Fast timers so tests observe lag, sessions and health within seconds.
TEST_DEFAULTS = {
    "KAFKA_LAG_CHECK_INTERVAL_SECS": "1",
    "PROMETHEUS_SESSION_TIMEOUT_SECS": "1",
    "LOG_FORMAT": "json",
    "LOG_LEVEL": "INFO",
    "WEBSOCKET_HOST": "127.0.0.1",
    "METRICS_HOST": "127.0.0.1",
}


def free_port() -> int:
    """A free loopback port (bound and released: good enough for one test run)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    """(status, body); HTTP errors are returned, not raised."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def parse_metrics(text: str) -> dict[str, Metric]:
    """Families by name; raises if a family name occurs twice, because Prometheus
    rejects a scrape that repeats a metric family."""
    families: dict[str, Metric] = {}
    for family in text_string_to_metric_families(text):
        if family.name in families:
            raise AssertionError(f"duplicate metric family {family.name!r}")
        families[family.name] = family
    return families


@dataclass
class ServerProc:
    component: str
    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path
    env: dict[str, str] = field(repr=False, default_factory=dict)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(self, path: str) -> tuple[int, bytes]:
        return http_get(self.base + path)

    def health(self) -> dict[str, Any]:
        status, body = self.get("/health")
        data: dict[str, Any] = json.loads(body)
        data["http_status"] = status
        return data

    def metrics_text(self) -> str:
        status, body = self.get("/metrics")
        assert status == 200, f"{self.component} /metrics answered {status}"
        return body.decode()

    def metrics(self) -> dict[str, Metric]:
        return parse_metrics(self.metrics_text())

    def value(self, name: str, **labels: str) -> float:
        """Sum of the samples called ``name`` whose labels include ``labels``."""
        total = 0.0
        for family in self.metrics().values():
            for s in family.samples:
                if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                    total += s.value
        return total

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_records(self) -> list[dict[str, Any]]:
        records = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    records.append(json.loads(line))
                except ValueError:
                    continue
        return records

    def stop(self, timeout: float = 40.0) -> int:
        """SIGTERM and wait: the graceful path (flush, commit, close)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
                raise AssertionError(f"{self.component} ignored SIGTERM for {timeout}s") from None
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL: a crash, no cleanup at all."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)


def start_server(
    component: str, env: dict[str, str], log_dir: Path, *, args: tuple[str, ...] = (),
    name: str | None = None,
) -> ServerProc:
    """Start one server's console script and wait until it answers ``/health``."""
    port = free_port()
    script = Path(sys.executable).parent / SCRIPTS[component]
    full_env = {**os.environ, **TEST_DEFAULTS, **env, PORT_VARIABLE[component]: str(port)}
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name or component}-{port}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([str(script), *args], stdout=log, stderr=subprocess.STDOUT,
                                env=full_env)
    server = ServerProc(component, proc, port, log_path, full_env)

    def answering() -> bool:
        if not server.alive():
            raise AssertionError(f"{component} exited: {log_path.read_text()[-2000:]}")
        return server.get("/health")[0] in (200, 503)

    try:
        wait_until(answering, timeout=30, what=f"{component} /health")
    except BaseException:
        server.kill() if server.alive() else None
        raise
    return server


@contextmanager
def run_redis(redis_server: str, workdir: Path) -> Iterator[str]:
    """A private redis-server on a free loopback port; yields its URL."""
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [redis_server, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )

    def ping() -> bool:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")

    try:
        wait_until(ping, timeout=20, what="redis-server PING")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
