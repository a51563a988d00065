"""Run the real operator (the `dashstream-operator` console script) as a process.

Each run serves /healthz and /metrics on a free loopback port, so a test can wait on
the operator's own counters (resync passes, API writes) instead of on time. When the
run ends, its log is read: a traceback or an ERROR line the test did not declare
expected fails the test that ran it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from support.wait import wait_until

__all__ = ["OperatorProcess", "free_port", "log_problems", "run_operator"]

WRITE_VERBS = ("POST", "PUT", "PATCH", "DELETE")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class OperatorProcess:
    proc: subprocess.Popen[bytes]
    log_path: Path
    port: int | None = None
    log_offset: int = 0
    expected_errors: list[str] = field(default_factory=list)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[self.log_offset:]

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no cleanup at all, as a crashed or evicted pod."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def expect_errors(self, *patterns: str) -> None:
        """ERROR lines matching one of these regular expressions are part of the test."""
        self.expected_errors += patterns

    # --- the operator's own metrics ---------------------------------------------------

    def metrics(self) -> dict[str, float]:
        """Every sample on /metrics, by its full name with labels."""
        if self.port is None:
            raise AssertionError("this operator runs without its HTTP endpoint")
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as r:
            text = r.read().decode()
        out: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                out[name] = float(value)
        return out

    def passes(self) -> int:
        return int(self.metrics().get("dashstream_operator_resync_passes_total", 0))

    def writes(self) -> int:
        """API writes our reconcilers sent (kopf's own patches are not counted)."""
        m = self.metrics()
        return int(sum(m.get(f'dashstream_operator_api_requests_total{{verb="{v}"}}', 0)
                       for v in WRITE_VERBS))

    def passes_now(self) -> int:
        """The pass count, once the endpoint answers (0 is an answer, not "not yet")."""
        return wait_until(lambda: (self.passes(),), timeout=60, what="operator /metrics")[0][0]

    def wait_passes(self, count: int, timeout: float = 120) -> int:
        """Wait until ``count`` more resync passes completed; returns the pass count.
        Two passes after a change guarantee one that started after it."""
        target = self.passes_now() + count
        return wait_until(lambda: (n := self.passes()) >= target and (n,), timeout=timeout,
                          what=f"{count} more resync passes")[0][0]


# kopf's own retries of a request the API server refused for a moment (429 while its
# storage re-initialises after a restart): kopf logs each try as an error, then succeeds.
ALWAYS_EXPECTED = (r"^Request attempt #\d+/\d+ failed; will retry",)

_ERROR_LINE = re.compile(r'"severity": ?"(error|fatal)"|\[ERROR|Traceback \(most recent')


def log_problems(text: str, expected: Sequence[str] = ()) -> list[str]:
    """Tracebacks and ERROR lines of an operator log, less those matching ``expected``."""
    problems = []
    for line in text.splitlines():
        if not _ERROR_LINE.search(line):
            continue
        message, shown = line, line[:500]
        if line.startswith("{"):
            with suppress(ValueError):
                record = json.loads(line)
                message = str(record.get("message", line))
                # The exception's own last line says what went wrong; the frames above
                # it are in the log file.
                raised = str(record.get("exc_info") or "").strip().splitlines()[-1:]
                shown = " | ".join([message[:400], *raised])
        if not any(re.search(p, message) for p in (*ALWAYS_EXPECTED, *expected)):
            problems.append(shown)
    return problems


@contextmanager
def run_operator(namespaces: list[str], log_dir: Path, resync: float = 3.0,
                 extra_args: tuple[str, ...] = (), env: dict[str, str] | None = None,
                 liveness: str | None = None, name: str = "operator",
                 ) -> Iterator[OperatorProcess]:
    """``liveness``: the operator's --liveness URL; by default a free loopback port.
    ``name``: of the log file, for several operators on the same namespaces."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}-{'-'.join(namespaces)[:60]}.log"
    port = None
    if liveness is None:
        port = free_port()
        liveness = f"http://127.0.0.1:{port}/healthz"
    args = [sys.executable, "-m", "dashstream_operator.main", "--liveness", liveness,
            "--resync-interval", str(resync), "--kafka-timeout", "5", *extra_args]
    for ns in namespaces:
        args += ["--namespace", ns]
    offset = log_path.stat().st_size if log_path.exists() else 0
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, **(env or {})})
    op = OperatorProcess(proc, log_path, port, offset)
    try:
        yield op
    finally:
        op.stop()
    problems = log_problems(op.log(), op.expected_errors)
    if problems:
        pytest.fail(f"the operator logged {len(problems)} unexpected ERROR line(s) or "
                    f"tracebacks ({log_path}):\n" + "\n".join(problems[:10]), pytrace=False)
