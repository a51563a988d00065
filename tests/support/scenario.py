"""Pieces both user-scenario tests share (local processes and in-cluster pods): running
a helper process for the length of a block, querying Prometheus, reading the synced
rule file, the Ready condition of a rule or dashboard set."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from integration.workloads.browser import Chromium
from integration.workloads.servers import free_port
from support.kube import get_custom, meta
from support.pipelines import condition
from support.wait import wait_until

__all__ = ["alert_expr", "injected_gap_fires_alert", "process", "prom_base", "prom_query",
           "rule_file_from_configmap", "run", "set_ready", "start_prometheus",
           "viewer_shows_live_events"]


def run(*cmd: str) -> str:
    """stdout of a command; a failure shows its output, not only the exit status."""
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, (
        f"{' '.join(cmd)} exited {done.returncode}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return done.stdout


@contextmanager
def process(cmd: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def prom_base(where: int | str) -> str:
    """A Prometheus's base URL: a loopback port, or a URL (a pod's)."""
    return where if isinstance(where, str) else f"http://127.0.0.1:{where}"


def prom_query(where: int | str, expr: str) -> list[dict[str, Any]]:
    url = f"{prom_base(where)}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    body = json.loads(urllib.request.urlopen(url, timeout=5).read())
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def set_ready(custom: client.CustomObjectsApi, ns: str, plural: str, name: str) -> bool:
    obj = get_custom(custom, "dashstream.io", "v1alpha1", ns, plural, name)
    return (condition(obj, "Ready") or {}).get("status") == "True"


def rule_file_from_configmap(core: client.CoreV1Api, ns: str, rule_set: str,
                             path: Path) -> Path:
    """The rule file the AlertRuleSet synced, written where Prometheus will read it."""
    cms = [c for c in core.list_namespaced_config_map(ns).items
           if (meta(c).labels or {}).get("dashstream.io/alertruleset") == rule_set]
    assert cms, f"no rule ConfigMap of AlertRuleSet {rule_set} in {ns}"
    assert cms[0].data is not None, f"rule ConfigMap {meta(cms[0]).name} without data"
    path.write_text(next(iter(cms[0].data.values())))
    return path


def alert_expr(rule_file: Path, alert: str) -> str:
    return str(next(r["expr"] for g in yaml.safe_load(rule_file.read_text())["groups"]
                    for r in g["rules"] if r.get("alert") == alert))


def start_prometheus(stack: ExitStack, jobs: list[dict[str, Any]], rule_file: Path,
                     logs: Path, alertmanager: int | None = None) -> int:
    """A real Prometheus with these scrape jobs and the synced rule file (evaluated every
    2 s), sending its alerts to the Alertmanager on port ``alertmanager`` if given;
    stopped when ``stack`` closes. Returns its port."""
    port = free_port()
    cfg = rule_file.with_name("prometheus.yml")
    config: dict[str, Any] = {"global": {"evaluation_interval": "2s"},
                              "rule_files": [str(rule_file)], "scrape_configs": jobs}
    if alertmanager is not None:
        config["alerting"] = {"alertmanagers": [
            {"static_configs": [{"targets": [f"127.0.0.1:{alertmanager}"]}]}]}
    cfg.write_text(yaml.safe_dump(config))
    stack.enter_context(process(
        [os.environ.get("PROMETHEUS", "prometheus"), f"--config.file={cfg}",
         f"--storage.tsdb.path={cfg.parent / 'tsdb'}", f"--web.listen-address=127.0.0.1:{port}"],
        dict(os.environ), logs / "prometheus.log"))
    _, took = wait_until(lambda: len(prom_query(port, "up == 1")) == len(jobs), timeout=90,
                         what=f"Prometheus scraping all {len(jobs)} servers")
    print(f"Prometheus scraping the {len(jobs)} servers after {took:.1f}s")
    return port


def injected_gap_fires_alert(prom_port: int | str, rules: Path | str,
                             quality_monitor: str) -> None:
    """Events flow; SequenceGapsDetected is quiet; a gap injected at the quality-monitor
    (base URL) raises dashstream_sequence_gaps_total and makes the expression true.
    ``rules``: the rule file, or SequenceGapsDetected's expression itself."""
    wait_until(lambda: prom_query(prom_port, "dashstream_quality_monitor_queries_total > 0"),
               timeout=60, what="events counted by the exporter")
    gap_expr = alert_expr(rules, "SequenceGapsDetected") if isinstance(rules, Path) else rules
    assert not prom_query(prom_port, gap_expr)
    urllib.request.urlopen(urllib.request.Request(
        f"{quality_monitor}/admin/inject?kind=gap", method="POST"), timeout=10)
    _, took = wait_until(lambda: prom_query(prom_port, gap_expr), timeout=90,
                         what="SequenceGapsDetected expression returns a series")
    gaps = prom_query(prom_port, "sum(dashstream_sequence_gaps_total)")  # over replicas
    print(f"gap injected via {quality_monitor}: dashstream_sequence_gaps_total="
          f"{gaps[0]['value'][1]}, SequenceGapsDetected expression true {took:.1f}s later")
    assert float(gaps[0]["value"][1]) >= 1


def viewer_shows_live_events(url: str, logs: Path, screenshot: Path) -> None:
    """Open the websocket-server's viewer in Chromium: events arrive, then more."""
    browser = Chromium(logs / "chromium.log")
    try:
        browser.navigate(f"{url}/")
        count = "Number(document.body.dataset.events || 0)"
        first, _ = wait_until(lambda: browser.evaluate(count) >= 3 and browser.evaluate(
            count), timeout=30, what="events on the viewer")
        wait_until(lambda: browser.evaluate(count) > first, timeout=30, what="live events")
        print(f"viewer at {url}: {first} events, then more")
        browser.screenshot(screenshot)
    finally:
        browser.close()
