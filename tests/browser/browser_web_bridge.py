"""The web bridge page in a real headless Chromium, end to end on 127.0.0.1.

Run by ``make browser`` (this file is named so that ``make test`` does not
collect it): two users chatting, the ask form and its loading, timeout and
service-down states, an ask past the client's rate, limits on the page and a
frame over the server's cap, reconnection after a server restart. The chat
screenshot is kept in ``build/browser/`` for people to look at.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import zmq
from playwright.async_api import BrowserContext, Page, expect

from demos import web_bridge as demo
from demos._ratelimit import RateLimiter
from demos._result import run_on_new_loop
from tests.browser._site import ARTIFACTS, Site, chromium, site

ONLINE = re.compile(r"^online as guest-\d+$")


def _run(scenario: Callable[[], Awaitable[None]]) -> None:
    run_on_new_loop(scenario, timeout=60)


async def _open(context: BrowserContext, served: Site) -> tuple[Page, str]:
    """Open the page and wait until it is online; return it and its chat name."""
    page = await context.new_page()
    await page.goto(served.url)
    await expect(page.locator("#status")).to_have_text(ONLINE)
    status = await page.locator("#status").inner_text()
    return page, status.removeprefix("online as ")


async def _say(page: Page, text: str) -> None:
    await page.fill("#text", text)
    await page.click("#send")
    await expect(page.locator("#text")).to_have_value("")


def test_two_users_chat_and_ask(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with site() as served, chromium(tmp_path / "profile") as context:
            alice, alice_name = await _open(context, served)
            bob, bob_name = await _open(context, served)
            assert alice_name != bob_name
            await expect(alice.locator("#send")).to_be_disabled()  # nothing to send yet
            await alice.fill("#text", "   ")
            await expect(alice.locator("#send")).to_be_disabled()  # blanks are not sent

            await _say(alice, "hello bob")
            await _say(bob, "hi alice " + "x" * 300)  # one long word must wrap
            for page in (alice, bob):
                lines = page.locator("#log li.chat")
                await expect(lines).to_have_count(2)
                await expect(lines.nth(0)).to_contain_text(f"{alice_name}")
                await expect(lines.nth(0)).to_contain_text("hello bob")
                await expect(lines.nth(1)).to_contain_text("hi alice")
            await expect(alice.locator("#log li.mine")).to_have_count(1)
            await expect(alice.locator("#log li.mine")).to_contain_text("hello bob")
            await expect(alice.locator("#log li.mine .who")).to_have_text(f"{alice_name} (you)")
            await expect(bob.locator("#log li.mine")).to_contain_text("hi alice")
            width = await bob.evaluate("document.documentElement.scrollWidth")
            assert width <= 900, f"the page is {width}px wide: a long word is not wrapped"

            await alice.fill("#q", "how many words here")
            await alice.click("#ask-button")
            answer = alice.locator("#answer")
            await expect(answer).to_have_text(
                "“how many words here” has 4 words. In capitals: HOW MANY WORDS HERE"
            )
            await expect(answer).to_have_class("ok")
            # The ask service announces each question in the chat.
            await expect(bob.locator("#log li.chat").nth(2)).to_contain_text("ask-service")
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            await alice.screenshot(path=str(ARTIFACTS / "web_bridge.png"), full_page=True)
            icon = await alice.evaluate("document.querySelector('link[rel=icon]').href")
            assert (await alice.request.get(icon)).ok

    _run(scenario)


def test_history_is_capped_and_follows_the_newest(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with site() as served, chromium(tmp_path / "profile") as context:
            page, _ = await _open(context, served)
            for seq in range(1, 251):
                served.broadcast("bot", f"line {seq}", seq)
            lines = page.locator("#log li")
            await expect(lines.last).to_have_text("botline 250")
            await expect(lines).to_have_count(200)
            await expect(lines.first).to_have_text("botline 51")
            at_bottom = "(log) => log.scrollTop + log.clientHeight >= log.scrollHeight - 8"
            assert await page.locator("#log").evaluate(at_bottom)

    _run(scenario)


def test_ask_shows_loading_then_a_timeout(tmp_path: Path) -> None:
    async def scenario() -> None:
        ctx: zmq.Context[Any] = zmq.Context()
        silent = ctx.socket(zmq.REP)  # takes the question, never answers
        port = silent.bind_to_random_port("tcp://127.0.0.1")
        try:
            rpc = f"tcp://127.0.0.1:{port}"
            async with site(rpc, ask_timeout=1.0) as served, chromium(tmp_path / "p") as context:
                page = await context.new_page()
                await page.goto(served.url)
                await page.fill("#q", "anyone there")
                await page.click("#ask-button")
                await expect(page.locator("#ask-button")).to_have_text("asking…")
                await expect(page.locator("#ask-button")).to_be_disabled()
                await expect(page.locator("#answer")).to_have_class("loading")
                await expect(page.locator("#answer")).to_have_text(
                    "The ask service did not answer in time. Try again in a moment."
                )
                await expect(page.locator("#answer")).to_have_class("error")
                await expect(page.locator("#ask-button")).to_be_enabled()
                assert served.bridge.stats.asks_timed_out == 1
        finally:
            silent.close(linger=0)
            ctx.term()

    _run(scenario)


def test_ask_says_when_the_service_is_down_and_checks_its_input(tmp_path: Path) -> None:
    async def scenario() -> None:
        rpc = f"ipc://{tmp_path}/nobody"
        one_ask = RateLimiter(burst=1, rate=0.1)  # then one every 10 s
        async with (
            site(rpc, ask_timeout=0.5, limiter=one_ask) as served,
            chromium(tmp_path / "p") as context,
        ):
            page = await context.new_page()
            await page.goto(served.url)
            answer = page.locator("#answer")
            await page.click("#ask-button")
            await expect(answer).to_have_text("Type a question first.")
            await page.fill("#q", "y" * (demo.MAX_TEXT + 1))
            await page.click("#ask-button")
            await expect(answer).to_have_text(f"A question is at most {demo.MAX_TEXT} characters.")
            await page.fill("#q", "is anyone running")
            await page.click("#ask-button")
            await expect(answer).to_have_text("The ask service is not available right now.")
            assert served.bridge.stats.asks_unsent == 1
            await page.click("#ask-button")  # past this client's rate: the server says when
            await expect(answer).to_have_text(
                re.compile(r"^Too many questions at once: try again in (9|10) s\.$")
            )
            assert served.bridge.stats.asks_limited == 1

    _run(scenario)


def test_a_message_over_the_cap_is_refused_and_the_page_recovers(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with site() as served, chromium(tmp_path / "profile") as context:
            page, name = await _open(context, served)
            await page.fill("#text", "z" * (demo.MAX_TEXT + 1))
            count = page.locator("#count")
            await expect(count).to_have_text(f"{demo.MAX_TEXT + 1} / {demo.MAX_TEXT}")
            await expect(count).to_have_class("count over")
            await expect(page.locator("#send")).to_be_disabled()

            # Past the page's own check: a frame over the server's cap. The
            # server answers with close code 1009 and drops the connection at
            # once, so Chromium (still sending) may only see it drop.
            await page.evaluate(f"socket.send('z'.repeat({demo.MAX_FRAME + 1}))")
            notice = page.locator("#log li.notice")
            await expect(notice).to_contain_text(re.compile("too big for the server|was lost"))
            await expect(notice).to_contain_text("Reconnecting in")
            await expect(page.locator("#status")).not_to_have_text(f"online as {name}")
            await expect(page.locator("#status")).to_have_text(ONLINE)
            await page.fill("#text", "still here")
            await page.click("#send")
            await expect(page.locator("#log li.mine")).to_contain_text("still here")

    _run(scenario)


def test_the_page_reconnects_after_a_server_restart(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with site() as served, chromium(tmp_path / "profile") as context:
            page, name = await _open(context, served)
            await served.stop_http()
            status = page.locator("#status")
            await expect(status).to_contain_text("offline, reconnecting in")
            await expect(page.locator("#log li.notice")).to_contain_text("server is restarting")
            await expect(page.locator("#send")).to_be_disabled()
            served.start_http()
            await expect(status).to_have_text(ONLINE)
            assert (await status.inner_text()) != f"online as {name}"
            await _say(page, "back again")
            await expect(page.locator("#log li.mine")).to_contain_text("back again")

    _run(scenario)
