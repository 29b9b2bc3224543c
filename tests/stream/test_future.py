"""Future Context/Socket: pyzmq-compatible behaviour and where tzmq does better."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import pickle
from collections.abc import Iterator
from typing import Any

import pytest
import zmq
from tornado import gen
from tornado.ioloop import IOLoop

import tzmq
from tests.conftest import SocketPair, TrackingContext, close_tracked
from tests.stream.helpers import wait_future


class _TrackingFutureContext(TrackingContext, tzmq.Context):
    """The suite's tracking context, making future sockets."""


@pytest.fixture
def fctx() -> Iterator[tzmq.Context]:
    """A future context whose sockets are all closed at teardown."""
    context = _TrackingFutureContext()
    yield context
    close_tracked(context)


def pair(
    ctx: tzmq.Context, bind_type: int, connect_type: int, plain_peer: bool = True
) -> tuple[Any, Any]:
    """(future socket bound on inproc, peer connected: plain by default)."""
    bound = ctx.socket(bind_type)
    address = f"inproc://future-{id(bound)}"
    bound.bind(address)
    peer = ctx.socket(connect_type, socket_class=zmq.Socket if plain_peer else None)
    peer.connect(address)
    for s in (bound, peer):
        s.linger = 0
    return bound, peer


def test_context_and_socket_types(fctx: tzmq.Context) -> None:
    assert isinstance(fctx, zmq.Context)
    s = fctx.socket(zmq.PULL)
    assert isinstance(s, tzmq.Socket) and isinstance(s, zmq.Socket)
    plain = fctx.socket(zmq.PUSH, socket_class=zmq.Socket)
    assert type(plain) is zmq.Socket
    wrapped = tzmq.Socket.from_socket(plain)
    assert isinstance(wrapped, tzmq.Socket) and wrapped.underlying == plain.underlying
    also = tzmq.Socket(plain)
    assert also.underlying == plain.underlying


def test_instance_is_independent() -> None:
    a = tzmq.Context.instance()
    b = zmq.Context.instance()
    assert a is tzmq.Context.instance()
    assert a is not b and isinstance(a, tzmq.Context) and not isinstance(b, tzmq.Context)
    a.term()
    b.term()


def test_bad_constructor_arguments() -> None:
    with pytest.raises(TypeError):
        tzmq.Socket()
    with pytest.raises(TypeError):
        tzmq.Context(io_loop="loop")  # type: ignore[arg-type]


@pytest.mark.gen_test
async def test_recv_completes_at_once_when_waiting(fctx: tzmq.Context) -> None:
    pull, push = pair(fctx, zmq.PULL, zmq.PUSH)
    push.send_multipart([b"a", b"b"])
    assert (await pull.poll(1000)) == zmq.POLLIN
    future = pull.recv_multipart()
    assert future.done()
    assert future.result() == [b"a", b"b"]


@pytest.mark.gen_test
async def test_every_receive_and_send_kind(fctx: tzmq.Context) -> None:
    a, b = pair(fctx, zmq.PAIR, zmq.PAIR, plain_peer=False)
    await b.send(b"one")
    assert await a.recv() == b"one"
    await b.send_multipart([b"x", memoryview(b"y"), bytearray(b"z")])
    assert await a.recv_multipart() == [b"x", b"y", b"z"]
    await b.send_string("héllo")
    assert await a.recv_string() == "héllo"
    await b.send_json({"k": [1, 2]})
    assert await a.recv_json() == {"k": [1, 2]}
    await b.send_pyobj({"p": 1})
    assert await a.recv_pyobj() == {"p": 1}
    await b.send_serialized({"s": 2}, lambda m: [pickle.dumps(m)])
    assert await a.recv_serialized(lambda frames: pickle.loads(frames[0])) == {"s": 2}
    await b.send(b"into-buffer")
    buf = bytearray(32)
    assert await a.recv_into(buf) == len(b"into-buffer")
    assert bytes(buf[:11]) == b"into-buffer"
    await b.send(b"frame")
    frame = await a.recv(copy=False)
    assert isinstance(frame, zmq.Frame) and frame.bytes == b"frame"
    tracker = await b.send(b"tracked", copy=False, track=True)
    assert isinstance(tracker, zmq.MessageTracker)
    assert await a.recv() == b"tracked"


@gen.coroutine
def _ping_pong(a: Any, b: Any) -> Any:
    yield b.send(b"ping")
    msg = yield a.recv()
    return msg


@pytest.mark.gen_test
def test_gen_coroutine_style(fctx: tzmq.Context) -> Any:
    a, b = pair(fctx, zmq.PAIR, zmq.PAIR, plain_peer=False)
    msg = yield _ping_pong(a, b)
    assert msg == b"ping"


@pytest.mark.gen_test
async def test_fifo_with_mixed_receivers(fctx: tzmq.Context) -> None:
    pull, push = pair(fctx, zmq.PULL, zmq.PUSH)
    waiting = [pull.recv_multipart(), pull.recv(), pull.recv_multipart(), pull.recv_string()]
    assert not any(f.done() for f in waiting)
    push.send_multipart([b"m1", b"m1b"])
    push.send(b"m2")
    push.send_multipart([b"m3", b"m3b", b"m3c"])
    push.send(b"m4")
    results = [await wait_future(f) for f in waiting]
    assert results == [[b"m1", b"m1b"], b"m2", [b"m3", b"m3b", b"m3c"], "m4"]


@pytest.mark.gen_test
async def test_cancel_never_consumes(fctx: tzmq.Context) -> None:
    pull, push = pair(fctx, zmq.PULL, zmq.PUSH)
    first = pull.recv()
    second = pull.recv()
    first.cancel()
    push.send(b"only")
    assert await wait_future(second) == b"only"
    with pytest.raises(asyncio.CancelledError):
        await first
    with pytest.raises(tzmq.CancelledError):
        first.result()


@pytest.mark.gen_test
async def test_cancelled_coroutine_raises_cancelled_error(fctx: tzmq.Context) -> None:
    pull, push = pair(fctx, zmq.PULL, zmq.PUSH)

    async def reader() -> bytes:
        result: bytes = await pull.recv()
        return result

    task = asyncio.ensure_future(reader())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    push.send(b"kept")
    assert await wait_future(pull.recv()) == b"kept"


@pytest.mark.gen_test
async def test_decode_error_reported_through_future(fctx: tzmq.Context) -> None:
    pull, push = pair(fctx, zmq.PULL, zmq.PUSH)
    bad = [pull.recv_json(), pull.recv_string(), pull.recv_pyobj()]
    good = pull.recv()
    push.send(b"not json")
    push.send(b"\xff\xfe")
    push.send(b"\x80\x04truncated")
    push.send(b"after")
    with pytest.raises(ValueError):
        await wait_future(bad[0])
    with pytest.raises(UnicodeDecodeError):
        await wait_future(bad[1])
    with pytest.raises(pickle.UnpicklingError):
        await wait_future(bad[2])
    assert await wait_future(good) == b"after"


@pytest.mark.gen_test
async def test_rcvtimeo_and_dontwait(fctx: tzmq.Context) -> None:
    pull, push = pair(fctx, zmq.PULL, zmq.PUSH)
    pull.rcvtimeo = 20
    with pytest.raises(zmq.Again):
        await wait_future(pull.recv())
    # The timeout is read when a call is made: changing it affects later calls only.
    pending = pull.recv()
    pull.rcvtimeo = -1
    with pytest.raises(zmq.Again):
        await wait_future(pending)
    waiting = pull.recv()
    push.send(b"late but fine")
    assert await wait_future(waiting) == b"late but fine"
    nowait = pull.recv(zmq.DONTWAIT)
    assert nowait.done() and isinstance(nowait.exception(), zmq.Again)
    push.send(b"ready")
    assert await pull.poll(1000)
    assert pull.recv(zmq.DONTWAIT).result() == b"ready"


@pytest.mark.gen_test
async def test_timed_out_call_does_not_consume(fctx: tzmq.Context) -> None:
    pull, push = pair(fctx, zmq.PULL, zmq.PUSH)
    pull.rcvtimeo = 10
    with pytest.raises(zmq.Again):
        await wait_future(pull.recv())
    pull.rcvtimeo = -1
    push.send(b"for the next")
    assert await wait_future(pull.recv()) == b"for the next"


@pytest.mark.gen_test
async def test_queued_sends_drain_in_order(fctx: tzmq.Context) -> None:
    push = fctx.socket(zmq.PUSH)
    push.sndhwm = 10
    sends = [push.send(b"%d" % i) for i in range(500)]
    assert not all(f.done() for f in sends)  # no peer yet: they wait
    pull = fctx.socket(zmq.PULL, socket_class=zmq.Socket)
    pull.bind("inproc://drain")
    push.connect("inproc://drain")
    received = []
    for _ in range(500):
        assert await pull_async(pull)
        received.append(pull.recv())
    await wait_future(asyncio.gather(*sends))
    assert received == [b"%d" % i for i in range(500)]


async def pull_async(sock: zmq.Socket[Any]) -> bool:
    """Wait (bounded) until a plain socket has a message, via a future Poller."""
    poller = tzmq.Poller()
    poller.register(sock, zmq.POLLIN)
    return bool(await wait_future(poller.poll(5000)))


@pytest.mark.gen_test
async def test_sndtimeo_fails_send(fctx: tzmq.Context) -> None:
    push = fctx.socket(zmq.PUSH)
    push.sndtimeo = 20
    with pytest.raises(zmq.Again):
        await wait_future(push.send(b"nobody listens"))
    nowait = push.send(b"x", zmq.DONTWAIT)
    assert isinstance(nowait.exception(), zmq.Again)


@pytest.mark.gen_test
async def test_plain_sends_on_a_bound_socket_keep_the_general_rules(
    fctx: tzmq.Context,
) -> None:
    """Once a socket serves its loop, sends with default options take a
    shortcut: they must still queue in order behind waiting sends, keep what
    was sent, honour SNDTIMEO when libzmq refuses them, and report errors in
    their futures."""
    push = fctx.socket(zmq.PUSH)
    push.sndhwm = 1
    push.sndtimeo = 20
    with pytest.raises(zmq.Again):  # no peer: binds the socket to the loop, then times out
        await wait_future(push.send(b"first"))
    with pytest.raises(zmq.Again):  # the shortcut meets EAGAIN: queued, then SNDTIMEO
        await wait_future(push.send(b"second"))
    push.sndtimeo = -1
    # Still no peer: these wait, and a list or bytearray the caller changes
    # afterwards must go out as it was.
    parts: list[Any] = [b"multi", bytearray(b"part")]
    waiting = [push.send_multipart(parts), push.send(b"0")]
    parts[1][:] = b"PART"
    parts.append(b"extra")
    pull = fctx.socket(zmq.PULL, socket_class=zmq.Socket)
    pull.rcvtimeo = 5000
    pull.bind(f"inproc://shortcut-{id(push)}")
    push.connect(f"inproc://shortcut-{id(push)}")
    # libzmq would take these at once now; they must wait behind the others.
    waiting += [push.send(b"%d" % i) for i in range(1, 5)]
    assert not any(future.done() for future in waiting)
    for future in waiting:
        await wait_future(future)
    assert pull.recv_multipart() == [b"multi", b"part"]
    assert [pull.recv() for _ in range(5)] == [b"%d" % i for i in range(5)]
    await wait_future(push.send_multipart((b"at", b"once")))  # a tuple, nothing waiting
    assert pull.recv_multipart() == [b"at", b"once"]

    rep = fctx.socket(zmq.REP, socket_class=zmq.Socket)
    rep.bind(f"inproc://shortcut-rep-{id(push)}")
    req = fctx.socket(zmq.REQ)
    req.connect(f"inproc://shortcut-rep-{id(push)}")
    await wait_future(req.send(b"request"))
    for refused in (req.send(b"again"), req.send_multipart([b"a", b"gain"])):
        # EFSM: a REQ must receive first
        assert isinstance(refused.exception(), zmq.ZMQError)
        assert refused.exception().errno == zmq.EFSM
    push.close()
    for closed in (push.send(b"late"), push.send_multipart([b"late", b"too"])):
        assert isinstance(closed.exception(), zmq.ZMQError)
        assert closed.exception().errno == zmq.ENOTSOCK


@pytest.mark.gen_test
async def test_send_errors_and_bad_input(fctx: tzmq.Context) -> None:
    req = fctx.socket(zmq.REQ)
    with pytest.raises(zmq.ZMQError):
        await req.recv()  # EFSM: a REQ must send first
    with pytest.raises(TypeError):
        req.send("text")
    with pytest.raises(TypeError):
        req.send_multipart([b"ok", 3])
    with pytest.raises(TypeError):
        req.send_json({"x": object()})
    with pytest.raises(TypeError):
        req.recv_into(b"immutable")


@pytest.mark.gen_test
async def test_close_cancels_pending(fctx: tzmq.Context) -> None:
    pull, _ = pair(fctx, zmq.PULL, zmq.PUSH)
    push = fctx.socket(zmq.PUSH)
    recvs = [pull.recv(), pull.recv_multipart()]
    sends = [push.send(b"x")]
    polls = [pull.poll()]
    pull.close()
    push.close()
    for future in recvs + sends + polls:
        assert future.cancelled()


@pytest.mark.gen_test
async def test_async_for_ends_on_close(fctx: tzmq.Context) -> None:
    pull, push = pair(fctx, zmq.PULL, zmq.PUSH)
    got: list[list[bytes]] = []
    three = asyncio.get_running_loop().create_future()

    async def consume() -> None:
        async for msg in pull:
            got.append(msg)
            if len(got) == 3:
                three.set_result(None)

    task = asyncio.ensure_future(consume())
    for i in range(3):
        push.send(b"%d" % i)
    await wait_future(three)
    pull.close()
    await wait_future(task)
    assert got == [[b"0"], [b"1"], [b"2"]]


@pytest.mark.gen_test
async def test_backlog_served_in_bounded_batches(fctx: tzmq.Context) -> None:
    """A coroutine reading a backlog lets other callbacks run between batches."""
    pull, push = pair(fctx, zmq.PULL, zmq.PUSH)
    pull.rcvhwm = push.sndhwm = 0
    n = 3000
    for i in range(n):
        push.send(b"%d" % i)
    assert await pull.poll(1000)
    ticks = 0

    def tick() -> None:
        nonlocal ticks
        ticks += 1
        if not done:
            IOLoop.current().add_callback(tick)

    done = False
    IOLoop.current().add_callback(tick)
    received = [await pull.recv() for _ in range(n)]
    done = True
    assert received == [b"%d" % i for i in range(n)]
    assert ticks >= n // 256 - 1


@pytest.mark.gen_test
async def test_no_unretrieved_exception_noise(
    fctx: tzmq.Context, caplog: pytest.LogCaptureFixture
) -> None:
    pull, _ = pair(fctx, zmq.PULL, zmq.PUSH)
    pull.rcvtimeo = 5
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        for _ in range(3):
            future = pull.recv()
            future.cancel()
        with pytest.raises(zmq.Again):
            await wait_future(pull.recv())
        pull.close()
        gc.collect()
    assert not [r for r in caplog.records if "never retrieved" in r.getMessage()]


@pytest.mark.gen_test
async def test_poll_timeout_and_readiness(fctx: tzmq.Context) -> None:
    pull, push = pair(fctx, zmq.PULL, zmq.PUSH)
    assert await pull.poll(10) == 0
    assert await push_poll_out(push)
    waiting = pull.poll(5000)
    push.send(b"x")
    assert await wait_future(waiting) == zmq.POLLIN
    assert await pull.recv() == b"x"


async def push_poll_out(sock: Any) -> int:
    future_sock = tzmq.Socket.from_socket(sock)
    result: int = await future_sock.poll(1000, zmq.POLLOUT)
    return result


@pytest.mark.gen_test
async def test_poller_mixed_sockets_and_fds(fctx: tzmq.Context) -> None:
    pull, push = pair(fctx, zmq.PULL, zmq.PUSH)
    plain_pull = fctx.socket(zmq.PULL, socket_class=zmq.Socket)
    plain_pull.bind("inproc://plain")
    plain_push = fctx.socket(zmq.PUSH, socket_class=zmq.Socket)
    plain_push.connect("inproc://plain")
    read_fd, write_fd = os.pipe()
    try:
        poller = tzmq.Poller()
        poller.register(pull, zmq.POLLIN)
        poller.register(plain_pull, zmq.POLLIN)
        poller.register(read_fd, zmq.POLLIN)
        assert await poller.poll(10) == []
        waiting = poller.poll()
        os.write(write_fd, b"!")
        assert await wait_future(waiting) == [(read_fd, zmq.POLLIN)]
        os.read(read_fd, 1)
        waiting = poller.poll(5000)
        plain_push.send(b"p")
        assert await wait_future(waiting) == [(plain_pull, zmq.POLLIN)]
        plain_pull.recv()
        waiting = poller.poll(5000)
        push.send(b"f")
        assert await wait_future(waiting) == [(pull, zmq.POLLIN)]
        assert await pull.recv() == b"f"
        with pytest.raises(TypeError):
            poller.poll("soon")  # type: ignore[arg-type]
    finally:
        os.close(read_fd)
        os.close(write_fd)


def test_ioloop_close_all_fds_closes_future_socket(fctx: tzmq.Context) -> None:
    loop = IOLoop(make_current=False)
    pull = fctx.socket(zmq.PULL, io_loop=loop)
    pending: list[Any] = []

    async def start() -> None:
        pending.append(pull.recv())

    loop.run_sync(start, timeout=5)
    loop.close(all_fds=True)
    assert pull.closed
    assert pending[0].cancelled()


@pytest.mark.gen_test
async def test_stream_on_future_socket_uses_plain_shadow(fctx: tzmq.Context) -> None:
    pull, push = pair(fctx, zmq.PULL, zmq.PUSH)
    stream = tzmq.ZMQStream(pull)
    assert type(stream.socket) is zmq.Socket
    got = asyncio.get_running_loop().create_future()
    stream.on_recv(got.set_result)
    push.send(b"plain")
    assert await wait_future(got) == [b"plain"]
    stream.close()


def test_context_io_loop_binds_its_sockets() -> None:
    loop = IOLoop(make_current=False)
    ctx = tzmq.Context(io_loop=loop)
    a = ctx.socket(zmq.PAIR)
    b = ctx.socket(zmq.PAIR)
    a.bind("inproc://bound")
    b.connect("inproc://bound")

    async def main() -> bytes:
        await b.send(b"hi")
        result: bytes = await a.recv()
        return result

    assert loop.run_sync(main, timeout=5) == b"hi"
    a.close()
    b.close()
    ctx.term()
    loop.close()


@pytest.mark.gen_test
async def test_a_cancelled_receive_holds_up_no_later_call(
    io_loop: IOLoop, socket_pair: SocketPair
) -> None:
    # Found on the Proactor loop, where the FD's wake-up comes later: a
    # DONTWAIT receive behind a cancelled one said EAGAIN with a message waiting.
    pull, push = socket_pair(zmq.PULL, zmq.PUSH, "inproc")
    sock = tzmq.Socket.from_socket(pull)
    sock.recv().cancel()
    push.send(b"waiting")
    assert await sock.recv(zmq.DONTWAIT) == b"waiting"
    sock.close()
