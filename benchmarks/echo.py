"""Echo round trip: a DEALER client thread in lock-step with a ROUTER echo.

The ROUTER is the implementation under test: ``stream.on_recv(stream.send_multipart)``,
an ``await recv_multipart()`` / ``await send_multipart()`` loop on a future
socket, or, for the raw baseline, a blocking loop in a second thread. The
client (`EchoClient`, the same for all) does a warm-up, then times ``n``
send/recv round trips itself. The result is microseconds per round trip.

The measurement runs pinned to one CPU (the process's first allowed CPU; the
threads and libzmq's I/O thread started inside inherit it). Unpinned, on
this 2-CPU VM, each run lands in one of two modes, about 45 or 100 us per
round trip for the same code, depending on whether the threads share a CPU;
that swamps the 10-20% this case is meant to show. Pinned, rounds agree to
within a few percent.

Thread-safety: each function runs one measurement on the calling thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterator

import zmq

from ._harness import (
    BenchError,
    Owned,
    Sample,
    Settings,
    bind_random,
    settle,
)
from ._impls import Impl, measure
from ._peers import EchoClient, RawEchoServer

__all__ = ["echo"]


def _sample(client: EchoClient, n: int) -> Sample:
    return Sample.round_trips(client.completed, n, client.elapsed)


@contextlib.contextmanager
def _one_cpu() -> Iterator[None]:
    """Pin this thread, and so every thread it starts, to one CPU (Linux only)."""
    if not hasattr(os, "sched_setaffinity"):
        yield
        return
    allowed = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(allowed)})
    try:
        yield
    finally:
        os.sched_setaffinity(0, allowed)


def echo(impl: Impl, s: Settings, transport: str) -> Sample:
    """Microseconds per lock-step round trip over ``s.echo`` round trips."""
    n, warmup, wait = s.echo, s.echo_warmup, s.timeout + 1

    def raw(owned: Owned) -> Sample:
        server = RawEchoServer(owned, warmup + n, transport, native=True)
        if not server.bound.wait(wait):
            raise BenchError("the raw echo server did not bind")
        client = EchoClient(owned, server.endpoint, n, warmup, s.timeout)
        client.done.wait(wait)
        client.peer.finish(wait)
        return _sample(client, n)

    async def stream(owned: Owned) -> Sample:
        router = owned.plain(zmq.ROUTER)
        endpoint = bind_random(router, transport)
        server = owned.adopt(impl.factory(router))
        server.on_recv(server.send_multipart)
        client = EchoClient(owned, endpoint, n, warmup, s.timeout)
        await client.done.wait_async(wait)
        client.peer.finish(wait)
        return _sample(client, n)

    async def future(owned: Owned) -> Sample:
        router = owned.native(zmq.ROUTER)
        endpoint = bind_random(router, transport)

        async def serve() -> None:
            recv, send = router.recv_multipart, router.send_multipart
            for _ in range(warmup + n):
                await send(await recv())

        task = asyncio.ensure_future(serve())
        client = EchoClient(owned, endpoint, n, warmup, s.timeout)
        await client.done.wait_async(wait)
        client.peer.finish(wait)
        # The last reply may still be completing: give the server a moment.
        await settle(task, 1.0)
        return _sample(client, n)

    with _one_cpu():
        return measure(impl, s.timeout, raw, stream, future)
