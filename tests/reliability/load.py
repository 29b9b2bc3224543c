"""The load scenarios: numbered traffic through PUSH/PULL and DEALER/ROUTER pairs,
on ZMQStream and on future sockets, over tcp://127.0.0.1.

Shared by the test suite (a share of 100,000 messages each) and ``make soak``
(250,000 each, with RSS sampled as they run). Each scenario makes its own
context and closes every socket and task it made, whatever happens.

* PUSH/PULL: a producer that never waits for the consumer except through
  back-pressure (the stream's bounded queue and ``drain()``; the future
  socket's pending send), a consumer checking every message (`traffic.Checker`).
* DEALER/ROUTER: the client sends with a window of messages in flight, the
  server checks what it receives and echoes it, the client checks the echoes:
  two checkers, each message crosses the wire twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import zmq

import tzmq
from tzmq import SendQueueFull, ZMQStream

from .traffic import Checker, MiB, messages

KINDS = ("stream-push-pull", "stream-dealer-router", "future-push-pull", "future-dealer-router")
WINDOW = 500
"""DEALER/ROUTER: messages a client lets be in flight before it waits for echoes."""
STALL = 10.0
"""Seconds without a message before a scenario fails as stuck."""


def rss_bytes() -> int:
    """This process's resident set size now (Linux), or 0 where unknown."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


@dataclass
class LoadResult:
    kind: str
    count: int
    sent: int = 0
    delivered: int = 0
    echoed: int = 0
    nbytes: int = 0
    big_frames: int = 0
    empty_frames: int = 0
    seconds: float = 0.0
    drain_waits: int = 0
    rss: list[tuple[int, int]] = field(default_factory=list)
    """(messages delivered, RSS bytes) samples, when sampling."""

    def rate(self) -> float:
        return self.delivered / self.seconds if self.seconds else 0.0


def _tcp_pair(
    ctx: zmq.Context[Any], bind_type: int, connect_type: int
) -> tuple[zmq.Socket[Any], zmq.Socket[Any]]:
    bound = ctx.socket(bind_type)
    connected = ctx.socket(connect_type)
    for sock in (bound, connected):
        sock.linger = 0
    port = bound.bind_to_random_port("tcp://127.0.0.1")
    connected.connect(f"tcp://127.0.0.1:{port}")
    return bound, connected


async def run_load(
    kind: str, count: int, seed: int, sample_every: int = 0, stall: float = STALL
) -> LoadResult:
    """Send ``count`` messages through the ``kind`` scenario and check every one."""
    result = LoadResult(kind, count)

    def sample(delivered: int) -> None:
        result.rss.append((delivered, rss_bytes()))

    checker = Checker(
        count,
        on_progress=sample if sample_every else None,
        progress_every=sample_every or 5000,
    )
    runners: dict[str, Callable[[LoadResult, Checker, int, float], Awaitable[None]]] = {
        "stream-push-pull": _stream_push_pull,
        "stream-dealer-router": _stream_dealer_router,
        "future-push-pull": _future_push_pull,
        "future-dealer-router": _future_dealer_router,
    }
    await runners[kind](result, checker, seed, stall)
    checker.verify()
    result.delivered = checker.count
    result.nbytes = checker.nbytes
    result.big_frames = checker.big
    result.empty_frames = checker.empty_frames
    result.seconds = checker.seconds
    return result


async def _stream_push_pull(result: LoadResult, checker: Checker, seed: int, stall: float) -> None:
    ctx: zmq.Context[Any] = zmq.Context()
    pull, push = _tcp_pair(ctx, zmq.PULL, zmq.PUSH)
    tx = ZMQStream(push, queue_hwm=256, queue_hwm_bytes=4 * MiB)
    rx = ZMQStream(pull)
    try:
        rx.on_recv(checker)
        for msg in messages(result.count, seed):
            while True:
                try:
                    tx.send_multipart(msg)
                    break
                except SendQueueFull:
                    result.drain_waits += 1
                    await asyncio.wait_for(tx.drain(), stall)
            result.sent += 1
        await checker.wait(stall=stall)
    finally:
        tx.close(linger=0)
        rx.close(linger=0)
        ctx.term()


class _Window:
    """The client's in-flight window: ``await room()`` while too many are unanswered."""

    def __init__(self, checker: Checker, size: int) -> None:
        self.checker = checker
        self.size = size
        self.sent = 0
        self._room = asyncio.Event()

    def answered(self) -> None:
        if self.sent - self.checker.count <= self.size // 2:
            self._room.set()

    async def room(self, stall: float) -> None:
        while self.sent - self.checker.count >= self.size:
            self._room.clear()
            await asyncio.wait_for(self._room.wait(), stall)


async def _stream_dealer_router(
    result: LoadResult, checker: Checker, seed: int, stall: float
) -> None:
    ctx: zmq.Context[Any] = zmq.Context()
    router, dealer = _tcp_pair(ctx, zmq.ROUTER, zmq.DEALER)
    # A full peer then means EAGAIN (the stream queues), never a silent drop.
    router.router_mandatory = 1
    server = ZMQStream(router)
    client = ZMQStream(dealer)
    seen = Checker(result.count, strip=1)
    window = _Window(checker, WINDOW)

    def echo(msg: list[bytes]) -> None:
        seen(msg)
        server.send_multipart(msg)

    def answer(msg: list[bytes]) -> None:
        checker(msg)
        window.answered()

    try:
        server.on_recv(echo)
        client.on_recv(answer)
        for msg in messages(result.count, seed):
            await window.room(stall)
            client.send_multipart(msg)
            window.sent += 1
        result.sent = window.sent
        await checker.wait(stall=stall)
        seen.verify()
        result.echoed = seen.count
    finally:
        client.close(linger=0)
        server.close(linger=0)
        ctx.term()


async def _until_done(checker: Checker, tasks: list[asyncio.Task[Any]], stall: float) -> None:
    """Wait for the checker while watching the tasks: a task that fails fails the wait."""
    waiter = asyncio.ensure_future(checker.wait(stall=stall))
    try:
        while not waiter.done():
            await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
            for task in tasks:
                if task.done() and not task.cancelled() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
        waiter.result()
    finally:
        for task in [waiter, *tasks]:
            task.cancel()
        for task in [waiter, *tasks]:
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _future_push_pull(result: LoadResult, checker: Checker, seed: int, stall: float) -> None:
    ctx = tzmq.Context()
    pull, push = _tcp_pair(ctx, zmq.PULL, zmq.PUSH)

    async def produce() -> None:
        for msg in messages(result.count, seed):
            await push.send_multipart(msg)
            result.sent += 1

    async def consume() -> None:
        while True:
            checker(await pull.recv_multipart())

    try:
        tasks = [asyncio.ensure_future(produce()), asyncio.ensure_future(consume())]
        await _until_done(checker, tasks, stall)
    finally:
        pull.close()
        push.close()
        ctx.term()


async def _future_dealer_router(
    result: LoadResult, checker: Checker, seed: int, stall: float
) -> None:
    ctx = tzmq.Context()
    router, dealer = _tcp_pair(ctx, zmq.ROUTER, zmq.DEALER)
    router.router_mandatory = 1
    seen = Checker(result.count, strip=1)
    window = _Window(checker, WINDOW)

    async def serve() -> None:
        while True:
            msg = await router.recv_multipart()
            seen(msg)
            await router.send_multipart(msg)

    async def produce() -> None:
        for msg in messages(result.count, seed):
            await window.room(stall)
            await dealer.send_multipart(msg)
            window.sent += 1

    async def consume() -> None:
        while True:
            checker(await dealer.recv_multipart())
            window.answered()

    try:
        tasks = [asyncio.ensure_future(f()) for f in (serve, produce, consume)]
        await _until_done(checker, tasks, stall)
        seen.verify()
        result.sent = window.sent
        result.echoed = seen.count
    finally:
        router.close()
        dealer.close()
        ctx.term()
