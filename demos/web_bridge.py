"""Web bridge: a Tornado web application in front of zmq services.

The zmq side (`Backend`, which could live in any other process):

* a chat hub: a SUB that takes chat messages in and a PUB that republishes
  each with a sequence number;
* an ask service: a REP that answers a JSON question with a JSON reply, and
  announces each question on the hub.

The web side (`Bridge` plus the handlers in `make_app`):

* ``GET /``: the page (``demos/web/``): a chat with connection status and
  reconnection, and a form that asks the REP service;
* ``/ws``: a WebSocket; text from a browser is published to the hub (PUB), and
  every chat message the hub publishes (SUB) is relayed to every browser;
* ``POST /api/ask`` with ``{"q": "..."}``: one request to the REP service over
  a DEALER, the reply returned as JSON. Errors are JSON too: 400 for a bad
  question, 403 for a request from another site's page, 429 (with
  ``Retry-After``) for a client asking faster than its rate, 503 when the
  service cannot take the request (not running, or `MAX_ASKS` already
  waiting), 504 when it took the request but did not answer in time;
* ``GET /api/stats``: the figures of the app's zmq sockets
  (`tzmq.stream.SocketStats`, by name) and the bridge's own counters, as
  JSON; the page shows them in a table it refreshes every second.

The limits, each enforced on the server whatever the page does:

* a chat message or a question is 1 to `MAX_TEXT` characters; a WebSocket
  frame over `MAX_FRAME` bytes closes that socket (code 1009);
* a browser that does not read is **disconnected** (its connection dropped,
  counted in `BridgeStats.slow_disconnects`, logged) once a message would
  take the bytes waiting to be written to it past `MAX_UNSENT`: nothing is
  dropped from the middle of a chat, and the server holds at most that much
  per browser beyond the kernel's socket buffers;
* every ask ends within its timeout, the send to the service included: a send
  that cannot leave before the deadline is withdrawn, never sent later;
* ``/api/ask`` takes JSON only, and refuses a browser request whose
  ``Origin`` is not this server, so no other page can post into the chat;
* each client address may ask `ASK_BURST` questions at once and then
  `ASK_RATE` a second (a token bucket, `RateLimiter`): past that, 429 with
  ``Retry-After``, counted in `BridgeStats.asks_limited` and logged once per
  burst, so one client cannot take the service's share (or the `MAX_ASKS`
  places) of everyone else.

Many HTTP requests may be waiting at once, so the bridge talks to the REP
through a DEALER and matches replies to requests by an id, rather than
through a REQ, which allows one request at a time. It does so on a future
`tzmq.Socket` rather than with `tzmq.rpc.RequestClient`: a future socket's
send can be withdrawn at the deadline, so a question the service never took
is never sent to it later, where a RequestClient would still deliver the one
message the socket had refused, stale, to a service that comes back. Before
serving, the bridge waits until a probe it publishes comes back from the hub:
PUB/SUB drops what is sent before a subscription has arrived, so this is how
the bridge knows the relay is live.

The demo serves the app on 127.0.0.1 and drives it with Tornado's own HTTP
and WebSocket clients: it fetches the page, connects several browsers that
each send messages and must each receive every browser's messages (each
sender's in order, sequence numbers increasing), asks questions over
HTTP concurrently, and checks that ``/api/stats`` counted the asks.

Thread-safety: everything runs on the IOLoop thread.

Run it (from the repository root)::

    .venv/bin/python -m demos.web_bridge                         # the demo
    .venv/bin/python -m demos.web_bridge --role serve --port 8888  # then open the page
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging
import math
import os
import signal
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import zmq
from tornado import httpclient, iostream, netutil, web, websocket
from tornado.httpserver import HTTPServer

import tzmq
import tzmq.stream
from demos._ratelimit import RateLimiter
from demos._result import DemoResult, run_on_new_loop

CHAT, PROBE = b"chat", b"probe"
MAX_TEXT = 2000  # characters in one chat message or question
MAX_FRAME = 64 * 1024  # bytes in one WebSocket message from a browser
MAX_UNSENT = 256 * 1024  # bytes waiting to be written to one browser
MAX_ASKS = 100  # asks waiting for the service at once
ASK_BURST = 10  # asks one client address may make at once...
ASK_RATE = 2.0  # ...and then per second
PAGE_FILES = Path(__file__).with_name("web")

_log = logging.getLogger("demos.web_bridge")


class Backend:
    """The zmq services: the chat hub and the ask service, bound on 127.0.0.1."""

    def __init__(self, ctx: zmq.Context[Any], host: str = "127.0.0.1") -> None:
        self.hub_in = tzmq.ZMQStream(ctx.socket(zmq.SUB))
        self.hub_out = tzmq.ZMQStream(ctx.socket(zmq.PUB))
        self.rpc = tzmq.ZMQStream(ctx.socket(zmq.REP))
        self.endpoints: dict[str, str] = {}
        for name in ("hub_in", "hub_out", "rpc"):
            port = getattr(self, name).bind_to_random_port(f"tcp://{host}")
            self.endpoints[name] = f"tcp://{host}:{port}"
        self.hub_in.setsockopt(zmq.SUBSCRIBE, b"")
        self.hub_in.on_recv(self._republish)
        self.rpc.on_recv(self._answer)
        self.published = 0
        self.answered = 0

    def sockets(self) -> dict[str, tzmq.ZMQStream]:
        """The service's sockets by the name ``/api/stats`` shows."""
        return {"hub in": self.hub_in, "hub out": self.hub_out, "ask service": self.rpc}

    def _republish(self, msg: list[bytes]) -> None:
        if msg[0] == PROBE:
            self.hub_out.send_multipart(msg)
            return
        if msg[0] != CHAT or len(msg) != 2:
            return
        try:
            chat = json.loads(msg[1])
            sender, text = str(chat["from"]), str(chat["text"])
        except (ValueError, KeyError, TypeError):
            return  # not a chat message: nothing to relay
        self.published += 1
        chat = {"seq": self.published, "from": sender, "text": text}
        self.hub_out.send_multipart([CHAT, json.dumps(chat).encode()])

    def _answer(self, msg: list[bytes]) -> None:
        # A REP gets [request id, question] and must answer every request.
        request_id, payload = (msg[0], msg[-1]) if len(msg) == 2 else (b"", b"")
        try:
            question = str(json.loads(payload)["q"])
        except (ValueError, KeyError, TypeError):
            self.rpc.send_multipart([request_id, json.dumps({"error": "bad request"}).encode()])
            return
        self.answered += 1
        answer = {"q": question, "words": len(question.split()), "upper": question.upper()}
        self.rpc.send_multipart([request_id, json.dumps(answer).encode()])
        self._republish([CHAT, json.dumps({"from": "ask-service", "text": question}).encode()])

    def close(self) -> None:
        for stream in (self.hub_in, self.hub_out, self.rpc):
            stream.close(linger=0)


class AskFailed(Exception):
    """An ask that got no answer: ``status`` is the HTTP status that says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class BridgeStats:
    """What the bridge refused or gave up on, counted since it started."""

    slow_disconnects: int = 0  # browsers dropped for falling MAX_UNSENT bytes behind
    asks_busy: int = 0  # 503: MAX_ASKS were already waiting
    asks_unsent: int = 0  # 503: the service did not take the request in time
    asks_timed_out: int = 0  # 504: the service took it but did not answer in time
    asks_limited: int = 0  # 429: the client was past its ASK_BURST / ASK_RATE


class Bridge:
    """The web app's zmq side: relays chat both ways and asks the REP service."""

    def __init__(self, ctx: zmq.Context[Any], endpoints: dict[str, str]) -> None:
        self.pub = tzmq.ZMQStream(ctx.socket(zmq.PUB))
        self.pub.connect(endpoints["hub_in"])
        self.sub = tzmq.ZMQStream(ctx.socket(zmq.SUB))
        self.sub.connect(endpoints["hub_out"])
        for topic in (CHAT, PROBE):
            self.sub.setsockopt(zmq.SUBSCRIBE, topic)
        self.sub.on_recv(self._on_hub)
        self.rpc = ctx.socket(zmq.DEALER, socket_class=tzmq.Socket)
        self.rpc.linger = 0
        # Queue a request only toward a connected service: with none, the send
        # waits (and is withdrawn at its deadline) instead of piling up in
        # libzmq to reach a service that comes back long after the asker left.
        self.rpc.immediate = True
        self.rpc.connect(endpoints["rpc"])
        self.browsers: set[ChatSocket] = set()
        self.stats = BridgeStats()
        self._probe = os.urandom(8).hex().encode()
        self._ready = asyncio.get_running_loop().create_future()
        self._asks: dict[bytes, asyncio.Future[bytes]] = {}
        self._ids = itertools.count()
        self._reader = asyncio.ensure_future(self._read_replies())

    def sockets(self) -> dict[str, tzmq.ZMQStream | tzmq.Socket]:
        """The bridge's sockets by the name ``/api/stats`` shows."""
        return {"bridge to hub": self.pub, "bridge from hub": self.sub, "bridge asks": self.rpc}

    async def wait_ready(self, timeout: float) -> None:
        """Publish a probe until it comes back from the hub: then the relay is live."""
        deadline = time.monotonic() + timeout
        while not self._ready.done():
            if time.monotonic() > deadline:
                raise TimeoutError(f"the hub did not answer within {timeout}s")
            self.pub.send_multipart([PROBE, self._probe])
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._ready), 0.05)

    def publish(self, sender: str, text: str) -> None:
        self.pub.send_multipart([CHAT, json.dumps({"from": sender, "text": text}).encode()])

    def _on_hub(self, msg: list[bytes]) -> None:
        if msg[0] == PROBE:
            if msg[1:] == [self._probe] and not self._ready.done():
                self._ready.set_result(None)
            return
        try:
            chat = json.loads(msg[1])
        except (ValueError, IndexError):
            chat = None
        if not isinstance(chat, dict):
            return  # the hub republishes JSON objects only: anything else is not ours
        chat["type"] = "chat"
        payload = json.dumps(chat)  # ASCII: its length is its size in bytes
        for browser in list(self.browsers):
            browser.send(payload)

    async def ask(self, question: str, timeout: float) -> Any:
        """Ask the REP service; raise `AskFailed` if it gives no answer within ``timeout``."""
        if len(self._asks) >= MAX_ASKS:
            self.stats.asks_busy += 1
            raise AskFailed(503, "the ask service is busy; try again in a moment")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        request_id = b"%d" % next(self._ids)
        answer = self._asks[request_id] = loop.create_future()
        try:
            sending = self.rpc.send_multipart(
                [b"", request_id, json.dumps({"q": question}).encode()]
            )
            try:
                await asyncio.wait_for(sending, timeout)  # on timeout the send is withdrawn
            except TimeoutError:
                self.stats.asks_unsent += 1
                raise AskFailed(503, "the ask service is not running") from None
            try:
                return json.loads(await asyncio.wait_for(answer, deadline - loop.time()))
            except TimeoutError:
                self.stats.asks_timed_out += 1
                raise AskFailed(504, "the ask service did not answer in time") from None
        finally:
            self._asks.pop(request_id, None)  # a late answer is then dropped

    async def _read_replies(self) -> None:
        async for msg in self.rpc:  # ends when the socket is closed
            if len(msg) == 3 and msg[1] in self._asks:
                waiter = self._asks[msg[1]]
                if not waiter.done():
                    waiter.set_result(msg[2])

    async def close(self) -> None:
        for browser in list(self.browsers):
            browser.close(1001, "server shutting down")
        self.pub.close(linger=0)
        self.sub.close(linger=0)
        self.rpc.close()
        await self._reader


class PageHandler(web.RequestHandler):
    def get(self) -> None:
        self.render("index.html", max_text=MAX_TEXT)


class ChatSocket(websocket.WebSocketHandler):
    """One browser: its text goes to the hub, the hub's chat comes back to it."""

    _names = itertools.count(1)

    def initialize(self, bridge: Bridge) -> None:
        self.bridge = bridge
        self.name = f"guest-{next(self._names)}"

    def open(self, *args: str, **kwargs: str) -> None:
        assert self.ws_connection is not None and self.ws_connection.stream is not None
        # Tornado buffers what the kernel cannot take yet; past this a write
        # raises StreamBufferFullError instead of growing the buffer.
        self.ws_connection.stream.max_write_buffer_size = MAX_UNSENT
        self.bridge.browsers.add(self)
        self.send(json.dumps({"type": "welcome", "name": self.name, "max_text": MAX_TEXT}))

    def on_message(self, message: str | bytes) -> None:
        text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
        if not text.strip() or len(text) > MAX_TEXT:
            error = f"a message is 1 to {MAX_TEXT} characters, not all blank"
            self.send(json.dumps({"type": "error", "error": error}))
            return
        self.bridge.publish(self.name, text)

    def send(self, payload: str) -> None:
        """Write ``payload`` (JSON); disconnect this browser if it is too far behind."""
        try:
            self.write_message(payload).add_done_callback(_take_error)
        except websocket.WebSocketClosedError:
            pass  # it has gone or is going: on_close removes it
        except iostream.StreamBufferFullError:
            # A close frame would wait behind everything it has not read, so
            # the connection is dropped at once, freeing its buffer.
            self.bridge.stats.slow_disconnects += 1
            _log.warning("%s fell %d bytes behind: disconnecting it", self.name, MAX_UNSENT)
            assert self.ws_connection is not None and self.ws_connection.stream is not None
            self.ws_connection.stream.close()

    def on_close(self) -> None:
        self.bridge.browsers.discard(self)


def _take_error(written: asyncio.Future[None]) -> None:
    # A write to a browser that has gone fails; on_close already handles that,
    # so the error is only taken here, never left unretrieved.
    if not written.cancelled():
        written.exception()


class AskHandler(web.RequestHandler):
    """``POST /api/ask``: a JSON question from this site's page, a JSON answer or error."""

    def initialize(self, bridge: Bridge, timeout: float, limiter: RateLimiter) -> None:
        self.bridge = bridge
        self.timeout = timeout
        self.limiter = limiter

    async def post(self) -> None:
        origin = self.request.headers.get("Origin")
        if origin is not None and urlsplit(origin).netloc != self.request.host:
            raise web.HTTPError(403, reason="only this site's page may ask")
        address = self.request.remote_ip or "?"
        wait, first = self.limiter.take(address)
        if wait:
            self.bridge.stats.asks_limited += 1
            if first:
                rate = self.limiter.rate
                _log.warning("%s asks faster than %s a second: refusing (429)", address, rate)
            seconds = math.ceil(wait)
            reason = f"Too many questions at once: try again in {seconds} s."
            # Not an HTTPError: send_error would drop the Retry-After header.
            self.set_status(429, reason)
            self.set_header("Retry-After", str(seconds))
            self.finish({"error": reason, "status": 429})
            return
        if self.request.headers.get("Content-Type", "").split(";")[0] != "application/json":
            raise web.HTTPError(415, reason="send the question as application/json")
        try:
            question = json.loads(self.request.body)["q"]
        except (ValueError, KeyError, TypeError):
            raise web.HTTPError(400, reason='send {"q": "your question"}') from None
        if not isinstance(question, str) or not question.strip() or len(question) > MAX_TEXT:
            raise web.HTTPError(400, reason=f"a question is 1 to {MAX_TEXT} characters")
        try:
            self.write(await self.bridge.ask(question, self.timeout))
        except AskFailed as failed:
            self.send_error(failed.status, reason=str(failed))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.finish({"error": self._reason, "status": status_code})


class StatsHandler(web.RequestHandler):
    """``GET /api/stats``: each named socket's figures and the bridge's counters, as JSON."""

    def initialize(self, bridge: Bridge, sockets: dict[str, tzmq.ZMQStream | tzmq.Socket]) -> None:
        self.bridge = bridge
        self.sockets = sockets

    def get(self) -> None:
        self.set_header("Cache-Control", "no-store")
        figures = [{"name": name, **asdict(sock.stats)} for name, sock in self.sockets.items()]
        self.write({"sockets": figures, "bridge": asdict(self.bridge.stats)})


def make_app(
    bridge: Bridge,
    ask_timeout: float = 2.0,
    sockets: dict[str, tzmq.ZMQStream | tzmq.Socket] | None = None,
    limiter: RateLimiter | None = None,
) -> web.Application:
    """The web application: the page, the chat WebSocket, the ask and stats endpoints.

    ``/api/stats`` reports ``sockets`` (by default the bridge's own); asks are
    limited per address by ``limiter`` (by default `ASK_BURST`, `ASK_RATE`).
    """
    watched = bridge.sockets() if sockets is None else sockets
    limits = RateLimiter(ASK_BURST, ASK_RATE) if limiter is None else limiter
    return web.Application(
        [
            (r"/", PageHandler),
            (r"/ws", ChatSocket, {"bridge": bridge}),
            (
                r"/api/ask",
                AskHandler,
                {"bridge": bridge, "timeout": ask_timeout, "limiter": limits},
            ),
            (r"/api/stats", StatsHandler, {"bridge": bridge, "sockets": watched}),
        ],
        template_path=str(PAGE_FILES),
        static_path=str(PAGE_FILES),
        websocket_max_message_size=MAX_FRAME,
    )


def serve(app: web.Application, port: int = 0) -> tuple[HTTPServer, int]:
    """Serve ``app`` on 127.0.0.1 (``port`` 0: a free one); return the server and its port."""
    sockets = netutil.bind_sockets(port, "127.0.0.1")
    server = HTTPServer(app, max_body_size=MAX_FRAME)
    server.add_sockets(sockets)
    return server, sockets[0].getsockname()[1]


# -- the demo: real HTTP and WebSocket clients on 127.0.0.1 --------------------------


async def _read(conn: websocket.WebSocketClientConnection, timeout: float) -> str | bytes | None:
    """The next message, or None once the connection is closed; bounded by ``timeout``."""
    return await asyncio.wait_for(conn.read_message(), timeout)


class _Browser:
    """A WebSocket client standing in for a browser: connects, chats, reads the relay."""

    def __init__(self, conn: websocket.WebSocketClientConnection, name: str) -> None:
        self.conn, self.name = conn, name
        self.chats: list[dict[str, Any]] = []

    @classmethod
    async def connect(cls, url: str, timeout: float) -> _Browser:
        """Connect and wait for the welcome: from then on, the bridge relays to us."""
        conn = await websocket.websocket_connect(url, connect_timeout=timeout)
        try:
            welcome = json.loads(await _read(conn, timeout) or "{}")
            return cls(conn, welcome["name"])
        except BaseException:
            conn.close()
            raise

    async def chat(self, messages: int, expected: int, timeout: float) -> None:
        """Send ``messages`` lines, then read until ``expected`` chat messages came."""
        for i in range(messages):
            await self.conn.write_message(f"{self.name} says {i}")
        deadline = time.monotonic() + timeout
        with contextlib.suppress(asyncio.TimeoutError):  # the check reports what is missing
            while len(self.chats) < expected:
                raw = await _read(self.conn, deadline - time.monotonic())
                if raw is None:
                    break
                self.chats.append(json.loads(raw))

    async def close(self) -> None:
        self.conn.close()
        with contextlib.suppress(asyncio.TimeoutError):
            while await _read(self.conn, 1.0) is not None:
                pass  # until the server has acknowledged the close


async def _ask(
    http: httpclient.AsyncHTTPClient, port: int, question: str, timeout: float
) -> httpclient.HTTPResponse:
    return await http.fetch(
        f"http://127.0.0.1:{port}/api/ask",
        method="POST",
        headers={"Content-Type": "application/json", "Origin": f"http://127.0.0.1:{port}"},
        body=json.dumps({"q": question}),
        request_timeout=timeout,
    )


def _check_stats(stats: dict[str, Any], asks: int) -> list[str]:
    """``/api/stats`` after ``asks`` answered asks: each counted once at both ends."""
    by_name = {figures["name"]: figures for figures in stats["sockets"]}
    counted = (by_name["bridge asks"]["messages_out"], by_name["ask service"]["messages_in"])
    if counted != (asks, asks):
        return [f"/api/stats counted {counted} asks sent and received, not {asks}"]
    return []


def _check_chats(browsers: list[_Browser], messages: int, asked: list[str]) -> list[str]:
    problems = []
    for browser in browsers:
        seen: dict[str, list[str]] = {}
        seqs = [c["seq"] for c in browser.chats]
        for chat in browser.chats:
            seen.setdefault(chat["from"], []).append(chat["text"])
        for other in browsers:
            if seen.get(other.name) != [f"{other.name} says {i}" for i in range(messages)]:
                problems.append(f"{browser.name} got {other.name}'s messages wrong")
        if sorted(seen.get("ask-service", [])) != sorted(asked):
            problems.append(f"{browser.name} missed ask-service announcements")
        if seqs != sorted(set(seqs)):
            problems.append(f"{browser.name} saw sequence numbers out of order")
    return problems


async def _demo(count: int, messages: int, asks: int, timeout: float) -> tuple[int, list[str]]:
    ctx: zmq.Context[Any] = zmq.Context()
    was_counting = tzmq.stream.count_traffic()
    backend = Backend(ctx)
    bridge = Bridge(ctx, backend.endpoints)
    # The demo's asks all come from 127.0.0.1, standing in for many users at once.
    limiter = RateLimiter(max(ASK_BURST, asks), ASK_RATE)
    sockets = {**bridge.sockets(), **backend.sockets()}
    server, port = serve(make_app(bridge, sockets=sockets, limiter=limiter))
    http = httpclient.AsyncHTTPClient(force_instance=True)
    problems: list[str] = []
    browsers: list[_Browser] = []
    try:
        await bridge.wait_ready(timeout)
        page = await http.fetch(f"http://127.0.0.1:{port}/", request_timeout=timeout)
        if b"<title>tzmq web bridge</title>" not in page.body:
            problems.append("the page is not served")
        for _ in range(count):
            browsers.append(await _Browser.connect(f"ws://127.0.0.1:{port}/ws", timeout))
        # Everyone is in: chat and ask at once. Each browser expects every
        # browser's lines and the ask service's announcement of each question.
        questions = [f"question number {i}" for i in range(asks)]
        expected = count * messages + asks
        chatting = asyncio.gather(*(b.chat(messages, expected, timeout) for b in browsers))
        replies = await asyncio.gather(*(_ask(http, port, q, timeout) for q in questions))
        await chatting
        for question, reply in zip(questions, replies, strict=True):
            answer = json.loads(reply.body)
            if answer != {"q": question, "words": 3, "upper": question.upper()}:
                problems.append(f"wrong answer {answer} to {question!r}")
        problems += _check_chats(browsers, messages, questions)
        stats = await http.fetch(f"http://127.0.0.1:{port}/api/stats", request_timeout=timeout)
        problems += _check_stats(json.loads(stats.body), asks)
        return 1 + len(replies) + sum(len(b.chats) for b in browsers), problems
    finally:
        for browser in browsers:
            await browser.close()
        http.close()
        server.stop()
        await server.close_all_connections()
        await bridge.close()
        backend.close()
        ctx.term()
        tzmq.stream.count_traffic(was_counting)


def run_demo(
    browsers: int = 3, messages: int = 20, asks: int = 10, timeout: float = 10.0
) -> DemoResult:
    """Serve the app on 127.0.0.1 and drive it with real HTTP and WebSocket clients."""
    if min(browsers, messages, asks) < 1:
        raise ValueError("browsers, messages and asks must be >= 1")
    started = time.perf_counter()
    count, problems = run_on_new_loop(
        lambda: _demo(browsers, messages, asks, timeout), timeout + 10
    )
    detail = "; ".join(problems) or (
        f"{browsers} WebSockets x {browsers * messages + asks} chat messages, {asks} HTTP asks"
    )
    return DemoResult("web_bridge", count, time.perf_counter() - started, not problems, detail)


async def _serve_forever(port: int) -> None:
    ctx: zmq.Context[Any] = zmq.Context()
    tzmq.stream.count_traffic()  # the page shows messages and bytes too
    backend = Backend(ctx)
    bridge = Bridge(ctx, backend.endpoints)
    server, port = serve(make_app(bridge, sockets={**bridge.sockets(), **backend.sockets()}), port)
    stopped = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stopped.set)
    try:
        await bridge.wait_ready(5.0)
        print(f"serving http://127.0.0.1:{port}/ (Ctrl-C to stop)", flush=True)
        await stopped.wait()
    finally:
        server.stop()
        await server.close_all_connections()
        await bridge.close()
        backend.close()
        ctx.term()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m demos.web_bridge",
        description="A Tornado web app relaying browsers to zmq PUB/SUB and REP services.",
    )
    parser.add_argument("--role", choices=("demo", "serve"), default="demo")
    parser.add_argument("--port", type=int, default=8888, help="serve: the HTTP port")
    parser.add_argument("--browsers", type=int, default=3, help="demo: WebSocket clients")
    parser.add_argument("--messages", type=int, default=20, help="demo: chat lines per browser")
    parser.add_argument("--asks", type=int, default=10, help="demo: HTTP requests to the REP")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds before giving up")
    args = parser.parse_args(argv)
    if args.role == "serve":
        run_on_new_loop(lambda: _serve_forever(args.port), timeout=None)
        return 0
    result = run_demo(args.browsers, args.messages, args.asks, args.timeout)
    print(result)
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
