"""RPC demo: a Tornado web handler in front of a tzmq.rpc backend, with deadlines.

The backend (`Backend`, which could live in any other process):

* an RPC server (``serve_rpc``) with ``add``, a ``slow`` coroutine method,
  ``fail``, which raises ``ValueError``, and a ``stats`` namespace;
* a pipeline server (``serve_pipeline``) that collects jobs;
* a pubsub server (``serve_pubsub``) that collects notices on one topic.

The web side: ``GET /api/add?a=1&b=2`` calls ``add`` with a deadline of
`DEADLINE` and answers JSON; ``/api/slow`` calls ``slow``, which would take
far longer than the deadline: the caller gets 504 and the deadline, which
travels with the call, cancels the handler on the server too; ``/api/fail``
gets the remote ``ValueError`` back as a ``ValueError`` and answers 500.

The demo serves the app on 127.0.0.1, fetches ``/api/add`` many times at
once with Tornado's HTTP client, checks every sum, the 504 and the server-side
cancellation, the translated error, and that every pipeline job and pubsub
notice arrived exactly once.

Thread-safety: everything runs on the IOLoop thread.

Run it (from the repository root)::

    .venv/bin/python -m demos.rpc --calls 200
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable
from typing import Any

import tornado.web
from tornado.httpclient import AsyncHTTPClient, HTTPClientError
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from demos._result import DemoResult, run_on_new_loop
from tzmq.rpc import (
    AttrHandler,
    RequestTimeout,
    RPCClient,
    connect_pipeline,
    connect_pubsub,
    connect_rpc,
    method,
    serve_pipeline,
    serve_pubsub,
    serve_rpc,
)

DEADLINE = 0.5  # seconds a web request gives the backend
SLOW = 30.0  # what ``slow`` would take if nobody cancelled it


class Stats(AttrHandler):
    def __init__(self) -> None:
        self.calls = 0

    @method
    def count(self) -> int:
        return self.calls


class Api(AttrHandler):
    """The RPC backend's methods."""

    def __init__(self) -> None:
        self.stats = Stats()
        self.cancelled = 0

    @method
    def add(self, a: int, b: int) -> int:
        self.stats.calls += 1
        return a + b

    @method
    async def slow(self) -> str:
        try:
            await asyncio.sleep(SLOW)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        return "finished"

    @method
    def fail(self) -> None:
        raise ValueError("the backend refuses")


class Collector:
    """A handler mapping that records what a one-way server received."""

    def __init__(self) -> None:
        self.got: list[Any] = []
        self.handler = {"put": self.got.append}


class AddHandler(tornado.web.RequestHandler):
    def initialize(self, client: RPCClient) -> None:
        self.client = client

    async def get(self) -> None:
        try:
            a, b = int(self.get_argument("a")), int(self.get_argument("b"))
        except ValueError:
            raise tornado.web.HTTPError(400, "a and b must be integers") from None
        try:
            total = await self.client.with_timeout(DEADLINE).call.add(a, b)
        except RequestTimeout:
            raise tornado.web.HTTPError(504) from None
        self.write({"sum": total})


class SlowHandler(AddHandler):
    async def get(self) -> None:
        try:
            self.write({"result": await self.client.with_timeout(DEADLINE).call.slow()})
        except RequestTimeout:
            raise tornado.web.HTTPError(504) from None


class FailHandler(AddHandler):
    async def get(self) -> None:
        try:
            await self.client.with_timeout(DEADLINE).call.fail()
        except ValueError as error:
            self.set_status(500)
            self.write({"error": type(error).__name__, "args": list(error.args)})


async def _eventually(check: Callable[[], bool], seconds: float = 5.0) -> None:
    """Let the loop run until ``check()`` holds or ``seconds`` pass (the caller then checks)."""
    give_up = time.monotonic() + seconds
    while not check() and time.monotonic() < give_up:
        await asyncio.sleep(0.01)


async def _until_subscribed(publish: Any, got: list[Any]) -> None:
    """Publish probes until one arrives: PUB drops what it sends before a subscription."""
    give_up = time.monotonic() + 5
    while not got:
        if time.monotonic() > give_up:
            raise RuntimeError("the pubsub subscription never arrived")
        await publish("probe")
        await asyncio.sleep(0.01)


async def _run(calls: int) -> tuple[int, str]:
    """Serve, drive, check; return (messages checked, problem or "")."""
    api, jobs, notices = Api(), Collector(), Collector()
    server = await serve_rpc(api, bind="tcp://127.0.0.1:*")
    workers = await serve_pipeline(jobs.handler, bind="tcp://127.0.0.1:*")
    listener = await serve_pubsub(notices.handler, subscribe="news", bind="tcp://127.0.0.1:*")
    client = await connect_rpc(connect=server.transport.last_endpoint.decode())
    pusher = await connect_pipeline(connect=workers.transport.last_endpoint.decode())
    publisher = await connect_pubsub(connect=listener.transport.last_endpoint.decode())
    app = tornado.web.Application(
        [
            (r"/api/add", AddHandler, {"client": client}),
            (r"/api/slow", SlowHandler, {"client": client}),
            (r"/api/fail", FailHandler, {"client": client}),
        ],
        log_function=lambda handler: None,  # the 504 and 500 are expected: keep the table clean
    )
    sockets = bind_sockets(0, "127.0.0.1")
    http = HTTPServer(app)
    http.add_sockets(sockets)
    base = f"http://127.0.0.1:{sockets[0].getsockname()[1]}"
    fetcher = AsyncHTTPClient(force_instance=True, max_clients=50)
    try:
        problems: list[str] = []
        answers = await asyncio.gather(
            *(fetcher.fetch(f"{base}/api/add?a={i}&b={i * 2}") for i in range(calls))
        )
        sums = [json.loads(r.body)["sum"] for r in answers]
        if sums != [i * 3 for i in range(calls)]:
            problems.append("wrong sums")
        if await client.call.stats.count() != calls:
            problems.append("the backend counted another number of calls")
        for path, status in (("slow", 504), ("fail", 500)):
            try:
                await fetcher.fetch(f"{base}/api/{path}")
                problems.append(f"/api/{path} succeeded")
            except HTTPClientError as error:
                body = error.response.body if error.response is not None else b"{}"
                if error.code != status:
                    problems.append(f"/api/{path} gave {error.code}, not {status}")
                elif path == "fail" and json.loads(body).get("error") != "ValueError":
                    problems.append("the remote error was not translated")
        if not problems:  # the slow call timed out: its deadline also runs on the server
            await _eventually(lambda: api.cancelled > 0)  # just after the caller's
        if api.cancelled != 1 or server.stats.expired != 1:
            problems.append("the deadline did not cancel the slow handler on the server")
        for i in range(calls):
            await pusher.notify.put(i)
        await _until_subscribed(publisher.publish("news").put, notices.got)
        notices.got.clear()
        for i in range(calls):
            await publisher.publish("news").put(i)
            await publisher.publish("other").put(-1)
        await _eventually(lambda: len(jobs.got) >= calls and len(notices.got) >= calls)
        if jobs.got != list(range(calls)):
            problems.append(f"pipeline: {len(jobs.got)} of {calls} jobs, or out of order")
        if [n for n in notices.got if n != "probe"] != list(range(calls)):
            problems.append(f"pubsub: {len(notices.got)} notices for {calls} published")
        return calls * 3 + 2, "; ".join(problems)
    finally:
        fetcher.close()
        http.stop()
        for service in (client, pusher, publisher, server, workers, listener):
            service.close()


def run_demo(calls: int = 200, timeout: float = 30.0) -> DemoResult:
    """Run the demo with ``calls`` web calls, jobs and notices; check every answer."""
    started = time.perf_counter()
    messages, problem = run_on_new_loop(lambda: _run(calls), timeout)
    seconds = time.perf_counter() - started
    detail = problem or "deadline cancelled the slow call on the server; error translated"
    return DemoResult("rpc", messages, seconds, not problem, detail)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m demos.rpc",
        description="A Tornado web handler calling a tzmq.rpc backend with deadlines.",
    )
    parser.add_argument("--calls", type=int, default=200, help="web calls, jobs and notices")
    args = parser.parse_args(argv)
    result = run_demo(args.calls)
    print(result)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
