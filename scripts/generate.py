#!/usr/bin/env python3
"""`make generate` / `make check-generated`: every generated copy from its one source.

  source                                   generated copy
  operator models (pydantic)           ->  crds/*.yaml
  workloads/.../dashstream.proto       ->  *_pb2.py, *_pb2.pyi
  operator/dashstream_operator/dashboards (Python)  ->  dashboards/*.json
  the metrics contract                 ->  docs/metrics.md
  workloads/.../settings.py            ->  docs/configuration.md
  crds/, alert-rules/, dashboards/     ->  charts/dashstream-operator/{crds,files}/
  the chart (helm template)            ->  manifests/install/
  manifests/argocd/health/health.lua.in  ->  manifests/argocd/health/dashstream.io/*/health.lua
  alertmanager/alertmanager.yml        ->  manifests/examples/alertmanagerconfig.yaml

With --check nothing is written; the exit code is 1 when any copy differs.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable


def steps(check: bool) -> list[tuple[str, list[str]]]:
    mode = "--check" if check else "--out"
    out = [
        ("CRDs", [PY, "-m", "dashstream_operator.crdgen", mode, "crds"]),
        ("protobuf code", [PY, "scripts/gen_proto.py", *(["--check"] if check else [])]),
        ("dashboards", [PY, "-m", "dashstream_operator.dashboards", mode, "dashboards"]),
        ("reference docs", [PY, "scripts/gen_docs.py", *(["--check"] if check else [])]),
    ]
    out.append(("Argo CD health checks",
                [PY, "scripts/gen_health_lua.py", *(["--check"] if check else [])]))
    out.append(("Alertmanager routing",
                [PY, "scripts/gen_alertmanager.py", *(["--check"] if check else [])]))
    chart_gen = REPO / "scripts/gen_chart.py"
    if chart_gen.exists():
        out.append(("chart copies and manifests",
                    [PY, str(chart_gen), *(["--check"] if check else [])]))
    return out


def main(argv: list[str]) -> int:
    check = "--check" in argv
    failed = []
    for label, cmd in steps(check):
        res = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
        status = "ok" if res.returncode == 0 else "DIFFERS" if check else "FAILED"
        print(f"[{'check' if check else 'generate'}] {label:28s} {status}")
        if res.returncode != 0:
            failed.append(label)
            sys.stderr.write(res.stdout + res.stderr)
    if failed:
        hint = "run `make generate` and commit the result" if check else "see the errors above"
        print(f"[{'check' if check else 'generate'}] {', '.join(failed)}: {hint}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
