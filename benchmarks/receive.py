"""Receive benchmarks: draining a backlog, and keeping up with a live sender thread.

The receiving socket is the implementation under test: a raw blocking
``recv_multipart`` loop, a stream's ``on_recv`` callback, or an ``await
recv_multipart()`` loop on a future socket. Every implementation gets lists of
``bytes`` (copying receives), so they all do the same work per message.

Backlog: ``n`` messages are sent to the bound PULL socket before it starts
reading (HWMs 0, so nothing blocks). Over inproc they are in the socket's pipe
when the send loop ends; over tcp the run waits a further 50 ms for libzmq's
I/O thread to finish moving them (measured: 30k x 600 B all arrive in less).
The sender stays connected until the end, so no message is lost to a
disconnect.

Live: a `Sender` thread connects and delivers one warm-up message (so the
connection is up), then the clock starts as it is told to send ``n``
messages with default HWMs: the receiver sometimes waits for the sender.

Thread-safety: each function runs one measurement on the calling thread.
"""

from __future__ import annotations

import asyncio
import time
from time import perf_counter
from typing import Any

import zmq

from ._harness import (
    MESSAGES,
    Owned,
    Sample,
    Settings,
    bind_random,
    bounded,
    milliseconds,
    send_loop,
    settle,
    wait_for,
)
from ._impls import Impl, measure
from ._peers import Sender

__all__ = ["backlog", "live"]

_TCP_SETTLE = 0.05


def _fill(
    owned: Owned, endpoint: str, msg: list[bytes], n: int, transport: str, s: Settings
) -> None:
    """Queue ``n`` copies of ``msg`` at the PULL socket bound at ``endpoint``."""
    tx = owned.plain(zmq.PUSH)
    tx.sndhwm = 0
    tx.sndtimeo = milliseconds(s.timeout)
    tx.connect(endpoint)
    send_loop(tx, msg, n)
    if transport == "tcp":
        time.sleep(_TCP_SETTLE)


def _raw_receive(rx: zmq.Socket[Any], n: int) -> Sample:
    recv = rx.recv_multipart
    start = perf_counter()
    for index in range(n):
        try:
            recv()
        except zmq.Again:
            return Sample.rate(index, n, perf_counter() - start)
    return Sample.rate(n, n, perf_counter() - start)


async def _stream_receive(stream: Any, n: int, timeout: float, go: Any = None) -> Sample:
    """Time ``on_recv`` delivering ``n`` messages; ``go()`` starts a live sender."""
    finished = asyncio.get_running_loop().create_future()
    got = 0
    t_end = 0.0

    def on_msg(_msg: list[bytes]) -> None:
        nonlocal got, t_end
        got += 1
        if got == n:
            t_end = perf_counter()
            finished.set_result(None)

    start = perf_counter()
    stream.on_recv(on_msg)
    if go is not None:
        go()
    if not await wait_for(finished, timeout):
        t_end = perf_counter()
    stream.stop_on_recv()
    return Sample.rate(got, n, t_end - start)


async def _future_receive(sock: Any, n: int, timeout: float, go: Any = None) -> Sample:
    """Time an ``await sock.recv_multipart()`` loop taking ``n`` messages."""
    got = 0
    t_end = 0.0
    recv = sock.recv_multipart

    async def consume() -> None:
        nonlocal got, t_end
        for _ in range(n):
            await recv()
            got += 1
        t_end = perf_counter()

    start = perf_counter()
    task = asyncio.ensure_future(consume())
    if go is not None:
        go()
    if not await settle(task, timeout):
        t_end = perf_counter()
    return Sample.rate(got, n, t_end - start)


def backlog(impl: Impl, s: Settings, msg_name: str, transport: str) -> Sample:
    """Receive a backlog of ``s.backlog`` messages already waiting at the socket."""
    msg, n = MESSAGES[msg_name], s.backlog

    def raw(owned: Owned) -> Sample:
        rx = owned.native(zmq.PULL)
        rx.rcvhwm = 0
        rx.rcvtimeo = milliseconds(s.timeout)
        endpoint = bind_random(rx, transport)
        _fill(owned, endpoint, msg, n, transport, s)
        return _raw_receive(rx, n)

    async def stream(owned: Owned) -> Sample:
        rx = owned.plain(zmq.PULL)
        rx.rcvhwm = 0
        endpoint = bind_random(rx, transport)
        _fill(owned, endpoint, msg, n, transport, s)
        return await _stream_receive(owned.adopt(impl.factory(rx)), n, s.timeout)

    async def future(owned: Owned) -> Sample:
        rx = owned.native(zmq.PULL)
        rx.rcvhwm = 0
        endpoint = bind_random(rx, transport)
        _fill(owned, endpoint, msg, n, transport, s)
        return await _future_receive(rx, n, s.timeout)

    return measure(impl, s.timeout, raw, stream, future)


def live(impl: Impl, s: Settings, msg_name: str, transport: str) -> Sample:
    """Receive ``s.live`` messages from a sender thread that starts with the clock."""
    msg, n = MESSAGES[msg_name], s.live

    def warmed(owned: Owned) -> tuple[zmq.Socket[Any], Sender]:
        """A PULL that has the sender's warm-up message: the connection is up."""
        rx = owned.native(zmq.PULL)
        rx.rcvtimeo = milliseconds(s.timeout)
        sender = Sender(owned, bind_random(rx, transport), msg, n)
        rx.recv_multipart()
        return rx, sender

    def raw(owned: Owned) -> Sample:
        rx, sender = warmed(owned)
        sender.go.set()
        sample = _raw_receive(rx, n)
        sender.release.set()
        return sample

    async def stream(owned: Owned) -> Sample:
        rx, sender = warmed(owned)
        sample = await _stream_receive(owned.adopt(impl.factory(rx)), n, s.timeout, sender.go.set)
        sender.release.set()
        return sample

    async def future(owned: Owned) -> Sample:
        rx = owned.native(zmq.PULL)
        sender = Sender(owned, bind_random(rx, transport), msg, n)
        await bounded(rx.recv_multipart(), s.timeout, "the warm-up receive")
        sample = await _future_receive(rx, n, s.timeout, sender.go.set)
        sender.release.set()
        return sample

    return measure(impl, s.timeout, raw, stream, future)
