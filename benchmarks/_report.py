"""Where a benchmark ran (machine, versions, date) and appending results to the docs."""

from __future__ import annotations

import datetime
import os
import platform
from pathlib import Path

import aiohttp
import confluent_kafka

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "benchmarks.md"

__all__ = ["DOC", "append_section", "environment"]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _memory_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 2**20:.0f} GiB"
    except OSError:
        pass
    return "unknown"


def _kafka_version() -> str:
    versions = REPO / "scripts" / "env" / "versions.env"
    if versions.exists():
        for line in versions.read_text().splitlines():
            if line.startswith("KAFKA_VERSION="):
                return line.split("=", 1)[1].strip()
    return "unknown"


def environment() -> dict[str, str]:
    kafka_client = f"{confluent_kafka.__version__} (librdkafka {confluent_kafka.libversion()[0]})"
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{_cpu_model()}, {os.cpu_count()} CPUs, {_memory_gib()} RAM, "
                   f"{platform.system()} {platform.release()}",
        "versions": f"Python {platform.python_version()}, confluent-kafka {kafka_client}, "
                    f"aiohttp {aiohttp.__version__}, Apache Kafka {_kafka_version()} "
                    f"(single local KRaft broker)",
    }


def append_section(title: str, lines: list[str]) -> None:
    """Append a dated section to docs/benchmarks.md."""
    env = environment()
    text = [f"\n## {title} — {env['date']}\n", f"- Machine: {env['machine']}",
            f"- Versions: {env['versions']}", "", *lines, ""]
    with DOC.open("a", encoding="utf-8") as f:
        f.write("\n".join(text))
    print(f"appended to {DOC}")
