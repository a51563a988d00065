"""Run the real operator (the `dashstream-operator` console script) as a process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

__all__ = ["OperatorProcess", "run_operator"]


@dataclass
class OperatorProcess:
    proc: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

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


@contextmanager
def run_operator(namespaces: list[str], log_dir: Path, resync: float = 3.0,
                 extra_args: tuple[str, ...] = (), env: dict[str, str] | None = None,
                 liveness: str = "none") -> Iterator[OperatorProcess]:
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"operator-{'-'.join(namespaces)[:60]}.log"
    args = [sys.executable, "-m", "dashstream_operator.main", "--liveness", liveness,
            "--resync-interval", str(resync), "--kafka-timeout", "5", *extra_args]
    for ns in namespaces:
        args += ["--namespace", ns]
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, **(env or {})})
    op = OperatorProcess(proc, log_path)
    try:
        yield op
    finally:
        op.stop()
