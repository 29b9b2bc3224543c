"""Helpers for rpc tests: bounded waits, endpoints, a holding handler."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from tornado import gen

from tzmq.rpc import Request, RequestClient, RequestServer

WAIT = timedelta(seconds=3)
T = TypeVar("T")


async def bounded(awaitable: Awaitable[T], seconds: float | None = None) -> T:
    """Await with the suite's bound (or ``seconds``)."""
    limit = WAIT if seconds is None else timedelta(seconds=seconds)
    return await gen.with_timeout(limit, awaitable)  # type: ignore[no-any-return]


async def until(check: Callable[[], bool]) -> None:
    """Let the loop run until ``check()`` holds, within the suite's bound."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + WAIT.total_seconds()
    while not check():
        if loop.time() > give_up:
            raise AssertionError(f"condition not met within {WAIT}: {check}")
        await asyncio.sleep(0.001)


def endpoint(server: Any) -> str:
    """The endpoint a server (or stream) bound last, as a string."""
    stream = server.stream if hasattr(server, "stream") else server
    address: bytes = stream.socket.last_endpoint
    return address.decode()


class Holder:
    """A callback-style handler that keeps every request for the test to answer."""

    def __init__(self) -> None:
        self.requests: list[Request] = []

    def __call__(self, request: Request) -> None:
        self.requests.append(request)

    async def wait_for(self, n: int) -> list[Request]:
        await until(lambda: len(self.requests) >= n)
        return self.requests


def serve(ctx: Any, handler: Callable[[Request], Any], **kwargs: Any) -> RequestServer:
    """A RequestServer on 127.0.0.1, a random port."""
    return RequestServer(handler, ctx, bind="tcp://127.0.0.1:*", **kwargs)


def holding(ctx: Any, **client_options: Any) -> tuple[Holder, RequestServer, RequestClient]:
    """A server whose `Holder` keeps every request, and a client connected to it."""
    holder = Holder()
    server = serve(ctx, holder)
    return holder, server, RequestClient(ctx, connect=endpoint(server), **client_options)
