"""The web bridge demo: the whole run, and the app's edges with real Tornado clients."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import zmq
from tornado import httpclient, websocket

import tzmq
from demos import web_bridge as demo
from demos._procs import ROOT
from demos._result import run_on_new_loop
from tests.stream.helpers import wait_future


def test_demo_relays_every_message_and_answers_every_ask() -> None:
    result = demo.run_demo(browsers=2, messages=10, asks=5, timeout=10)
    assert result.ok, result
    # the page, 5 answers, and per browser: both browsers' 10 lines + 5 announcements
    assert result.messages == 1 + 5 + 2 * (2 * 10 + 5)


class _App:
    def __init__(self, bridge: demo.Bridge, port: int) -> None:
        self.bridge, self.port = bridge, port
        self.http = httpclient.AsyncHTTPClient(force_instance=True)

    async def fetch(self, path: str) -> httpclient.HTTPResponse:
        return await self.http.fetch(f"http://127.0.0.1:{self.port}{path}", raise_error=False)


@asynccontextmanager
async def _serving(ctx: zmq.Context[Any], endpoints: dict[str, str]) -> AsyncIterator[_App]:
    bridge = demo.Bridge(ctx, endpoints)
    server, port = demo.serve(demo.make_app(bridge, ask_timeout=0.2))
    app = _App(bridge, port)
    try:
        yield app
    finally:
        app.http.close()
        server.stop()
        await server.close_all_connections()
        await bridge.close()


@pytest.mark.gen_test(timeout=10)
async def test_ask_is_a_504_when_the_service_is_silent(ctx: zmq.Context[Any]) -> None:
    silent = ctx.socket(zmq.REP)  # receives the question, never answers
    port = silent.bind_to_random_port("tcp://127.0.0.1")
    endpoints = {"hub_in": "inproc://none-in", "hub_out": "inproc://none-out"}
    async with _serving(ctx, {**endpoints, "rpc": f"tcp://127.0.0.1:{port}"}) as app:
        reply = await wait_future(app.fetch("/api/ask?q=anyone"))
        assert reply.code == 504
        assert app.bridge._asks == {}  # nothing left waiting for the late answer
        assert (await wait_future(app.fetch("/api/ask"))).code == 400  # no q


@pytest.mark.gen_test(timeout=10)
async def test_page_chat_limits_and_a_bad_question(ctx: zmq.Context[Any]) -> None:
    backend = demo.Backend(ctx)
    try:
        async with _serving(ctx, backend.endpoints) as app:
            await app.bridge.wait_ready(5)
            page = await wait_future(app.fetch("/"))
            assert page.code == 200 and b"<title>tzmq web bridge</title>" in page.body

            url = f"ws://127.0.0.1:{app.port}/ws"
            conn = await websocket.websocket_connect(url, connect_timeout=5)
            welcome = json.loads(await wait_future(conn.read_message()))
            assert welcome["type"] == "welcome"
            conn.write_message("x" * (demo.MAX_TEXT + 1))
            refused = json.loads(await wait_future(conn.read_message()))
            assert refused["type"] == "error"
            conn.write_message("hello")
            chat = json.loads(await wait_future(conn.read_message()))
            assert chat == {"type": "chat", "seq": 1, "from": welcome["name"], "text": "hello"}
            assert backend.published == 1  # the overlong one never reached the hub
            conn.close()

            asker = tzmq.Socket.from_socket(ctx.socket(zmq.REQ))
            asker.connect(backend.endpoints["rpc"])
            await asker.send_multipart([b"id", b"not json"])
            assert await wait_future(asker.recv_multipart()) == [b"id", b'{"error": "bad request"}']
            assert backend.answered == 0
    finally:
        backend.close()


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
