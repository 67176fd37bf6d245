"""Headless Chromium (Debian's `chromium`) driven over the DevTools protocol: open a page, read the DOM with
JavaScript, take a screenshot. No test functions here."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import aiohttp


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class HeadlessChromium:
    """One browser with its own profile directory; `async with` starts and kills it."""

    def __init__(self, profile: Path, size: tuple[int, int] = (1400, 900)) -> None:
        self.profile = profile
        self.size = size
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self._ids = itertools.count(1)

    async def __aenter__(self) -> HeadlessChromium:
        exe = chromium_path()
        assert exe is not None
        self.profile.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
             f"--user-data-dir={self.profile}", "--remote-debugging-port=0", "--remote-allow-origins=*",
             f"--window-size={self.size[0]},{self.size[1]}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        marker = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not marker.exists() or not marker.read_text().strip():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("chromium did not start its DevTools endpoint")
            await asyncio.sleep(0.1)
        self.port = int(marker.read_text().splitlines()[0])
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(30)

    async def page(self, session: aiohttp.ClientSession) -> aiohttp.ClientWebSocketResponse:
        deadline = time.monotonic() + 30
        while True:
            async with session.get(f"http://127.0.0.1:{self.port}/json/list") as r:
                pages = [t for t in await r.json() if t.get("type") == "page"]
            if pages or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        return await session.ws_connect(pages[0]["webSocketDebuggerUrl"], max_msg_size=64 * 1024 * 1024)

    async def call(self, ws: aiohttp.ClientWebSocketResponse, method: str, **params: Any) -> dict[str, Any]:
        msg_id = next(self._ids)
        await ws.send_str(json.dumps({"id": msg_id, "method": method, "params": params}))
        while True:
            msg = await asyncio.wait_for(ws.receive(), timeout=60)
            if msg.type != aiohttp.WSMsgType.TEXT:
                raise RuntimeError(f"DevTools connection ended ({msg.type})")
            data = json.loads(msg.data)
            if data.get("id") == msg_id:
                if "error" in data:
                    raise RuntimeError(f"{method}: {data['error']}")
                return dict(data.get("result") or {})

    async def evaluate(self, ws: aiohttp.ClientWebSocketResponse, expression: str) -> Any:
        result = await self.call(ws, "Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    async def screenshot(self, ws: aiohttp.ClientWebSocketResponse, path: Path) -> None:
        shot = await self.call(ws, "Page.captureScreenshot", format="png")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
