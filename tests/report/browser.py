"""Open a page in headless Chromium with networking disabled, over the DevTools protocol.

Collects console errors, uncaught exceptions and every request that was not for a local file,
waits until the expected number of charts has rendered, then reads the DOM and takes a
screenshot. Chromium is Debian's `chromium` (the Makefile installs it for the tests).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from websockets.asyncio.client import connect

# No proxy that answers and no name that resolves: any fetch the page tries fails (and is seen).
OFFLINE_FLAGS = ("--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND")
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:")


def chromium_binary() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class PageVisit:
    console_errors: list[str] = field(default_factory=list)
    remote_requests: list[str] = field(default_factory=list)
    charts: dict[str, int] = field(default_factory=dict)  # chart key -> data mark elements
    text: str = ""


class DevTools:
    """One flat DevTools session on one page target."""

    def __init__(self, socket) -> None:
        self.socket = socket
        self.ids = itertools.count(1)
        self.session: str | None = None
        self.visit = PageVisit()
        self.seen: set[str | None] = set()

    async def call(self, method: str, **params) -> dict:
        msg_id = next(self.ids)
        message = {"id": msg_id, "method": method, "params": params}
        if self.session:
            message["sessionId"] = self.session
        await self.socket.send(json.dumps(message))
        while True:
            reply = json.loads(await self.socket.recv())
            if reply.get("id") == msg_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.observe(reply)

    def observe(self, event: dict) -> None:
        method, params = event.get("method"), event.get("params", {})
        self.seen.add(method)
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            args = params.get("args", [])
            self.visit.console_errors.append(
                " ".join(str(a.get("value", a.get("description", ""))) for a in args)
            )
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            self.visit.console_errors.append(
                details.get("exception", {}).get("description") or details.get("text", "")
            )
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            self.visit.console_errors.append(params["entry"].get("text", ""))
        elif method == "Network.requestWillBeSent":
            url = params.get("request", {}).get("url", "")
            if not url.startswith(LOCAL_SCHEMES):
                self.visit.remote_requests.append(url)

    async def wait_for(self, method: str, timeout_s: float) -> None:
        """Read events until `method` arrives (the others are observed as usual)."""
        async with asyncio.timeout(timeout_s):
            while method not in self.seen:
                event = json.loads(await self.socket.recv())
                self.observe(event)

    async def evaluate(self, expression: str) -> object:
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")


CHART_MARKS_JS = """
Object.fromEntries([...document.querySelectorAll('.vis[data-chart]')].map(
  (v) => [v.dataset.chart, v.querySelectorAll('svg g.role-mark path').length]))
"""


async def _visit(ws_url: str, page: Path, expected_charts: int, screenshot: Path | None,
                 timeout_s: float) -> PageVisit:
    async with connect(ws_url, max_size=None) as socket:
        tools = DevTools(socket)
        target = await tools.call("Target.createTarget", url="about:blank")
        attached = await tools.call("Target.attachToTarget", targetId=target["targetId"],
                                    flatten=True)
        tools.session = attached["sessionId"]
        for domain in ("Runtime", "Log", "Network", "Page"):
            await tools.call(f"{domain}.enable")
        await tools.call("Emulation.setDeviceMetricsOverride", width=1200, height=900,
                         deviceScaleFactor=1, mobile=False)
        await tools.call("Page.navigate", url=page.resolve().as_uri())
        await tools.wait_for("Page.loadEventFired", timeout_s)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            charts = await tools.evaluate(CHART_MARKS_JS) or {}
            rendered = sum(1 for marks in charts.values() if marks)
            if len(charts) >= expected_charts and rendered == len(charts):
                break
            await asyncio.sleep(0.2)
        tools.visit.charts = await tools.evaluate(CHART_MARKS_JS) or {}
        tools.visit.text = await tools.evaluate("document.body.innerText") or ""
        if screenshot is not None:
            shot = await tools.call("Page.captureScreenshot", format="png",
                                    captureBeyondViewport=True)
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            screenshot.write_bytes(base64.b64decode(shot["data"]))
        return tools.visit


def _stop_group(browser: subprocess.Popen) -> None:
    """Stop the browser and every helper process it started (its own session)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(browser.pid, signal.SIGTERM)
    try:
        browser.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(browser.pid, signal.SIGKILL)
        browser.wait()


def visit_offline(page: Path, expected_charts: int, screenshot: Path | None = None,
                  timeout_s: float = 60) -> PageVisit:
    """Load `page` in headless Chromium with no network; see PageVisit for what is collected."""
    binary = chromium_binary()
    assert binary, "chromium is not installed"
    # Chromium's helper processes may still be writing the profile while the browser exits:
    # the whole process group is stopped, and a file left behind never fails the visit.
    with tempfile.TemporaryDirectory(prefix="chromium-profile-",
                                     ignore_cleanup_errors=True) as profile:
        browser = subprocess.Popen(
            [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-dev-shm-usage", "--remote-debugging-address=127.0.0.1",
             "--remote-debugging-port=0", f"--user-data-dir={profile}", *OFFLINE_FLAGS,
             "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            start_new_session=True,
        )
        try:
            ws_url = _devtools_url(browser, timeout_s)
            # Keep reading its log, so a full pipe never stalls the browser.
            threading.Thread(target=browser.stderr.read, daemon=True).start()
            return asyncio.run(_visit(ws_url, Path(page), expected_charts, screenshot, timeout_s))
        finally:
            _stop_group(browser)


def _devtools_url(browser: subprocess.Popen, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    seen = []
    while time.monotonic() < deadline:
        line = browser.stderr.readline()
        if not line and browser.poll() is not None:
            break
        seen.append(line)
        found = re.search(r"DevTools listening on (ws://\S+)", line)
        if found:
            return found.group(1)
    raise RuntimeError("chromium did not start: " + "".join(seen[-5:]).strip())
