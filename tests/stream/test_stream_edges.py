"""ZMQStream edge cases: re-entrancy, odd frames and flags, unusual sockets and loops."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from datetime import timedelta
from typing import Any

import pytest
import zmq
from tornado.ioloop import IOLoop

from tests.conftest import SocketPair
from tests.stream.helpers import Collector, logged_problems, turns, wait_future
from tzmq import StreamClosedError, ZMQStream
from tzmq.stream import SocketMonitor
from tzmq.stream.future import Context as FutureContext

# -- events already pending --------------------------------------------------------


@pytest.mark.parametrize("transport", ["tcp", "inproc"])
@pytest.mark.gen_test
async def test_pending_multipart_backlog_delivered_when_on_recv_set(
    io_loop: IOLoop, socket_pair: SocketPair, transport: str
) -> None:
    router, dealer = socket_pair(zmq.ROUTER, zmq.DEALER, transport)
    stream = ZMQStream(router, io_loop)
    for i in range(20):
        dealer.send_multipart([b"%d" % i, b"tail"])
    # Wait until libzmq holds the messages, consuming the FD's edge on the way.
    assert router.poll(5000, zmq.POLLIN)
    assert router.getsockopt(zmq.EVENTS) & zmq.POLLIN
    await turns()
    got = Collector()
    stream.on_recv(got)
    messages = await got.wait_for(20)
    assert [m[1:] for m in messages] == [[b"%d" % i, b"tail"] for i in range(20)]
    stream.close()


@pytest.mark.gen_test
async def test_pending_messages_noticed_after_flush_of_outgoing(
    io_loop: IOLoop, socket_pair: SocketPair
) -> None:
    """flush(POLLOUT) touches the socket (and its edge) while input waits unread."""
    a, b = socket_pair(zmq.PAIR, zmq.PAIR, "inproc")
    stream = ZMQStream(a, io_loop)
    b.send(b"waiting")
    stream.send(b"out")
    assert stream.flush(zmq.POLLOUT) == 0  # nothing queued: the send went straight out
    got = Collector()
    stream.on_recv(got)
    assert await got.wait_for(1) == [[b"waiting"]]
    assert b.recv() == b"out"
    stream.close()


# -- re-entrancy ---------------------------------------------------------------------


@pytest.mark.gen_test
async def test_on_recv_replaced_inside_its_own_callback(
    io_loop: IOLoop, socket_pair: SocketPair
) -> None:
    pull, push = socket_pair(zmq.PULL, zmq.PUSH, "inproc")
    stream = ZMQStream(pull, io_loop)
    first: list[list[Any]] = []
    second = Collector()

    def switch_after_three(msg: list[Any]) -> None:
        first.append(msg)
        if len(first) == 3:
            stream.on_recv(second, copy=False)

    stream.on_recv(switch_after_three)
    for i in range(30):
        push.send(b"%d" % i)
    await second.wait_for(27)
    await turns()
    assert first == [[b"0"], [b"1"], [b"2"]]
    assert all(isinstance(f, zmq.Frame) for m in second.messages for f in m)
    assert [m[0].bytes for m in second.messages] == [b"%d" % i for i in range(3, 30)]
    stream.close()


@pytest.mark.gen_test
async def test_close_inside_recv_callback_mid_batch(
    io_loop: IOLoop, socket_pair: SocketPair, caplog: pytest.LogCaptureFixture
) -> None:
    pull, push = socket_pair(zmq.PULL, zmq.PUSH, "inproc")
    for i in range(50):
        push.send(b"%d" % i)
    stream = ZMQStream(pull, io_loop)
    seen: list[bytes] = []
    closes: list[int] = []
    stream.set_close_callback(lambda: closes.append(len(seen)))

    def close_at_five(msg: list[bytes]) -> None:
        seen.append(msg[0])
        if len(seen) == 5:
            stream.close()

    with caplog.at_level(logging.WARNING):
        stream.on_recv(close_at_five)
        assert stream.flush(zmq.POLLIN) == 5  # flush stops where the callback closed
        await turns(10)
    assert seen == [b"%d" % i for i in range(5)]
    assert closes == [5]
    assert stream.closed() and pull.closed
    assert not logged_problems(caplog)


@pytest.mark.gen_test
async def test_close_inside_recv_callback_during_a_loop_pass(
    io_loop: IOLoop, socket_pair: SocketPair, caplog: pytest.LogCaptureFixture
) -> None:
    pull, push = socket_pair(zmq.PULL, zmq.PUSH, "inproc")
    for i in range(50):
        push.send(b"%d" % i)
    stream = ZMQStream(pull, io_loop, max_batch=16)
    seen: list[bytes] = []
    closed = asyncio.get_running_loop().create_future()
    stream.set_close_callback(lambda: closed.set_result(None))

    def close_at_seven(msg: list[bytes]) -> None:
        seen.append(msg[0])
        if len(seen) == 7:
            stream.close()

    with caplog.at_level(logging.WARNING):
        stream.on_recv(close_at_seven)
        await wait_future(closed)
        await turns(10)
    assert seen == [b"%d" % i for i in range(7)]
    assert not logged_problems(caplog)


@pytest.mark.gen_test
async def test_flush_inside_recv_callback(io_loop: IOLoop, socket_pair: SocketPair) -> None:
    pull, push = socket_pair(zmq.PULL, zmq.PUSH, "inproc")
    stream = ZMQStream(pull, io_loop)
    got = Collector()
    nested: list[int] = []

    def flush_on_first(msg: list[bytes]) -> None:
        got(msg)
        if msg == [b"0"]:
            nested.append(stream.flush(zmq.POLLIN))

    for i in range(10):
        push.send(b"%d" % i)
    stream.on_recv(flush_on_first)
    await got.wait_for(10)
    await turns()
    assert [m[0] for m in got.messages] == [b"%d" % i for i in range(10)]
    assert nested == [9]
    stream.close()


@pytest.mark.gen_test
async def test_flush_inside_send_callback(io_loop: IOLoop, ctx: zmq.Context[Any]) -> None:
    push = ctx.socket(zmq.PUSH)
    stream = ZMQStream(push, io_loop)
    for i in range(6):
        stream.send(b"%d" % i)  # no peer yet: all queued
    reports: list[bytes] = []
    nested: list[int] = []

    def flush_on_first(msg: list[bytes], status: Any) -> None:
        reports.append(msg[0])
        if msg == [b"0"]:
            nested.append(stream.flush(zmq.POLLOUT))

    stream.on_send(flush_on_first)
    pull = ctx.socket(zmq.PULL)
    pull.bind("inproc://flush-in-send-callback")
    push.connect("inproc://flush-in-send-callback")
    outer = stream.flush(zmq.POLLOUT)
    assert nested == [5]
    assert outer + nested[0] == 6
    assert reports == [b"%d" % i for i in range(6)]
    assert [pull.recv() for _ in range(6)] == [b"%d" % i for i in range(6)]
    stream.close()


# -- frames and flags ----------------------------------------------------------------


@pytest.mark.gen_test
async def test_send_multipart_flags_and_copy_positional(
    io_loop: IOLoop, socket_pair: SocketPair
) -> None:
    pull, push = socket_pair(zmq.PULL, zmq.PUSH, "inproc")
    stream = ZMQStream(push, io_loop)
    stream.send_multipart([b"a", b"b"], zmq.SNDMORE)  # as jupyter's Session does
    stream.send_multipart([b"c"], 0, False)
    assert pull.recv_multipart() == [b"a", b"b", b"c"]
    stream.close()


@pytest.mark.gen_test
async def test_mixed_frame_types(io_loop: IOLoop, socket_pair: SocketPair) -> None:
    pull, push = socket_pair(zmq.PULL, zmq.PUSH, "inproc")
    stream = ZMQStream(push, io_loop)
    parts = [b"bytes", memoryview(b"view"), zmq.Frame(b"frame"), bytearray(b"array")]
    stream.send_multipart(parts)
    stream.send_multipart(parts, copy=False)
    expected = [b"bytes", b"view", b"frame", b"array"]
    assert pull.recv_multipart() == expected
    assert pull.recv_multipart() == expected
    stream.close()


@pytest.mark.gen_test
async def test_non_contiguous_buffer_rejected_before_any_frame_is_sent(
    io_loop: IOLoop, socket_pair: SocketPair
) -> None:
    """A frame libzmq cannot take must fail the call before the first frame goes out.

    Found here: a strided memoryview passed validation, the first frame went
    out with SNDMORE, and the next message was glued onto it.
    """
    pull, push = socket_pair(zmq.PULL, zmq.PUSH, "inproc")
    stream = ZMQStream(push, io_loop)
    strided = memoryview(b"abcdef")[::2]
    with pytest.raises(TypeError, match="contiguous"):
        stream.send_multipart([b"head", strided])
    with pytest.raises(TypeError, match="contiguous"):
        stream.send(strided)
    stream.send(b"next")
    assert pull.recv_multipart() == [b"next"]
    stream.close()


@pytest.mark.parametrize("queued", [False, True], ids=["direct", "queued"])
@pytest.mark.gen_test
async def test_sndmore_send_then_send(io_loop: IOLoop, ctx: zmq.Context[Any], queued: bool) -> None:
    push = ctx.socket(zmq.PUSH)
    pull = ctx.socket(zmq.PULL)
    address = f"inproc://sndmore-{queued}"
    pull.bind(address)
    if not queued:
        push.connect(address)
    stream = ZMQStream(push, io_loop)
    stream.send(b"first", flags=zmq.SNDMORE)
    stream.send(b"second", zmq.SNDMORE)
    stream.send(b"last")
    stream.send(b"alone")
    assert stream.queue_size == (4 if queued else 0)
    if queued:
        push.connect(address)
        await wait_future(stream.drain())
    assert pull.recv_multipart() == [b"first", b"second", b"last"]
    assert pull.recv_multipart() == [b"alone"]
    stream.close()


@pytest.mark.gen_test
async def test_router_mandatory_unknown_peer_fails_at_the_call(
    io_loop: IOLoop, ctx: zmq.Context[Any]
) -> None:
    router = ctx.socket(zmq.ROUTER)
    dealer = ctx.socket(zmq.DEALER)
    router.router_mandatory = 1
    dealer.routing_id = b"known"
    router.bind("inproc://mandatory")
    dealer.connect("inproc://mandatory")
    stream = ZMQStream(router, io_loop)
    got = Collector()
    stream.on_recv(got)
    dealer.send(b"hello")
    await got.wait_for(1)
    with pytest.raises(zmq.ZMQError) as info:
        stream.send_multipart([b"nobody", b"lost"])
    assert info.value.errno == zmq.EHOSTUNREACH
    assert stream.queue_size == 0
    # Nothing half-sent: the next message arrives whole.
    stream.send_multipart([b"known", b"reply"])
    assert dealer.recv_multipart() == [b"reply"]
    stream.close()


# -- unusual sockets ---------------------------------------------------------------


class _GreetingSocket(zmq.Socket):  # type: ignore[type-arg]
    def greet(self) -> str:
        return "hello"


class _GreetingContext(zmq.Context):  # type: ignore[type-arg]
    _socket_class = _GreetingSocket


class _WrappingSocket(zmq.Socket):  # type: ignore[type-arg]
    """Overrides send/recv (as a future socket does): the stream must use a plain shadow."""

    def send(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the stream must not call the subclass's send")

    def recv(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the stream must not call the subclass's recv")


@pytest.mark.gen_test
async def test_stream_on_socket_from_context_subclass(io_loop: IOLoop) -> None:
    context = _GreetingContext()
    try:
        pull = context.socket(zmq.PULL)
        push = context.socket(zmq.PUSH)
        assert isinstance(pull, _GreetingSocket)
        pull.bind("inproc://greeting")
        push.connect("inproc://greeting")
        stream = ZMQStream(pull, io_loop)
        out = ZMQStream(push, io_loop)
        assert stream.socket is pull
        assert stream.greet() == "hello"  # the subclass's methods pass through
        plain = ZMQStream(context.socket(zmq.PAIR, socket_class=zmq.Socket), io_loop)
        with pytest.raises(AttributeError):
            plain.greet()  # forwarded, but a plain socket has no such method
        plain.close()
        got = Collector()
        stream.on_recv(got)
        out.send_multipart([b"a", b"b"])
        assert await got.wait_for(1) == [[b"a", b"b"]]
        stream.close()
        out.close()
    finally:
        context.destroy(linger=0)


@pytest.mark.gen_test
async def test_stream_on_socket_overriding_send_and_recv(
    io_loop: IOLoop, ctx: zmq.Context[Any]
) -> None:
    wrapped = _WrappingSocket(ctx, zmq.PAIR)
    peer = ctx.socket(zmq.PAIR)
    try:
        wrapped.linger = 0
        wrapped.bind("inproc://wrapping")
        peer.connect("inproc://wrapping")
        stream = ZMQStream(wrapped, io_loop)
        assert type(stream.socket) is zmq.Socket
        assert stream.socket.underlying == wrapped.underlying
        got = Collector()
        stream.on_recv(got)
        peer.send(b"in")
        stream.send(b"out")
        assert await got.wait_for(1) == [[b"in"]]
        assert peer.recv() == b"out"
        stream.close()
        assert wrapped.closed  # the shadow closed the one libzmq socket
    finally:
        wrapped.close(linger=0)


@pytest.mark.gen_test
async def test_stream_on_shadow_of_another_socket(io_loop: IOLoop, socket_pair: SocketPair) -> None:
    pull, push = socket_pair(zmq.PULL, zmq.PUSH, "inproc")
    shadow = zmq.Socket.shadow(pull.underlying)
    stream = ZMQStream(shadow, io_loop)
    assert stream.socket is shadow
    got = Collector()
    stream.on_recv(got)
    for i in range(5):
        push.send(b"%d" % i)
    assert [m[0] for m in await got.wait_for(5)] == [b"%d" % i for i in range(5)]
    stream.close()
    assert pull.closed


@pytest.mark.gen_test
async def test_send_only_sockets_never_try_to_receive(
    io_loop: IOLoop, socket_pair: SocketPair, caplog: pytest.LogCaptureFixture
) -> None:
    """flush() and on_recv() on PUSH/PUB are harmless, as with pyzmq's stream.

    Found here: the default flush(POLLIN|POLLOUT) on a PUSH or PUB stream raised
    ZMQError(ENOTSUP) from recv(), and a receive callback set on one made every
    FD wake-up raise into the IOLoop.
    """
    pull, push = socket_pair(zmq.PULL, zmq.PUSH, "inproc")
    pub = push.context.socket(zmq.PUB)
    with caplog.at_level(logging.WARNING):
        stream = ZMQStream(push, io_loop)
        publisher = ZMQStream(pub, io_loop)
        stream.on_recv(lambda msg: None)
        publisher.on_recv(lambda msg: None)
        for i in range(20):
            stream.send(b"%d" % i)
        assert stream.flush() == 0
        assert publisher.flush() == 0
        assert publisher.flush(zmq.POLLIN, limit=3) == 0
        receiver = ZMQStream(pull, io_loop)
        got = Collector()
        receiver.on_recv(got)
        await got.wait_for(20)
        await turns(10)
    assert stream.receiving()  # the callback is kept, as pyzmq does
    assert not logged_problems(caplog)
    for s in (stream, publisher, receiver):
        s.close()
    pub.close()


# -- batches and loops -------------------------------------------------------------


@pytest.mark.gen_test
async def test_max_batch_time_as_timedelta(io_loop: IOLoop, socket_pair: SocketPair) -> None:
    pull, push = socket_pair(zmq.PULL, zmq.PUSH, "inproc")
    stream = ZMQStream(pull, io_loop, max_batch=1000, max_batch_time=timedelta(milliseconds=5))
    assert stream.max_batch_time == pytest.approx(0.005)
    for i in range(24):
        push.send(b"%d" % i)
    seen: list[int] = []
    got = Collector()

    def slow(msg: list[bytes]) -> None:
        got(msg)
        time.sleep(0.002)  # a handler that costs 2 ms of CPU

    def tick() -> None:
        seen.append(len(got.messages))
        if len(got.messages) < 24:
            io_loop.add_callback(tick)

    stream.on_recv(slow)
    io_loop.add_callback(tick)
    await got.wait_for(24)
    steps = [b - a for a, b in itertools.pairwise(sorted(set(seen)))]
    # One message on the first round of a wake-up, then at most 3 x 2 ms
    # before the 5 ms budget is spent: never more than 4 between ticks.
    assert steps and max(steps) <= 4, steps
    stream.close()


@pytest.mark.parametrize("bad", [-1, timedelta(seconds=-1), float("nan"), "0.1", None])
def test_max_batch_time_validated(ctx: zmq.Context[Any], bad: Any) -> None:
    loop = IOLoop(make_current=False)
    sock = ctx.socket(zmq.PULL)
    try:
        with pytest.raises((TypeError, ValueError)):
            ZMQStream(sock, loop, max_batch_time=bad)
    finally:
        sock.close()
        loop.close()


def test_ioloop_close_all_fds_with_open_streams(
    ctx: zmq.Context[Any], caplog: pytest.LogCaptureFixture
) -> None:
    loop = IOLoop(make_current=False)
    pull = ctx.socket(zmq.PULL)
    push = ctx.socket(zmq.PUSH)
    lonely = ctx.socket(zmq.PUSH)  # no peer: its sends stay queued
    dealer = ctx.socket(zmq.DEALER)
    pull.bind("inproc://all-fds")
    push.connect("inproc://all-fds")
    sockets = [pull, push, lonely, dealer]

    async def main() -> list[ZMQStream]:
        receiver = ZMQStream(pull, loop)
        receiver.on_recv(lambda msg: None)
        also_receiver = ZMQStream(pull, loop)  # a second stream on the same socket
        sender = ZMQStream(push, loop)
        sender.send(b"x")
        queued = ZMQStream(lonely, loop)
        for i in range(3):
            queued.send(b"%d" % i)
        paused = ZMQStream(dealer, loop)
        await turns()
        return [receiver, also_receiver, sender, queued, paused]

    with caplog.at_level(logging.WARNING):
        streams = loop.run_sync(main, timeout=5)
        loop.close(all_fds=True)
        assert all(s.closed for s in sockets)  # the socket objects were closed
        assert all(s.closed() for s in streams)
        for stream in streams:
            assert stream.close() == 0  # already closed: nothing more to report
            with pytest.raises(StreamClosedError):
                stream.send(b"late")
    # The only report is the queued stream's count of unsent messages.
    problems = logged_problems(caplog)
    assert [r.getMessage() for r in problems] == [
        "ZMQStream closed with 3 queued message(s) not sent"
    ]
    assert all(r.exc_info is None for r in problems)


@pytest.mark.parametrize("receiving", [False, True], ids=["idle", "receiving"])
@pytest.mark.gen_test
async def test_closing_one_of_two_streams_on_a_socket_closes_the_other(
    io_loop: IOLoop, ctx: zmq.Context[Any], receiving: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """Found here: with the second stream idle, it never learned that the first
    one closed their socket, and the socket's FD number stayed registered with
    the IOLoop, so a new stream whose socket got that number failed with
    "ValueError: fd N added twice"."""
    sock = ctx.socket(zmq.PULL)
    first = ZMQStream(sock, io_loop)
    second = ZMQStream(sock, io_loop)
    if receiving:
        second.on_recv(lambda msg: None)
    closed = asyncio.get_running_loop().create_future()
    second.set_close_callback(lambda: closed.set_result(None))
    fd = sock.FD
    with caplog.at_level(logging.WARNING):
        first.close()
        await wait_future(closed)
    assert second.closed()
    assert fd not in io_loop.handlers
    assert not logged_problems(caplog)


@pytest.mark.gen_test
async def test_stop_on_recv_and_stop_on_send(io_loop: IOLoop, socket_pair: SocketPair) -> None:
    a, b = socket_pair(zmq.PAIR, zmq.PAIR, "inproc")
    stream = ZMQStream(a)  # io_loop=None: the current loop
    assert stream.io_loop is io_loop
    got = Collector()
    sent: list[list[bytes]] = []
    stream.on_recv_stream(lambda s, msg: got(msg))
    stream.on_send_stream(lambda s, msg, status: sent.append(msg))
    b.send(b"1")
    stream.send(b"x")
    await got.wait_for(1)
    await turns()
    assert sent == [[b"x"]]
    stream.stop_on_recv()
    stream.stop_on_send()
    assert not stream.receiving()
    b.send(b"2")
    stream.send(b"y")
    await turns(10)
    assert got.messages == [[b"1"]] and sent == [[b"x"]]
    stream.on_recv_stream(None)  # the None forms are accepted too
    stream.on_send_stream(None)
    stream.on_recv(got)  # the paused message was kept by libzmq
    assert await got.wait_for(2) == [[b"1"], [b"2"]]
    assert [b.recv(), b.recv()] == [b"x", b"y"]
    stream.close()


@pytest.mark.parametrize("sock_type", [zmq.DEALER, zmq.PUSH])
@pytest.mark.gen_test
async def test_flush_and_close_return_when_the_peer_is_gone(
    io_loop: IOLoop, ctx: zmq.Context[Any], sock_type: int, caplog: pytest.LogCaptureFixture
) -> None:
    """A killed kernel: its sockets vanished, and ours still has messages to send."""
    peer = ctx.socket(zmq.ROUTER if sock_type == zmq.DEALER else zmq.PULL)
    peer.rcvhwm = 5
    port = peer.bind_to_random_port("tcp://127.0.0.1")
    sock = ctx.socket(sock_type)
    sock.sndhwm = 5
    sock.connect(f"tcp://127.0.0.1:{port}")
    stream = ZMQStream(sock, io_loop)
    retried: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    monitor = SocketMonitor(sock, zmq.EVENT_CONNECT_RETRIED, io_loop)
    monitor.on_event(lambda _: retried.done() or retried.set_result(None))
    peer.close(linger=0)
    # libzmq tears the peer down in its own threads: until a reconnect has been
    # refused, a connection made just before the close can still swallow every
    # message into TCP buffers (seen about once in 30 runs of the suite).
    await asyncio.wait_for(retried, 5)
    monitor.close()
    for i in range(200):
        stream.send(b"%d" % i)
    await turns()
    assert stream.queue_size > 0
    before = stream.queue_size
    for _ in range(20):
        assert stream.flush() <= before
        assert stream.flush(zmq.POLLOUT, limit=10) <= 10
        await turns(1)
    with caplog.at_level(logging.WARNING):
        unsent = stream.close(linger=0)
    assert unsent > 0
    assert [r.getMessage() for r in logged_problems(caplog)] == [
        f"ZMQStream closed with {unsent} queued message(s) not sent"
    ]


def test_coroutine_close_callback_after_ioloop_close(
    ctx: zmq.Context[Any], caplog: pytest.LogCaptureFixture
) -> None:
    """Found here: closed() raised RuntimeError('Event loop is closed') when the
    close callback was a coroutine function and the IOLoop had been closed."""
    loop = IOLoop(make_current=False)
    sock = ctx.socket(zmq.PULL)
    stream = ZMQStream(sock, loop)

    async def on_close() -> None:
        raise AssertionError("cannot run: the loop is closed")

    stream.set_close_callback(on_close)
    loop.close(all_fds=True)
    with caplog.at_level(logging.WARNING):
        assert stream.closed()
    assert [r.getMessage() for r in logged_problems(caplog)] == [
        f"ZMQStream coroutine callback {on_close!r} not run: its loop is closed"
    ]


@pytest.mark.gen_test
async def test_future_socket_shares_the_frame_check(io_loop: IOLoop) -> None:
    """The future Socket validates with the same code: a strided view fails at the
    call there too, instead of gluing the first frame onto the next message."""
    context = FutureContext()
    push = context.socket(zmq.PUSH)
    pull = context.socket(zmq.PULL)
    try:
        push.bind("inproc://future-frames")
        pull.connect("inproc://future-frames")
        with pytest.raises(TypeError, match="contiguous"):
            await push.send_multipart([b"head", memoryview(b"abcdef")[::2]])
        await push.send(b"next")
        assert await wait_future(pull.recv_multipart()) == [b"next"]
    finally:
        push.close(linger=0)
        pull.close(linger=0)
        context.term()
