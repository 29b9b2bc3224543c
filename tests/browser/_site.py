"""The web bridge served on 127.0.0.1 for a real Chromium, and the browser itself.

`Site` runs the demo's app (with or without its zmq services) on the test's
own loop, so a test can stop the service, restart the HTTP server on the same
port or broadcast straight from the bridge while the page watches. `chromium`
launches Debian's Chromium through Playwright with a fresh profile; a missing
Chromium or Playwright fails the test (CI must run these), it never skips.

Thread-safety: everything runs on the test's IOLoop thread.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import zmq
from tornado.httpserver import HTTPServer

from demos import web_bridge as demo
from demos._procs import ROOT
from demos._ratelimit import RateLimiter

if TYPE_CHECKING:
    from playwright.async_api import BrowserContext

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "build" / "browser"  # screenshots kept for people to look at
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 5000  # the bound on every wait for the page


class Site:
    """The bridge's app served on 127.0.0.1, with its zmq services unless told otherwise."""

    def __init__(
        self,
        ctx: zmq.Context[Any],
        rpc: str | None,
        ask_timeout: float,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.backend: demo.Backend | None = None
        if rpc is None:
            self.backend = demo.Backend(ctx)
            endpoints = self.backend.endpoints
        else:
            endpoints = {"hub_in": "inproc://no-hub-in", "hub_out": "inproc://no-hub-out"}
            endpoints["rpc"] = rpc
        self.bridge = demo.Bridge(ctx, endpoints)
        self.app = demo.make_app(self.bridge, ask_timeout=ask_timeout, limiter=limiter)
        self.server: HTTPServer | None
        self.server, self.port = demo.serve(self.app)
        self.url = f"http://127.0.0.1:{self.port}/"

    async def stop_http(self) -> None:
        """Stop serving as a restart does: the port closes, every browser is cut off."""
        assert self.server is not None
        self.server.stop()
        for browser in list(self.bridge.browsers):
            browser.close(1001, "server restarting")
        await self.server.close_all_connections()
        self.server = None

    def start_http(self) -> None:
        """Serve again on the same port."""
        self.server, _ = demo.serve(self.app, self.port)

    def broadcast(self, sender: str, text: str, seq: int = 0) -> None:
        """Relay a chat line to every browser as if the hub had published it."""
        chat = {"seq": seq, "from": sender, "text": text}
        self.bridge._on_hub([demo.CHAT, json.dumps(chat).encode()])

    async def close(self) -> None:
        if self.server is not None:
            self.server.stop()
            await self.server.close_all_connections()
        await self.bridge.close()
        if self.backend is not None:
            self.backend.close()


@asynccontextmanager
async def site(
    rpc: str | None = None, ask_timeout: float = 2.0, limiter: RateLimiter | None = None
) -> AsyncIterator[Site]:
    """Serve the bridge; ``rpc`` points it at another ask service instead of its own."""
    ctx: zmq.Context[Any] = zmq.Context()
    served = Site(ctx, rpc, ask_timeout, limiter)
    try:
        if served.backend is not None:
            await served.bridge.wait_ready(5)
        yield served
    finally:
        await served.close()
        ctx.destroy(linger=0)


@asynccontextmanager
async def chromium(profile: Path) -> AsyncIterator[BrowserContext]:
    """Headless Chromium with a fresh profile in ``profile``; fails if it is not installed."""
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        pytest.fail("Playwright is missing: pip install playwright (never `playwright install`)")
    if not CHROMIUM.exists():
        pytest.fail(f"Chromium is missing at {CHROMIUM}: apt-get install chromium")
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=FLAGS,
            viewport={"width": 900, "height": 800},
        )
        context.set_default_timeout(WAIT_MS)
        try:
            yield context
        finally:
            await context.close()
