"""Wake-up benchmarks: the patterns where a layer must re-check ``EVENTS`` after its own sends.

A zmq socket's FD signals only libzmq's commands, not what a send did to the
socket's state: after a REP sends its reply, the next queued request is
receivable with no new signal on the FD. A layer that sends outside its own
dispatch and does not read ``EVENTS`` afterwards leaves that message waiting
for whatever wakes it next. Both cases run over inproc with HWM 0.

Reply on the next loop turn (`rep_next_turn`): the REP socket under test
answers each request one loop turn after it arrived. A stream's ``on_recv``
callback schedules ``send_multipart`` with ``IOLoop.add_callback``; a future
socket's coroutine awaits ``recv_multipart``, yields one loop turn, then
awaits ``send_multipart``; raw blocking pyzmq (no loop) replies at once. A
`QueueingClient` thread queues all ``s.echo`` requests, then takes the replies.

Request/reply from a coroutine (`dealer_coroutine`): the DEALER under test
sends a request and waits for its reply, ``s.echo`` times in a row, to a
plain ROUTER echo thread. A stream's coroutine sends, then awaits a future
that its ``on_recv`` callback resolves; a future socket awaits ``send`` then
``recv_multipart``; raw is a blocking loop.

Both report microseconds per round trip.

Thread-safety: each function runs one measurement on the calling thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from time import perf_counter
from typing import Any

import zmq
from tornado.ioloop import IOLoop

from ._harness import (
    BenchError,
    Owned,
    Sample,
    Settings,
    bind_random,
    milliseconds,
    settle,
)
from ._impls import Impl, measure
from ._peers import QueueingClient, RawEchoServer

__all__ = ["dealer_coroutine", "rep_next_turn"]

_PAYLOAD = b"x" * 16


def _unbounded(sock: Any) -> Any:
    sock.sndhwm = sock.rcvhwm = 0
    return sock


def rep_next_turn(impl: Impl, s: Settings) -> Sample:
    """Microseconds per request for ``s.echo`` queued requests to a REP replying a turn later."""
    n, wait = s.echo, s.timeout + 1

    def queued(owned: Owned, rep: Any) -> QueueingClient:
        return QueueingClient(owned, bind_random(_unbounded(rep), "inproc"), n, s.timeout)

    def sample(client: QueueingClient) -> Sample:
        return Sample.round_trips(client.completed, n, client.elapsed)

    def raw(owned: Owned) -> Sample:
        rep = owned.native(zmq.REP)
        rep.rcvtimeo = milliseconds(s.timeout)
        client = queued(owned, rep)
        recv, send = rep.recv_multipart, rep.send_multipart
        for _ in range(n):
            try:
                msg = recv()
            except zmq.Again:
                break
            send(msg)
        client.done.wait(wait)
        return sample(client)

    async def stream(owned: Owned) -> Sample:
        rep = owned.plain(zmq.REP)
        client = queued(owned, rep)
        server = owned.adopt(impl.factory(rep))
        later = IOLoop.current().add_callback
        server.on_recv(lambda msg: later(server.send_multipart, msg))
        await client.done.wait_async(wait)
        return sample(client)

    async def future(owned: Owned) -> Sample:
        rep = owned.native(zmq.REP)
        client = queued(owned, rep)

        async def serve() -> None:
            recv, send = rep.recv_multipart, rep.send_multipart
            for _ in range(n):
                msg = await recv()
                await asyncio.sleep(0)  # the reply goes out on the next loop turn
                await send(msg)

        task = asyncio.ensure_future(serve())
        await client.done.wait_async(wait)
        # The last reply may still be completing: give the server a moment.
        await settle(task, 1.0)
        return sample(client)

    return measure(impl, s.timeout, raw, stream, future)


async def _timed(ask: Callable[[], Awaitable[Any]], n: int, timeout: float) -> Sample:
    """Await ``ask()`` ``n`` times in a row, for up to ``timeout`` seconds in all."""
    done = 0

    async def rounds() -> None:
        nonlocal done
        for _ in range(n):
            await ask()
            done += 1

    start = perf_counter()
    task = asyncio.ensure_future(rounds())
    await settle(task, timeout)
    return Sample.round_trips(done, n, perf_counter() - start)


def dealer_coroutine(impl: Impl, s: Settings) -> Sample:
    """Microseconds per round trip for ``s.echo`` lock-step requests from a DEALER."""
    n, wait = s.echo, s.timeout + 1

    def echo_server(owned: Owned) -> str:
        server = RawEchoServer(owned, n, "inproc")
        if not server.bound.wait(wait):
            raise BenchError("the echo server did not bind")
        return server.endpoint

    def raw(owned: Owned) -> Sample:
        endpoint = echo_server(owned)
        dealer = owned.native(zmq.DEALER)
        dealer.rcvtimeo = milliseconds(s.timeout)
        dealer.connect(endpoint)
        send, recv = dealer.send, dealer.recv_multipart
        done = 0
        start = perf_counter()
        for _ in range(n):
            send(_PAYLOAD)
            try:
                recv()
            except zmq.Again:
                break
            done += 1
        return Sample.round_trips(done, n, perf_counter() - start)

    async def stream(owned: Owned) -> Sample:
        endpoint = echo_server(owned)
        dealer = owned.plain(zmq.DEALER)
        dealer.connect(endpoint)
        client = owned.adopt(impl.factory(dealer))
        loop = asyncio.get_running_loop()
        reply: asyncio.Future[None] = loop.create_future()

        def on_reply(_msg: list[bytes]) -> None:
            reply.set_result(None)

        async def ask() -> None:
            nonlocal reply
            reply = loop.create_future()
            client.send(_PAYLOAD)
            await reply

        client.on_recv(on_reply)
        return await _timed(ask, n, s.timeout)

    async def future(owned: Owned) -> Sample:
        endpoint = echo_server(owned)
        dealer = owned.native(zmq.DEALER)
        dealer.connect(endpoint)

        async def ask() -> None:
            await dealer.send(_PAYLOAD)
            await dealer.recv_multipart()

        return await _timed(ask, n, s.timeout)

    return measure(impl, s.timeout, raw, stream, future)
