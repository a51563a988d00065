"""Drive headless Chromium (the Debian ``chromium`` package) over the DevTools protocol.

``--dump-dom``/``--screenshot`` with ``--virtual-time-budget`` fast-forward
virtual time: the page's clock runs ahead while a WebSocket delivers at real
speed, so a live page shows almost nothing. Driving the browser over DevTools
lets the test wait in real time until the page shows what it should, then read
the DOM and take the screenshot.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from support.wait import wait_until

__all__ = ["Chromium", "chromium_path"]

FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    "--window-size=1280,900",
)


def chromium_path() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail("chromium is not installed: run `make env-up` (it installs the Debian "
                    "package listed in scripts/env/builds.py APT_PACKAGES)", pytrace=False)
    return path


class Chromium:
    """One headless browser with one page, closed by :meth:`close`."""

    def __init__(self, log_path: Path) -> None:
        # Chromium's helper processes may still write here for a moment after it exits.
        self._profile = tempfile.TemporaryDirectory(prefix="dashstream-chromium-",
                                                    ignore_cleanup_errors=True)
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            [chromium_path(), *FLAGS, f"--user-data-dir={self._profile.name}",
             "--remote-debugging-port=0", "about:blank"],
            stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: helpers are stopped with it
        )
        port_file = Path(self._profile.name) / "DevToolsActivePort"
        (text, _) = wait_until(lambda: port_file.exists() and port_file.read_text(),
                               timeout=30, what="chromium DevTools port")
        port = int(str(text).splitlines()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as resp:
            pages = [t for t in json.loads(resp.read()) if t["type"] == "page"]
        self._ws_url: str = pages[0]["webSocketDebuggerUrl"]
        self._next_id = 0

    async def _call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        self._next_id += 1
        async with aiohttp.ClientSession() as session, session.ws_connect(
            self._ws_url, max_msg_size=0
        ) as ws:
            await ws.send_json({"id": self._next_id, "method": method, "params": params or {}})
            async for msg in ws:
                reply = json.loads(msg.data)
                if reply.get("id") == self._next_id:
                    if "error" in reply:
                        raise RuntimeError(f"{method}: {reply['error']}")
                    result: dict[str, Any] = reply["result"]
                    return result
        raise RuntimeError(f"{method}: connection closed")

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return asyncio.run(self._call(method, params))

    def navigate(self, url: str) -> None:
        self.call("Page.navigate", {"url": url})

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", {"expression": expression,
                                                "returnByValue": True})
        return result["result"].get("value")

    def screenshot(self, path: Path) -> None:
        data = self.call("Page.captureScreenshot", {"format": "png"})["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)  # the group this test started
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self._log.close()
        self._profile.cleanup()
