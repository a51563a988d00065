"""The live viewer at ``/``, rendered by headless Chromium while events stream in."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dashstream_workloads.contract import QUALITY_MONITOR, WEBSOCKET_SERVER
from integration.workloads.browser import Chromium
from integration.workloads.servers import ServerProc
from support.wait import wait_until

StartServer = Callable[..., ServerProc]

PAGE_STATE = """JSON.stringify({
  state: document.getElementById("state").textContent,
  events: Number(document.body.dataset.events),
  rate: document.getElementById("rate").textContent,
  anomalies: document.getElementById("anomaly-counts").textContent,
  rows: [...document.querySelectorAll("#events tr")].map(
    tr => [...tr.cells].map(td => td.textContent)),
})"""


def test_viewer_shows_live_events(
    servers: StartServer, artifacts_dir: Path, logs_dir: Path
) -> None:
    ws = servers(WEBSOCKET_SERVER)
    models = ("viewer-model-a", "viewer-model-b")
    servers(QUALITY_MONITOR, {"QUALITY_MONITOR_RATE": "20",
                              "QUALITY_MONITOR_MODELS": ",".join(models)})
    browser = Chromium(logs_dir / "chromium.log")
    try:
        browser.navigate(f"{ws.base}/")

        def page() -> dict[str, Any]:
            state: dict[str, Any] = json.loads(browser.evaluate(PAGE_STATE))
            return state

        first, _ = wait_until(lambda: (p := page())["events"] >= 5 and p, timeout=30,
                              what="events on the page")
        later, waited = wait_until(lambda: (p := page())["events"] >= first["events"] + 20 and p,
                                   timeout=30, what="more events arriving")
        shot = artifacts_dir / "viewer.png"
        browser.screenshot(shot)
    finally:
        browser.close()
    print(f"viewer: {first['events']} -> {later['events']} events in {waited:.1f}s, "
          f"rate shown {later['rate']}/s; screenshot {shot}")
    assert later["state"] == "open"
    assert 0 < len(later["rows"]) <= 50
    assert {row[4] for row in later["rows"]} <= set(models)  # the model column
    assert all(row[6] == "passed" or row[6].startswith("failed: ") for row in later["rows"])
    assert later["rows"] != first["rows"]  # the table moved: live, not a snapshot
    assert shot.stat().st_size > 10_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
