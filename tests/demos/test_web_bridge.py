"""The web bridge demo: the whole run, and the app's edges with real Tornado clients.

Each defect the server once had has a test here: a browser that never reads,
writes that fail after a browser left, asks while the service is down or
silent, and ``/api/ask`` called past its limits or from another site.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import zmq
from tornado import httpclient, websocket

import tzmq
import tzmq.stream
from demos import web_bridge as demo
from demos._procs import ROOT
from demos._ratelimit import RateLimiter
from demos._result import run_on_new_loop
from tests.stream.helpers import wait_future

ASK_TIMEOUT = 0.2


def test_demo_relays_every_message_and_answers_every_ask() -> None:
    result = demo.run_demo(browsers=2, messages=10, asks=5, timeout=10)
    assert result.ok, result
    # the page, 5 answers, and per browser: both browsers' 10 lines + 5 announcements
    assert result.messages == 1 + 5 + 2 * (2 * 10 + 5)


class _App:
    def __init__(self, bridge: demo.Bridge, port: int) -> None:
        self.bridge, self.port = bridge, port
        self.http = httpclient.AsyncHTTPClient(force_instance=True)

    async def fetch(self, path: str, **kwargs: Any) -> httpclient.HTTPResponse:
        url = f"http://127.0.0.1:{self.port}{path}"
        return await self.http.fetch(url, raise_error=False, **kwargs)

    async def ask(self, body: Any, **headers: str) -> tuple[int, dict[str, Any]]:
        """POST ``body`` (JSON-encoded unless bytes) as this site's page does."""
        headers = {"Content-Type": "application/json", **headers}
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        reply = await self.fetch("/api/ask", method="POST", headers=headers, body=data)
        return reply.code, json.loads(reply.body)

    async def browser(self) -> websocket.WebSocketClientConnection:
        url = f"ws://127.0.0.1:{self.port}/ws"
        return await websocket.websocket_connect(url, connect_timeout=5)


@asynccontextmanager
async def _serving(
    ctx: zmq.Context[Any], endpoints: dict[str, str], limiter: RateLimiter | None = None
) -> AsyncIterator[_App]:
    bridge = demo.Bridge(ctx, endpoints)
    server, port = demo.serve(demo.make_app(bridge, ask_timeout=ASK_TIMEOUT, limiter=limiter))
    app = _App(bridge, port)
    try:
        yield app
    finally:
        app.http.close()
        server.stop()
        await server.close_all_connections()
        await bridge.close()


@asynccontextmanager
async def _with_backend(
    ctx: zmq.Context[Any], limiter: RateLimiter | None = None
) -> AsyncIterator[tuple[_App, demo.Backend]]:
    backend = demo.Backend(ctx)
    try:
        async with _serving(ctx, backend.endpoints, limiter) as app:
            await app.bridge.wait_ready(5)
            yield app, backend
    finally:
        backend.close()


async def _until(condition: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    """Wait (bounded) for a state that no event announces, such as a handler's close."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout}s for {what}")
        await asyncio.sleep(0.01)


NO_HUB = {"hub_in": "inproc://none-in", "hub_out": "inproc://none-out"}


@pytest.mark.gen_test(timeout=10)
async def test_ask_is_a_504_when_the_service_is_silent(ctx: zmq.Context[Any]) -> None:
    silent = ctx.socket(zmq.REP)  # receives the question, never answers
    port = silent.bind_to_random_port("tcp://127.0.0.1")
    async with _serving(ctx, {**NO_HUB, "rpc": f"tcp://127.0.0.1:{port}"}) as app:
        code, body = await wait_future(app.ask({"q": "anyone"}))
        assert (code, body["status"]) == (504, 504)
        assert body["error"] == "the ask service did not answer in time"
        assert app.bridge._asks == {}  # nothing left waiting for the late answer
        assert app.bridge.stats.asks_timed_out == 1


@pytest.mark.gen_test(timeout=10)
async def test_every_ask_is_answered_in_time_while_the_service_is_down(
    ctx: zmq.Context[Any], tmp_path: Path
) -> None:
    # More asks at once than libzmq's send high-water mark (1000) and than
    # MAX_ASKS: each still ends within the ask timeout, over HTTP too.
    rpc = f"ipc://{tmp_path}/rpc"
    async with _serving(ctx, {**NO_HUB, "rpc": rpc}) as app:
        started = time.monotonic()
        asks = [app.bridge.ask("hi", ASK_TIMEOUT) for _ in range(1100)]
        failures = await wait_future(asyncio.gather(*asks, return_exceptions=True))
        over_http = await wait_future(asyncio.gather(*(app.ask({"q": "hi"}) for _ in range(5))))
        assert time.monotonic() - started < 2 * ASK_TIMEOUT + 1
        assert {(type(f), getattr(f, "status", None)) for f in failures} == {(demo.AskFailed, 503)}
        assert over_http == [(503, {"error": "the ask service is not running", "status": 503})] * 5
        stats = app.bridge.stats
        assert (stats.asks_unsent, stats.asks_busy) == (demo.MAX_ASKS + 5, 1100 - demo.MAX_ASKS)

        # The service starts: none of those withdrawn requests reaches it,
        # and the next ask is answered.
        service = ctx.socket(zmq.REP, socket_class=tzmq.Socket)
        service.bind(rpc)
        asking = asyncio.ensure_future(app.ask({"q": "now"}))
        request = await wait_future(service.recv_multipart())
        assert json.loads(request[-1]) == {"q": "now"}
        await service.send_multipart([request[0], b'{"q": "now", "words": 1}'])
        assert await wait_future(asking) == (200, {"q": "now", "words": 1})


@pytest.mark.gen_test(timeout=10)
async def test_ask_takes_json_posts_within_the_limits_from_this_site_only(
    ctx: zmq.Context[Any],
) -> None:
    async with _with_backend(ctx) as (app, backend):
        own = f"http://127.0.0.1:{app.port}"
        assert await wait_future(app.ask({"q": "two words"}, Origin=own)) == (
            200,
            {"q": "two words", "words": 2, "upper": "TWO WORDS"},
        )
        refused = [
            (await app.ask({"q": "x" * 20_000}), 400),
            (await app.ask({"q": "   "}), 400),
            (await app.ask({"q": 7}), 400),
            (await app.ask(b"q=hello"), 400),
            (await app.ask({"q": "hi"}, Origin="http://evil.example"), 403),
            (await app.ask({"q": "hi"}, **{"Content-Type": "text/plain"}), 415),
        ]
        for (code, body), expected in refused:
            assert (code, body["status"]) == (expected, expected), body
        get = await wait_future(app.fetch("/api/ask?q=hello"))
        assert get.code == 405 and json.loads(get.body)["status"] == 405
        assert backend.answered == 1  # only the good question reached the service


class _Clock:
    """A clock the test moves, for the ask limiter."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.gen_test(timeout=10)
async def test_a_client_past_its_ask_rate_gets_429_until_tokens_come_back(
    ctx: zmq.Context[Any], caplog: pytest.LogCaptureFixture
) -> None:
    clock = _Clock()
    limiter = RateLimiter(burst=3, rate=0.5, clock=clock)
    async with _with_backend(ctx, limiter) as (app, backend):
        for _ in range(3):
            assert (await wait_future(app.ask({"q": "hi"})))[0] == 200
        with caplog.at_level(logging.WARNING, logger="demos.web_bridge"):
            for _ in range(3):
                reply = await wait_future(
                    app.fetch(
                        "/api/ask",
                        method="POST",
                        headers={"Content-Type": "application/json"},
                        body=b'{"q": "hi"}',
                    )
                )
                assert reply.code == 429 and reply.headers["Retry-After"] == "2"
                assert json.loads(reply.body) == {
                    "error": "Too many questions at once: try again in 2 s.",
                    "status": 429,
                }
        refusals = [r for r in caplog.records if r.name == "demos.web_bridge"]
        assert len(refusals) == 1  # logged once a burst, not once a request
        assert backend.answered == 3 and app.bridge.stats.asks_limited == 3
        clock.now += 2.0  # one token back
        assert (await wait_future(app.ask({"q": "again"})))[0] == 200
        assert (await wait_future(app.ask({"q": "again"})))[0] == 429


def test_ask_limiter_keeps_addresses_apart_and_forgets_idle_ones() -> None:
    clock = _Clock()
    limiter = RateLimiter(burst=2, rate=1.0, clock=clock)
    assert [limiter.take("a")[0] for _ in range(3)] == [0.0, 0.0, 1.0]
    assert limiter.take("a") == (1.0, False)  # still refused, not the first refusal
    assert limiter.take("b") == (0.0, False)  # another address has its own bucket
    clock.now += 0.5
    assert limiter.take("a") == (0.5, False)  # half a token back: half a second to go
    for i in range(5000):  # many addresses, each asking once, a millisecond apart
        clock.now += 0.001
        assert limiter.take(f"10.0.{i // 250}.{i % 250}") == (0.0, False)
    # Only addresses that asked within the last burst / rate = 2 s are kept.
    assert len(limiter) <= 2 * 2000 + 1
    with pytest.raises(ValueError):
        RateLimiter(burst=0, rate=1.0)


@pytest.mark.gen_test(timeout=10)
async def test_page_chat_limits_and_a_bad_question(ctx: zmq.Context[Any]) -> None:
    async with _with_backend(ctx) as (app, backend):
        page = await wait_future(app.fetch("/"))
        assert page.code == 200 and b"<title>tzmq web bridge</title>" in page.body
        assert f'data-max-text="{demo.MAX_TEXT}"'.encode() in page.body
        for asset in ("app.js", "style.css", "favicon.svg"):
            assert (await wait_future(app.fetch(f"/static/{asset}"))).code == 200

        conn = await app.browser()
        welcome = json.loads(await wait_future(conn.read_message()))
        assert welcome == {"type": "welcome", "name": welcome["name"], "max_text": demo.MAX_TEXT}
        for refused in ("x" * (demo.MAX_TEXT + 1), "", " \n "):
            conn.write_message(refused)
            error = json.loads(await wait_future(conn.read_message()))
            assert error["type"] == "error"
        conn.write_message("hello")
        chat = json.loads(await wait_future(conn.read_message()))
        assert chat == {"type": "chat", "seq": 1, "from": welcome["name"], "text": "hello"}
        assert backend.published == 1  # the refused ones never reached the hub

        conn.write_message("x" * (demo.MAX_FRAME + 1))  # over the frame cap: closed
        assert await wait_future(conn.read_message()) is None
        assert conn.close_code == 1009
        conn.close()

        asker = tzmq.Socket.from_socket(ctx.socket(zmq.REQ))
        asker.connect(backend.endpoints["rpc"])
        await asker.send_multipart([b"id", b"not json"])
        assert await wait_future(asker.recv_multipart()) == [b"id", b'{"error": "bad request"}']
        assert backend.answered == 0


@pytest.mark.gen_test(timeout=10)
async def test_stats_reports_each_named_socket_and_the_bridge(ctx: zmq.Context[Any]) -> None:
    was_counting = tzmq.stream.count_traffic()
    backend = demo.Backend(ctx)
    bridge = demo.Bridge(ctx, backend.endpoints)
    named = {**bridge.sockets(), **backend.sockets()}
    server, port = demo.serve(demo.make_app(bridge, ask_timeout=2, sockets=named))
    app = _App(bridge, port)
    try:
        await bridge.wait_ready(5)
        assert await wait_future(app.ask({"q": "how many"})) == (
            200,
            {"q": "how many", "words": 2, "upper": "HOW MANY"},
        )
        reply = await wait_future(app.fetch("/api/stats"))
        assert reply.code == 200 and reply.headers["Cache-Control"] == "no-store"
        stats = json.loads(reply.body)
        sockets = {figures.pop("name"): figures for figures in stats["sockets"]}
        assert list(sockets) == list(named)
        question = len(json.dumps({"q": "how many"}).encode())
        asks, service = sockets["bridge asks"], sockets["ask service"]
        assert (asks["kind"], asks["socket_type"], service["socket_type"]) == (
            "Socket",
            "DEALER",
            "REP",
        )
        assert (asks["messages_out"], asks["bytes_out"]) == (1, len(b"") + len(b"0") + question)
        assert (service["messages_in"], service["bytes_in"]) == (1, len(b"0") + question)
        assert (service["messages_out"], asks["messages_in"]) == (1, 1)
        assert all(
            figures["traffic"] and figures["callback_errors"] == 0 for figures in sockets.values()
        )
        assert sockets["bridge from hub"]["batches"] >= 1
        assert stats["bridge"] == {
            "slow_disconnects": 0,
            "asks_busy": 0,
            "asks_unsent": 0,
            "asks_timed_out": 0,
            "asks_limited": 0,
        }
    finally:
        app.http.close()
        server.stop()
        await server.close_all_connections()
        await bridge.close()
        backend.close()
        tzmq.stream.count_traffic(was_counting)


@pytest.mark.gen_test(timeout=20)
async def test_a_browser_that_never_reads_is_disconnected_at_the_bound(
    ctx: zmq.Context[Any], caplog: pytest.LogCaptureFixture
) -> None:
    async with _serving(ctx, {**NO_HUB, "rpc": "inproc://none-rpc"}) as app:
        reader, writer = await _silent_browser(app.port)
        await _until(lambda: len(app.bridge.browsers) == 1, "the browser to be registered")
        (slow_name,) = (browser.name for browser in app.bridge.browsers)
        reader2, writer2 = await _silent_browser(app.port)  # a second one that reads
        await _until(lambda: len(app.bridge.browsers) == 2, "the second browser")
        line = json.dumps({"type": "chat", "seq": 1, "from": "x", "text": "y" * demo.MAX_TEXT})
        for sent in range(20_000):  # 40 MB: far more than the kernel buffers on loopback
            if app.bridge.stats.slow_disconnects:
                break
            app.bridge._on_hub([demo.CHAT, line.encode()])
            await reader2.read(2 * len(line))  # keeps pace: never disconnected
            if sent % 64 == 0:
                await asyncio.sleep(0)  # let the IOLoop write what the socket takes
        assert app.bridge.stats.slow_disconnects == 1
        await _until(lambda: len(app.bridge.browsers) == 1, "the slow browser to be dropped")
        assert slow_name not in {browser.name for browser in app.bridge.browsers}

        assert await wait_future(reader.read()) is not None  # its connection ends
        writer.close()
        writer2.close()
    gc.collect()  # an unretrieved task exception is logged when the task is collected
    never = [r for r in caplog.records if "never retrieved" in r.getMessage()]
    assert never == []
    assert [r.getMessage() for r in caplog.records if r.name == "demos.web_bridge"] == [
        f"{slow_name} fell {demo.MAX_UNSENT} bytes behind: disconnecting it"
    ]


async def _silent_browser(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A WebSocket client that completes the handshake, then never reads again."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=1024)
    key = os.urandom(16).hex()[:22] + "=="
    writer.write(
        f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = await wait_future(reader.readuntil(b"\r\n\r\n"))
    assert head.startswith(b"HTTP/1.1 101")
    return reader, writer


@pytest.mark.gen_test(timeout=10)
async def test_a_browser_that_leaves_mid_write_leaves_no_unretrieved_error(
    ctx: zmq.Context[Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="asyncio")
    async with _serving(ctx, {**NO_HUB, "rpc": "inproc://none-rpc"}) as app:
        reader, writer = await _silent_browser(app.port)
        await _until(lambda: len(app.bridge.browsers) == 1, "the browser to be registered")
        (browser,) = app.bridge.browsers
        line = json.dumps({"text": "y" * 1000})
        assert browser.ws_connection is not None and browser.ws_connection.stream is not None
        stream = browser.ws_connection.stream
        while not stream.writing():  # until the kernel buffers are full and writes wait
            for _ in range(64):
                browser.send(line)
            await asyncio.sleep(0)
        writer.transport.abort()
        await _until(lambda: not app.bridge.browsers, "the handler to close")
        assert app.bridge.stats.slow_disconnects == 0
        del browser, reader, writer
    gc.collect()
    assert [r for r in caplog.records if "never retrieved" in r.getMessage()] == []


def test_serve_role_serves_the_page_until_interrupted() -> None:
    async def run() -> tuple[str, int | None]:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "demos.web_bridge", "--role", "serve", "--port", "0",
            stdout=asyncio.subprocess.PIPE, cwd=ROOT, env=env,
        )  # fmt: skip
        http = httpclient.AsyncHTTPClient(force_instance=True)
        try:
            assert proc.stdout is not None
            line = (await asyncio.wait_for(proc.stdout.readline(), 10)).decode()
            page = await http.fetch(line.split()[1], request_timeout=5)
            proc.send_signal(signal.SIGINT)
            await asyncio.wait_for(proc.wait(), 5)
            return page.body.decode(), proc.returncode
        finally:
            http.close()
            if proc.returncode is None:
                proc.kill()
                await proc.wait()

    body, code = run_on_new_loop(run, timeout=20)
    assert "tzmq web bridge" in body
    assert code == 0
