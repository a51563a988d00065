"""`dashstream dashboards check` against a real Prometheus: each panel's verdict (ok, no
data, incident-only, error), its variables resolved from the same Prometheus, and the
exit status a CI job relies on."""

from __future__ import annotations

import json
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from integration.workloads.servers import free_port
from support.scenario import prom_query, start_prometheus
from support.wait import wait_until

CLI = str(Path(sys.executable).with_name("dashstream"))
NAMESPACE_VAR = {"name": "namespace", "type": "query", "multi": True, "includeAll": True,
                 "allValue": ".*", "query": {"query": "label_values(dashcheck_value, namespace)"}}


def panel(pid: int, title: str, expr: str, **extra: Any) -> dict[str, Any]:
    return {"id": pid, "type": "timeseries", "title": title,
            "targets": [{"refId": "A", "expr": expr}], **extra}


def dashboard(panels: list[dict[str, Any]], variables: list[dict[str, Any]]) -> dict[str, Any]:
    return {"uid": "check", "title": "check", "templating": {"list": variables},
            "panels": [{"type": "row", "id": 100, "collapsed": True, "panels": panels}]}


def check(tmp: Path, prom: str, doc: dict[str, Any]) -> tuple[int, dict[str, str]]:
    path = tmp / f"{doc['uid']}-{len(doc['panels'][0]['panels'])}.json"
    path.write_text(json.dumps(doc))
    done = subprocess.run([CLI, "dashboards", "check", "--prometheus", prom, "--since", "2m",
                           "--scrape-interval", "1s", "--format", "json", str(path)],
                          capture_output=True, text=True, timeout=60)
    print(done.stdout[-3000:], done.stderr[-2000:])
    report = json.loads(done.stdout)[str(path)]
    assert report["problems"] == []
    return done.returncode, {p["panel"]: p["status"] for p in report["panels"]}


def test_panel_verdicts_and_exit_status(tmp_path: Path, artifacts_dir: Path) -> None:
    registry = CollectorRegistry()
    Gauge("dashcheck_value", "a value", ["namespace"], registry=registry).labels("ns1").set(3)
    Counter("dashcheck", "a count", ["namespace"], registry=registry).labels("ns1").inc()
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    logs = artifacts_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    rules = tmp_path / "rules.yaml"
    rules.write_text("groups: []\n")
    try:
        with ExitStack() as stack:
            prom_port = start_prometheus(stack, [{
                "job_name": "dashcheck", "scrape_interval": "1s",
                "static_configs": [{"targets": [f"127.0.0.1:{port}"],
                                    "labels": {"namespace": "ns1"}}]}], rules, logs)
            # rate() over $__rate_interval (4 s here) needs a few samples.
            wait_until(lambda: prom_query(prom_port, "count_over_time(dashcheck_total[1m]) > 4"),
                       timeout=30, what="a few scrapes")
            prom = f"http://127.0.0.1:{prom_port}"
            status, verdicts = check(tmp_path, prom, dashboard([
                panel(1, "value", 'dashcheck_value{namespace=~"$namespace"}'),
                panel(2, "rate", 'sum(rate(dashcheck_total{namespace=~"$namespace"}'
                                 '[$__rate_interval]))'),
                panel(3, "nothing", "dashcheck_absent_metric"),
                panel(4, "broken", "sum(dashcheck_value"),
                panel(5, "outage only", "dashcheck_absent_metric",
                      dashstreamIncidentOnly="data only during an outage"),
                panel(6, "unknown variable", "dashcheck_value{job=\"$nope\"}"),
            ], [NAMESPACE_VAR]))
            assert verdicts == {"1 'value'": "ok", "2 'rate'": "ok", "3 'nothing'": "no data",
                                "4 'broken'": "error", "5 'outage only'": "incident-only",
                                "6 'unknown variable'": "error"}
            assert status == 1

            status, verdicts = check(tmp_path, prom, dashboard([
                panel(1, "value", 'dashcheck_value{namespace=~"$namespace"}'),
                panel(5, "outage only", "dashcheck_absent_metric",
                      dashstreamIncidentOnly="data only during an outage")], [NAMESPACE_VAR]))
            assert (status, set(verdicts.values())) == (0, {"ok", "incident-only"})

            # A variable whose label_values finds nothing: the panels that use it.
            empty = {**NAMESPACE_VAR, "query": {"query": "label_values(nothing_here, ns)"}}
            status, verdicts = check(tmp_path, prom, dashboard([
                panel(1, "uses it", 'dashcheck_value{namespace=~"$namespace"}'),
                panel(2, "does not", "dashcheck_value")], [empty]))
            assert verdicts == {"1 'uses it'": "no data", "2 'does not'": "ok"}

            usage = subprocess.run([CLI, "dashboards", "check", "--prometheus", prom,
                                    str(tmp_path / "missing.json")], capture_output=True,
                                   text=True, timeout=60)
            assert usage.returncode == 2 and "no such file" in usage.stderr
        down = subprocess.run([CLI, "dashboards", "check", "--prometheus", prom,
                               str(tmp_path)], capture_output=True, text=True, timeout=60)
        assert down.returncode == 2 and "does not answer as a Prometheus" in down.stderr
    finally:
        server.shutdown()
        thread.join(timeout=5)
