"""The readiness engine: edges eaten behind its back, sharing, and the safety sweep."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import zmq
from tornado.ioloop import IOLoop

import tzmq
from tests.conftest import SocketPair
from tests.stream.helpers import Collector, wait_future
from tzmq.stream import _watch


@pytest.mark.gen_test
async def test_raw_operation_on_streams_socket_does_not_strand(
    io_loop: IOLoop, socket_pair: SocketPair, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ipykernel issue 1529: the owner's raw send eats the edge while a request waits."""
    monkeypatch.setattr(_watch, "SWEEP_INTERVAL", 0.02)
    router, dealer = socket_pair(zmq.ROUTER, zmq.DEALER, "inproc")
    stream = tzmq.ZMQStream(router, io_loop)
    got = Collector()
    stream.on_recv(got)
    dealer.send(b"first")
    await got.wait_for(1)
    identity = got.messages[0][0]
    # Within one loop callback: a request arrives, then the owner sends raw on
    # the stream's socket, which processes the socket's commands and clears
    # its FD before the loop can see it.
    dealer.send(b"stranded?")
    router.send_multipart([identity, b"raw reply"])
    messages = await got.wait_for(2)
    assert messages[1][1] == b"stranded?"
    assert dealer.recv() == b"raw reply"
    stream.close()


@pytest.mark.gen_test
async def test_events_read_behind_the_back(
    io_loop: IOLoop, socket_pair: SocketPair, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_watch, "SWEEP_INTERVAL", 0.02)
    pull, push = socket_pair(zmq.PULL, zmq.PUSH, "inproc")
    stream = tzmq.ZMQStream(pull, io_loop)
    got = Collector()
    stream.on_recv(got)
    # One round trip first, so no connection-setup command keeps the FD lit.
    push.send(b"settle")
    await got.wait_for(1)
    push.send(b"hidden")
    assert pull.getsockopt(zmq.EVENTS) & zmq.POLLIN  # eats the edge
    assert await got.wait_for(2) == [[b"settle"], [b"hidden"]]
    stream.close()


@pytest.mark.gen_test
async def test_stream_and_future_socket_share_one_registration(
    io_loop: IOLoop, ctx: zmq.Context[Any]
) -> None:
    pull = ctx.socket(zmq.PULL)
    pull.bind("inproc://shared")
    push = ctx.socket(zmq.PUSH)
    push.connect("inproc://shared")
    future_view = tzmq.Socket.from_socket(pull)
    stream = tzmq.ZMQStream(pull, io_loop)
    pending = future_view.recv()  # registers through the same watch: no "fd added twice"
    push.send(b"to the future")
    assert await wait_future(pending) == b"to the future"
    got = Collector()
    stream.on_recv(got)
    push.send(b"to the stream")
    assert await got.wait_for(1) == [[b"to the stream"]]
    stream.close()


def test_sweep_stops_when_nothing_is_wanted(
    socket_pair: SocketPair, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_watch, "SWEEP_INTERVAL", 0.01)
    loop = IOLoop(make_current=False)
    pull, _ = socket_pair(zmq.PULL, zmq.PUSH)
    stream = tzmq.ZMQStream(pull, loop)
    stream.on_recv(lambda msg: None)
    sweep = _watch._Sweep.of(loop)

    async def main() -> None:
        assert sweep._handle is not None
        stream.close()
        deadline = loop.time() + 5
        while sweep._handle is not None and loop.time() < deadline:
            await asyncio.sleep(0.01)

    loop.run_sync(main, timeout=10)
    assert sweep._handle is None
    loop.close()


@pytest.mark.gen_test
async def test_waiting_future_call_does_not_spin(
    io_loop: IOLoop, ctx: zmq.Context[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pending recv on an idle future socket costs no passes (it once busy-looped)."""
    passes = 0
    run_pass = _watch.SocketWatch._pass

    def counting(self: _watch.SocketWatch, fd_woke: bool) -> None:
        nonlocal passes
        passes += 1
        run_pass(self, fd_woke)

    monkeypatch.setattr(_watch.SocketWatch, "_pass", counting)
    sock = tzmq.Socket(ctx, zmq.PULL)
    sock.bind("inproc://idle-wait")
    pending = sock.recv()
    window = asyncio.get_running_loop().create_future()
    io_loop.call_later(0.1, window.set_result, None)
    await wait_future(window)
    assert not pending.done()
    assert passes <= 3, f"{passes} passes in 0.1 s while idle"
    sock.close()
