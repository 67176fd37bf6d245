"""`vigil web`: the console served by textual-serve on loopback, loaded in headless Chromium (the alert table
renders), and the guards that keep other users and other web pages from driving it."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.browser_support import HeadlessChromium, chromium_path
from tests.conftest import vigil_cmd


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def web(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """`vigil web --demo` on a free loopback port: (base URL, token)."""
    port = free_port()
    proc = subprocess.Popen([*vigil_cmd(), "web", "--demo", "--port", str(port), "--db", str(tmp_path / "demo.db")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    token_path = Path(os.environ["XDG_DATA_HOME"]) / "vigil" / "web-token"
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"vigil web did not start: {proc.stderr and proc.stderr.read()!r}") from None
                time.sleep(0.2)
        assert token_path.exists() and token_path.stat().st_mode & 0o077 == 0
        yield url, token_path.read_text().strip()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the server and the console sessions it started
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


async def _guards(url: str, token: str) -> None:
    async with aiohttp.ClientSession() as anon:
        async with anon.get(url + "/") as r:
            assert r.status == 401 and "token" in await r.text()
        async with anon.get(url + "/?token=wrong") as r:
            assert r.status == 401
        async with anon.get(url + "/ws") as r:
            assert r.status == 401
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as user:  # cookies for an IP
        async with user.get(f"{url}/?token={token}&fontsize=14", allow_redirects=False) as r:
            assert r.status == 302 and r.headers["Location"] == "/?fontsize=14"
            cookie = r.headers["Set-Cookie"]
            assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        async with user.get(url + "/") as r:
            assert r.status == 200 and "textual-terminal" in await r.text()
            assert "fonts.googleapis.com" not in await r.text()
        # A page from another site opening the console's WebSocket (cookies or not) is refused.
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await user.ws_connect(url + "/ws", headers={"Origin": "http://evil.example"})
        assert refused.value.status == 403


def test_only_the_token_holder_from_the_same_origin_gets_the_console(web: tuple[str, str]) -> None:
    asyncio.run(_guards(*web))


async def _render(url: str, token: str, profile: Path, shot: Path) -> str:
    async with HeadlessChromium(profile) as browser, aiohttp.ClientSession() as session:
        ws = await browser.page(session)
        await browser.call(ws, "Page.enable")
        await browser.call(ws, "Page.navigate", url=f"{url}/?token={token}&probe=1&fontsize=13")
        text = ""
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            text = await browser.evaluate(ws, "(document.getElementById('vigil-probe') || {}).textContent || ''")
            if "SEVERITY" in text and "INCIDENT" in text and any(s in text for s in ("CRITICAL", "HIGH", "MEDIUM")):
                break
            await asyncio.sleep(0.5)
        await asyncio.sleep(2)  # let the canvas paint the latest frame before the picture
        await browser.screenshot(ws, shot)
        await ws.close()
        return str(text)


@pytest.mark.slow
def test_the_alert_table_renders_in_headless_chromium(web: tuple[str, str], tmp_path: Path) -> None:
    if chromium_path() is None:
        pytest.skip("headless browser test needs Debian's `chromium` package (scripts/install-sysdeps.sh adds it)")
    shot = tmp_path / "web-console.png"
    text = asyncio.run(_render(*web, tmp_path / "profile", shot))
    # The default list: one row per incident (severity, time, status, alert count, the story).
    assert "SEVERITY" in text and "ALERTS" in text and "INCIDENT" in text, text[-2000:]
    assert any(s in text for s in ("CRITICAL", "HIGH", "MEDIUM")), text[-2000:]
    assert shot.stat().st_size > 10_000  # a painted page, not a blank one
