"""Defects the reliability suite found, each pinned by a small test of its own.

The cross-cutting scenarios (`test_faults`) found them; these tests name them.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
import weakref
from typing import Any

import pytest
import zmq
from tornado.ioloop import IOLoop

import tzmq
from tests.stream.helpers import Collector, wait_future
from tzmq import ZMQStream
from tzmq.auth import IOLoopAuthenticator
from tzmq.log import LogWatcher

from .sockets import stuck_pair


@pytest.mark.gen_test
async def test_stream_on_a_future_socket_the_caller_dropped(io_loop: IOLoop) -> None:
    """``ZMQStream(tzmq_ctx.socket(...))``: the stream works on a plain shadow; the
    future socket it shadows used to be collected at once, and its ``__del__``
    closed the libzmq socket under the stream (LogWatcher(context=tzmq.Context())
    was dead on arrival)."""
    ctx = tzmq.Context()
    given = ctx.socket(zmq.PULL)
    owner = weakref.ref(given)
    stream = ZMQStream(given)
    del given
    watcher = LogWatcher(context=ctx)
    gc.collect()
    try:
        assert owner() is not None and not stream.closed()
        port = stream.bind_to_random_port("tcp://127.0.0.1")
        push = ctx.socket(zmq.PUSH, socket_class=zmq.Socket)
        push.connect(f"tcp://127.0.0.1:{port}")
        got = Collector()
        stream.on_recv(got)
        push.send(b"alive")
        assert await got.wait_for(1) == [[b"alive"]]
        push.close(linger=0)
        assert watcher.bind("tcp://127.0.0.1:*").startswith("tcp://127.0.0.1:")
        # Closed through the socket that owns it: the owner knows, and will never
        # close (from __del__ or ctx.destroy) a socket libzmq has put there since.
        stream.close(linger=0)
        closed_owner = owner()
        assert closed_owner is not None and closed_owner.closed and stream.socket.closed
    finally:
        watcher.close()
        stream.close(linger=0)
        ctx.destroy(linger=0)


@pytest.mark.gen_test
async def test_future_socket_from_a_plain_socket_the_caller_dropped(io_loop: IOLoop) -> None:
    """``tzmq.Socket.from_socket(ctx.socket(...))`` keeps the socket it wraps alive (as
    pyzmq's future socket does); it was collected at once and closed the libzmq socket."""
    ctx: zmq.Context[Any] = zmq.Context()
    plain = ctx.socket(zmq.PULL)
    wrapped = weakref.ref(plain)
    pull = tzmq.Socket.from_socket(plain)
    del plain
    gc.collect()
    try:
        assert wrapped() is not None and not pull.closed
        port = pull.bind_to_random_port("tcp://127.0.0.1")
        push = ctx.socket(zmq.PUSH)
        push.connect(f"tcp://127.0.0.1:{port}")
        push.send(b"alive")
        assert await wait_future(pull.recv()) == b"alive"
        push.close(linger=0)
        pull.close(linger=0)
        closed_wrapped = wrapped()
        assert closed_wrapped is not None and closed_wrapped.closed  # it knows
    finally:
        pull.close(linger=0)
        ctx.destroy(linger=0)


def test_stream_closed_after_ioloop_close_with_a_drain_awaited() -> None:
    """``stream.close()`` after ``IOLoop.close()`` used to raise "Event loop is closed"
    while failing an awaited ``drain()``, leaving the socket open (term() hung)."""
    ctx: zmq.Context[Any] = zmq.Context()
    router, dealer = stuck_pair(ctx, "stuck")
    loop = IOLoop(make_current=False)

    async def start() -> tuple[ZMQStream, asyncio.Future[None]]:
        stream = ZMQStream(dealer, queue_hwm=10)
        for _ in range(10):
            stream.send(b"stuck")
        drain = stream.drain()
        drain.add_done_callback(lambda f: None)  # as an awaiting coroutine would
        return stream, drain

    try:
        stream, drain = loop.run_sync(start)
        loop.close()
        assert stream.close() > 0
        assert isinstance(drain.exception(), tzmq.StreamClosedError)
        assert dealer.closed
    finally:
        router.close()
        dealer.close()
        ctx.destroy(linger=0)


def test_future_socket_closed_after_ioloop_close_with_a_recv_awaited() -> None:
    """``sock.close()`` after ``IOLoop.close()`` used to raise "Event loop is closed"
    while cancelling an awaited call, leaving the socket open (term() hung)."""
    ctx = tzmq.Context()
    pull = ctx.socket(zmq.PULL)
    pull.linger = 0
    loop = IOLoop(make_current=False)

    async def start() -> asyncio.Future[Any]:
        recv = pull.recv()
        recv.add_done_callback(lambda f: None)  # as an awaiting coroutine would
        return recv

    try:
        recv = loop.run_sync(start)
        loop.close()
        pull.close()
        assert recv.cancelled() and pull.closed
    finally:
        pull.close()
        ctx.destroy(linger=0)


@pytest.mark.gen_test(timeout=10)
async def test_socket_made_right_after_a_close_behind_the_back(io_loop: IOLoop) -> None:
    """The reconnect idiom ``sock.close(); sock = ctx.socket(...); ZMQStream(sock)``."""
    ctx: zmq.Context[Any] = zmq.Context()
    made: list[ZMQStream] = []
    try:
        old = ctx.socket(zmq.DEALER)
        old.linger = 0
        made.append(ZMQStream(old))
        made[-1].on_recv(lambda msg: None)
        number = old.fileno()
        old.close()  # behind the stream's back; no loop turn before the next socket
        # libzmq's reaper frees the number a moment later; the next socket made
        # after that gets it (the lowest free number). Bounded, no loop turn.
        deadline = time.monotonic() + 2
        spare = [ctx.socket(zmq.DEALER)]
        while spare[-1].fileno() != number and time.monotonic() < deadline:
            spare.append(ctx.socket(zmq.DEALER))  # the others stay open, holding their numbers
        new = spare.pop()
        assert new.fileno() == number
        for sock in spare:
            sock.close()
        new.linger = 0
        made.append(ZMQStream(new))
        got = Collector()
        made[-1].on_recv(got)
        peer = ctx.socket(zmq.DEALER)
        peer.linger = 0
        port = new.bind_to_random_port("tcp://127.0.0.1")
        peer.connect(f"tcp://127.0.0.1:{port}")
        peer.send(b"works")
        await got.wait_for(1)
        peer.close()
    finally:
        for stream in made:
            stream.close()
        ctx.destroy(linger=0)


def test_authenticator_stopped_after_ioloop_close_with_a_decision_pending() -> None:
    """``auth.stop()`` after ``IOLoop.close()``, while an async CURVE credentials
    callback was still thinking, used to raise "Event loop is closed" and leave the
    ZAP socket open (``ctx.term()`` hung)."""
    ctx: zmq.Context[Any] = zmq.Context()
    loop = IOLoop(make_current=False)

    class Thinking:
        asked: asyncio.Event

        async def callback(self, domain: str, key: bytes) -> bool:
            self.asked.set()
            await asyncio.Event().wait()  # never decides
            return True

    provider = Thinking()
    server_public, server_secret = zmq.curve_keypair()
    client_public, client_secret = zmq.curve_keypair()
    server = ctx.socket(zmq.PULL)
    client = ctx.socket(zmq.PUSH)
    for sock in (server, client):
        sock.linger = 0
    server.curve_server = True
    server.curve_publickey, server.curve_secretkey = server_public, server_secret
    client.curve_serverkey = server_public
    client.curve_publickey, client.curve_secretkey = client_public, client_secret
    auth = IOLoopAuthenticator(ctx, io_loop=loop)

    async def start() -> None:
        provider.asked = asyncio.Event()
        auth.configure_curve_callback("*", provider)
        auth.start()
        port = server.bind_to_random_port("tcp://127.0.0.1")
        client.connect(f"tcp://127.0.0.1:{port}")
        await asyncio.wait_for(provider.asked.wait(), 5)  # a decision is pending now

    try:
        loop.run_sync(start, timeout=10)
        loop.close()
        auth.stop()
        assert auth.zap_socket is None
    finally:
        server.close()
        client.close()
        thread = threading.Thread(target=ctx.term, daemon=True)
        thread.start()
        thread.join(5)
    assert not thread.is_alive(), "ctx.term() hung: the ZAP socket was left open"


def test_a_refused_send_leaves_no_garbage_cycle() -> None:
    """Every ``SendQueueFull`` (any send error) used to sit in a reference cycle
    (error -> traceback -> the frame that re-raised it -> error), pinning frames and
    the refused message until the cyclic GC ran: a producer retrying at its mark
    piled up garbage (the back-pressure test's memory bound caught it)."""
    ctx: zmq.Context[Any] = zmq.Context()
    router, dealer = stuck_pair(ctx, "stuck")
    loop = IOLoop(make_current=False)

    async def refuse() -> int:
        stream = ZMQStream(dealer, queue_hwm=2)
        refused = 0
        for message in ([b"x" * 1024], b"y" * 1024):
            for _ in range(20):
                try:
                    if isinstance(message, bytes):
                        stream.send(message)  # the one-bytes-frame fast path
                    else:
                        stream.send_multipart(message)
                except tzmq.SendQueueFull:
                    refused += 1
        stream.close(linger=0)
        return refused

    gc.collect()
    gc.disable()
    try:
        assert loop.run_sync(refuse) > 30
        cyclic = [o for o in gc.get_objects() if isinstance(o, tzmq.SendQueueFull)]
    finally:
        gc.enable()
        loop.close()
        router.close()
        dealer.close()
        ctx.term()
    assert cyclic == []
