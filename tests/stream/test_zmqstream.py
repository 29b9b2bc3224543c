"""ZMQStream: the pyzmq-compatible surface and the places where tzmq does better."""

from __future__ import annotations

import asyncio
import itertools
import logging
import pickle
from typing import Any

import pytest
import zmq
from tornado.ioloop import IOLoop

from tests.conftest import SocketPair
from tests.stream.helpers import Collector, wait_future
from tzmq import SendQueueFull, StreamClosedError, ZMQStream


@pytest.mark.gen_test
async def test_recv_push_pull(io_loop: IOLoop, socket_pair: SocketPair) -> None:
    pull, push = socket_pair(zmq.PULL, zmq.PUSH)
    stream = ZMQStream(pull, io_loop)
    got = Collector()
    stream.on_recv(got)
    for i in range(100):
        push.send_multipart([b"a%d" % i, b"b"])
    messages = await got.wait_for(100)
    assert messages == [[b"a%d" % i, b"b"] for i in range(100)]
    stream.close()


@pytest.mark.gen_test
async def test_messages_waiting_before_on_recv_are_delivered(
    io_loop: IOLoop, socket_pair: SocketPair
) -> None:
    pull, push = socket_pair(zmq.PULL, zmq.PUSH, "inproc")
    stream = ZMQStream(pull, io_loop)
    for i in range(10):
        push.send(b"%d" % i)
    # Read EVENTS so the FD's edge is consumed before anyone listens.
    assert pull.getsockopt(zmq.EVENTS) & zmq.POLLIN
    got = Collector()
    stream.on_recv(got)
    assert [m[0] for m in await got.wait_for(10)] == [b"%d" % i for i in range(10)]
    stream.close()


@pytest.mark.gen_test
async def test_large_backlog_in_order(io_loop: IOLoop, socket_pair: SocketPair) -> None:
    pull, push = socket_pair(zmq.PULL, zmq.PUSH, "inproc")
    pull.rcvhwm = push.sndhwm = 0
    for i in range(5000):
        push.send(b"%d" % i)
    stream = ZMQStream(pull, io_loop, max_batch=64)
    got = Collector()
    stream.on_recv(got)
    messages = await got.wait_for(5000)
    assert [m[0] for m in messages] == [b"%d" % i for i in range(5000)]
    stream.close()


@pytest.mark.gen_test
async def test_batching_yields_to_other_callbacks(io_loop: IOLoop, socket_pair: SocketPair) -> None:
    """A backlog is served in batches with the loop's other work in between."""
    pull, push = socket_pair(zmq.PULL, zmq.PUSH, "inproc")
    pull.rcvhwm = push.sndhwm = 0
    for i in range(1000):
        push.send(b"%d" % i)
    stream = ZMQStream(pull, io_loop, max_batch=100)
    seen_at_tick: list[int] = []
    got = Collector()

    def tick() -> None:
        seen_at_tick.append(len(got.messages))
        if len(got.messages) < 1000:
            io_loop.add_callback(tick)

    stream.on_recv(got)
    io_loop.add_callback(tick)
    await got.wait_for(1000)
    # Other callbacks ran between batches, and each batch respected the budget.
    progress = sorted(set(seen_at_tick))
    assert len(progress) >= 5
    steps = [b - a for a, b in itertools.pairwise(progress)]
    assert max(steps) <= 101, steps
    stream.close()


@pytest.mark.gen_test
async def test_copy_false_delivers_frames(io_loop: IOLoop, socket_pair: SocketPair) -> None:
    pull, push = socket_pair(zmq.PULL, zmq.PUSH)
    stream = ZMQStream(pull, io_loop)
    got = Collector()
    stream.on_recv(got, copy=False)
    push.send_multipart([b"x", b"yy"])
    (msg,) = await got.wait_for(1)
    assert all(isinstance(f, zmq.Frame) for f in msg)
    assert [f.bytes for f in msg] == [b"x", b"yy"]
    stream.close()


@pytest.mark.gen_test
async def test_on_recv_stream_and_on_send_stream(io_loop: IOLoop, socket_pair: SocketPair) -> None:
    router, dealer = socket_pair(zmq.ROUTER, zmq.DEALER)
    server = ZMQStream(router, io_loop)
    server.on_recv_stream(lambda s, msg: s.send_multipart(msg))
    client = ZMQStream(dealer, io_loop)
    sent: list[tuple[ZMQStream, list[Any], Any]] = []
    client.on_send_stream(lambda s, msg, status: sent.append((s, msg, status)))
    got = Collector()
    client.on_recv(got)
    client.send(b"ping")
    assert await got.wait_for(1) == [[b"ping"]]
    assert sent == [(client, [b"ping"], None)]
    server.close()
    client.close()


@pytest.mark.gen_test
async def test_req_rep_state_machine(io_loop: IOLoop, socket_pair: SocketPair) -> None:
    rep, req = socket_pair(zmq.REP, zmq.REQ)
    server = ZMQStream(rep, io_loop)
    server.on_recv(lambda msg: server.send_multipart([b"re:" + msg[0]]))
    client = ZMQStream(req, io_loop)
    got = Collector()
    client.on_recv(got)
    for i in range(5):
        client.send(b"%d" % i)
        await got.wait_for(i + 1)
    assert got.messages == [[b"re:%d" % i] for i in range(5)]
    # REQ may not send twice in a row: as pyzmq's stream does, the stream
    # queues a send the state machine refuses (EFSM) and sends it in its turn.
    client.send(b"a")
    client.send(b"b")
    client.send(b"c")
    await got.wait_for(8)
    assert got.messages[5:] == [[b"re:a"], [b"re:b"], [b"re:c"]]
    server.close()
    client.close()


@pytest.mark.gen_test
async def test_pub_sub(io_loop: IOLoop, socket_pair: SocketPair) -> None:
    pub, sub = socket_pair(zmq.PUB, zmq.SUB, "inproc")
    sub.subscribe(b"a")
    stream = ZMQStream(sub, io_loop)
    got = Collector()
    stream.on_recv(got)
    publisher = ZMQStream(pub, io_loop)
    for topic in (b"a1", b"b1", b"a2"):
        publisher.send(topic)
    assert await got.wait_for(2) == [[b"a1"], [b"a2"]]
    stream.close()
    publisher.close()


@pytest.mark.gen_test
async def test_pause_and_resume_loses_nothing(io_loop: IOLoop, socket_pair: SocketPair) -> None:
    pull, push = socket_pair(zmq.PULL, zmq.PUSH, "inproc")
    stream = ZMQStream(pull, io_loop)
    got = Collector()

    def pause_after_three(msg: list[bytes]) -> None:
        got(msg)
        if len(got.messages) == 3:
            stream.on_recv(None)

    stream.on_recv(pause_after_three)
    for i in range(10):
        push.send(b"%d" % i)
    await got.wait_for(3)
    assert not stream.receiving()
    # Give the loop a few turns: nothing more may arrive while paused.
    for _ in range(5):
        await asyncio.sleep(0)
    assert len(got.messages) == 3
    stream.on_recv(got)
    messages = await got.wait_for(10)
    assert [m[0] for m in messages] == [b"%d" % i for i in range(10)]
    stream.close()


@pytest.mark.gen_test
async def test_raising_callback_logged_once_and_stream_continues(
    io_loop: IOLoop, socket_pair: SocketPair, caplog: pytest.LogCaptureFixture
) -> None:
    pull, push = socket_pair(zmq.PULL, zmq.PUSH)
    stream = ZMQStream(pull, io_loop)
    got = Collector()

    def flaky(msg: list[bytes]) -> None:
        got(msg)
        if msg[0] == b"2":
            raise RuntimeError("boom")

    stream.on_recv(flaky)
    with caplog.at_level(logging.ERROR, logger="tzmq.stream"):
        for i in range(5):
            push.send(b"%d" % i)
        await got.wait_for(5)
    assert [m[0] for m in got.messages] == [b"0", b"1", b"2", b"3", b"4"]
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert errors[0].exc_info is not None and "boom" in str(errors[0].exc_info[1])
    stream.close()


@pytest.mark.gen_test
async def test_coroutine_callbacks(
    io_loop: IOLoop, socket_pair: SocketPair, caplog: pytest.LogCaptureFixture
) -> None:
    pull, push = socket_pair(zmq.PULL, zmq.PUSH)
    stream = ZMQStream(pull, io_loop)
    got = Collector()

    async def handler(msg: list[bytes]) -> None:
        await asyncio.sleep(0)
        got(msg)
        if msg[0] == b"1":
            raise ValueError("async boom")

    stream.on_recv(handler)
    with caplog.at_level(logging.ERROR, logger="tzmq.stream"):
        for i in range(3):
            push.send(b"%d" % i)
        await got.wait_for(3)
        for _ in range(3):
            await asyncio.sleep(0)
    assert sorted(m[0] for m in got.messages) == [b"0", b"1", b"2"]
    assert sum("async boom" in str(r.exc_info and r.exc_info[1]) for r in caplog.records) == 1
    stream.close()


@pytest.mark.gen_test
async def test_send_callback_applies_to_one_send(io_loop: IOLoop, socket_pair: SocketPair) -> None:
    pull, push = socket_pair(zmq.PULL, zmq.PUSH)
    stream = ZMQStream(push, io_loop)
    calls: list[list[Any]] = []
    done = io_loop.asyncio_loop.create_future()  # type: ignore[attr-defined]

    def on_first(msg: list[Any], status: Any) -> None:
        calls.append(msg)
        done.set_result(None)

    stream.send(b"first", callback=on_first)
    stream.send(b"second")
    stream.send_multipart([b"third", b"x"])
    await wait_future(done)
    for _ in range(5):
        await asyncio.sleep(0)
    assert calls == [[b"first"]]
    for expected in ([b"first"], [b"second"], [b"third", b"x"]):
        assert pull.recv_multipart() == expected
    stream.close()


@pytest.mark.gen_test
async def test_send_variants(io_loop: IOLoop, socket_pair: SocketPair) -> None:
    pull, push = socket_pair(zmq.PULL, zmq.PUSH)
    stream = ZMQStream(push, io_loop)
    stream.send_string("héllo")
    stream.send_unicode("x", encoding="latin-1")
    stream.send_json({"a": [1, 2]})
    stream.send_pyobj({"b": 3})
    stream.send(bytearray(b"ba"))
    stream.send(memoryview(b"mv"))
    stream.send(zmq.Frame(b"fr"))
    assert pull.recv_string() == "héllo"
    assert pull.recv() == b"x"
    assert pull.recv_json() == {"a": [1, 2]}
    assert pickle.loads(pull.recv()) == {"b": 3}
    assert [pull.recv(), pull.recv(), pull.recv()] == [b"ba", b"mv", b"fr"]
    stream.close()


@pytest.mark.gen_test
async def test_bad_input_fails_at_the_call(io_loop: IOLoop, socket_pair: SocketPair) -> None:
    pull, push = socket_pair(zmq.PULL, zmq.PUSH)
    stream = ZMQStream(push, io_loop)
    with pytest.raises(TypeError, match="str"):
        stream.send("text")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="frame 1"):
        stream.send_multipart([b"ok", 42])
    with pytest.raises(TypeError, match="list of frames"):
        stream.send_multipart(b"not a list")
    with pytest.raises(ValueError, match="at least one frame"):
        stream.send_multipart([])
    with pytest.raises(TypeError):
        stream.send_json({"k": object()})
    with pytest.raises(TypeError):
        stream.send_string(b"bytes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="callable"):
        stream.on_recv(42)  # type: ignore[arg-type]
    assert stream.queue_size == 0
    # Nothing half-sent: the next good message arrives whole and first.
    stream.send_multipart([b"good", b"msg"])
    assert pull.recv_multipart() == [b"good", b"msg"]
    stream.close()
    with pytest.raises(StreamClosedError):
        stream.send(b"late")
    with pytest.raises(StreamClosedError):
        stream.on_recv(lambda m: None)


@pytest.mark.gen_test
async def test_bounded_queue_and_drain(io_loop: IOLoop, socket_pair: SocketPair) -> None:
    pull, push = socket_pair(zmq.PULL, zmq.PUSH)
    push.sndhwm = 1
    pull.rcvhwm = 1
    stream = ZMQStream(push, io_loop, queue_hwm=10)
    sent = 0
    with pytest.raises(SendQueueFull) as info:
        for sent in range(1000):
            stream.send(b"%d" % sent)
    assert isinstance(info.value, zmq.Again)
    assert stream.queue_size == 10
    drained = stream.drain()
    assert not drained.done()
    received = []
    receiver = ZMQStream(pull, io_loop)
    got = Collector()
    receiver.on_recv(got)
    await wait_future(drained)
    assert stream.queue_size <= 5
    # Resume until everything sent so far has arrived, in order.
    messages = await got.wait_for(sent)
    received = [m[0] for m in messages]
    assert received == [b"%d" % i for i in range(sent)]
    stream.close()
    receiver.close()


@pytest.mark.gen_test
async def test_queue_limits_validated(io_loop: IOLoop, socket_pair: SocketPair) -> None:
    _, push = socket_pair(zmq.PULL, zmq.PUSH)
    with pytest.raises(ValueError):
        ZMQStream(push, io_loop, queue_hwm=0)
    stream = ZMQStream(push, io_loop)
    with pytest.raises(ValueError):
        stream.set_queue_limits(hwm=10, lwm=10)
    with pytest.raises(ValueError):
        stream.set_queue_limits(hwm_bytes=-1)
    stream.close()


@pytest.mark.gen_test
async def test_close_hands_queue_to_libzmq(io_loop: IOLoop, socket_pair: SocketPair) -> None:
    pull, push = socket_pair(zmq.PULL, zmq.PUSH)
    push.linger = 1000
    stream = ZMQStream(push, io_loop)
    # No peer yet on an unconnected PUSH: every send must queue.
    lonely = push.context.socket(zmq.PUSH)
    lonely_stream = ZMQStream(lonely, io_loop)
    for i in range(3):
        lonely_stream.send(b"%d" % i)
    assert lonely_stream.queue_size == 3
    reports: list[Any] = []
    lonely_stream.send(b"cb", callback=lambda msg, status: reports.append((msg, status)))
    assert lonely_stream.close(linger=0) == 4
    assert reports and isinstance(reports[0][1], StreamClosedError)
    # With a peer, close hands everything over and reports nothing unsent.
    for i in range(3):
        stream.send(b"%d" % i)
    assert stream.close() == 0
    assert [pull.recv() for _ in range(3)] == [b"0", b"1", b"2"]


@pytest.mark.gen_test
async def test_close_is_idempotent_and_calls_back_once(
    io_loop: IOLoop, socket_pair: SocketPair
) -> None:
    pull, _ = socket_pair(zmq.PULL, zmq.PUSH)
    stream = ZMQStream(pull, io_loop)
    closes: list[int] = []
    stream.set_close_callback(lambda: closes.append(1))
    stream.close()
    stream.close()
    assert closes == [1]
    assert stream.closed()
    assert pull.closed
    assert stream.socket is pull and stream.socket.closed  # jupyter_server checks this
    with pytest.raises(StreamClosedError):  # as pyzmq's flush() on a closed stream
        stream.flush()


@pytest.mark.gen_test
async def test_socket_closed_behind_stream(
    io_loop: IOLoop, socket_pair: SocketPair, caplog: pytest.LogCaptureFixture
) -> None:
    pull, _ = socket_pair(zmq.PULL, zmq.PUSH)
    stream = ZMQStream(pull, io_loop)
    closed = io_loop.asyncio_loop.create_future()  # type: ignore[attr-defined]
    stream.set_close_callback(lambda: closed.set_result(True))
    stream.on_recv(lambda msg: None)
    with caplog.at_level(logging.WARNING):
        pull.close()
        assert stream.closed()
        await wait_future(closed)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.gen_test
async def test_closed_socket_noticed_by_a_pass(io_loop: IOLoop, socket_pair: SocketPair) -> None:
    pull, _ = socket_pair(zmq.PULL, zmq.PUSH)
    stream = ZMQStream(pull, io_loop)
    closed = io_loop.asyncio_loop.create_future()  # type: ignore[attr-defined]
    stream.set_close_callback(lambda: closed.set_result(True))
    stream.on_recv(lambda msg: None)
    pull.close()
    stream.on_recv(lambda msg: None, copy=False)  # any action re-checks the socket
    await wait_future(closed)


def test_context_destroyed_under_streams(socket_pair: SocketPair, ctx: zmq.Context[Any]) -> None:
    loop = IOLoop(make_current=False)
    pull, push = socket_pair(zmq.PULL, zmq.PUSH)
    stream = ZMQStream(pull, loop)
    stream.on_recv(lambda msg: None)
    out = ZMQStream(push, loop)

    async def main() -> None:
        ctx.destroy(linger=0)
        await asyncio.sleep(0)

    loop.run_sync(main, timeout=5)
    assert stream.closed() and out.closed()
    loop.close(all_fds=True)


def test_ioloop_close_all_fds_closes_socket_object(socket_pair: SocketPair) -> None:
    loop = IOLoop(make_current=False)
    pull, _ = socket_pair(zmq.PULL, zmq.PUSH)
    stream = ZMQStream(pull, loop)
    stream.on_recv(lambda msg: None)
    loop.close(all_fds=True)
    assert pull.closed  # the socket object was registered, not libzmq's FD
    assert stream.closed()


@pytest.mark.gen_test
async def test_flush_pollin_without_callback_drops(
    io_loop: IOLoop, socket_pair: SocketPair
) -> None:
    pull, push = socket_pair(zmq.PULL, zmq.PUSH, "inproc")
    stream = ZMQStream(pull, io_loop)
    for i in range(7):
        push.send(b"%d" % i)
    assert stream.flush(zmq.POLLIN, limit=3) == 3
    assert stream.flush(zmq.POLLIN) == 4
    assert stream.flush(zmq.POLLIN) == 0
    got = Collector()
    stream.on_recv(got)
    push.send(b"after")
    assert await got.wait_for(1) == [[b"after"]]
    stream.close()


@pytest.mark.gen_test
async def test_flush_pollout_sends_queue(io_loop: IOLoop, ctx: zmq.Context[Any]) -> None:
    push = ctx.socket(zmq.PUSH)
    stream = ZMQStream(push, io_loop)
    for i in range(5):
        stream.send(b"%d" % i)
    assert stream.sending() and stream.queue_size == 5
    assert stream.flush(zmq.POLLOUT) == 0  # no peer yet: nothing can go
    pull = ctx.socket(zmq.PULL)
    pull.bind("inproc://flush-out")
    push.connect("inproc://flush-out")
    assert stream.flush(zmq.POLLOUT, limit=2) == 2
    assert stream.flush(zmq.POLLOUT) == 3
    assert not stream.sending()
    assert [pull.recv() for _ in range(5)] == [b"%d" % i for i in range(5)]
    stream.close()
    pull.close()


@pytest.mark.gen_test
async def test_flush_with_callback_delivers(io_loop: IOLoop, socket_pair: SocketPair) -> None:
    pull, push = socket_pair(zmq.PULL, zmq.PUSH, "inproc")
    stream = ZMQStream(pull, io_loop)
    got = Collector()
    stream.on_recv(got)
    for i in range(4):
        push.send(b"%d" % i)
    assert stream.flush() == 4
    assert [m[0] for m in got.messages] == [b"0", b"1", b"2", b"3"]
    stream.close()


@pytest.mark.gen_test
async def test_socket_passthrough(io_loop: IOLoop, ctx: zmq.Context[Any]) -> None:
    stream = ZMQStream(ctx.socket(zmq.DEALER), io_loop)
    stream.linger = 123
    assert stream.socket.linger == 123
    assert stream.linger == 123
    stream.setsockopt(zmq.SNDHWM, 7)
    assert stream.getsockopt(zmq.SNDHWM) == 7
    port = stream.bind_to_random_port("tcp://127.0.0.1")
    assert port > 0
    stream.channel = "shell"  # arbitrary attributes stay on the stream
    assert stream.channel == "shell"
    assert not hasattr(stream.socket, "channel")
    with pytest.raises(AttributeError, match="on_recv"):
        stream.recv_multipart()
    with pytest.raises(AttributeError, match="on_recv"):
        stream.recv_into(bytearray(8))
    stream.LINGER = 45  # upper-case option names are options too
    assert stream.socket.linger == 45
    assert "LINGER" not in stream.__dict__
    stream.hwm = 11  # a settable property of zmq.Socket
    assert stream.socket.sndhwm == 11
    assert stream.context is stream.socket.context
    stream.close()
    with pytest.raises(StreamClosedError):
        stream.bind("tcp://127.0.0.1:0")
    with pytest.raises(StreamClosedError):
        stream.linger = 0


@pytest.mark.gen_test
async def test_constructor_rejects_bad_arguments(io_loop: IOLoop, ctx: zmq.Context[Any]) -> None:
    with pytest.raises(TypeError):
        ZMQStream("not a socket", io_loop)  # type: ignore[arg-type]
    s = ctx.socket(zmq.PAIR)
    with pytest.raises(ValueError):
        ZMQStream(s, io_loop, max_batch=0)
    with pytest.raises(TypeError):
        ZMQStream(s, "loop")  # type: ignore[arg-type]
    s.close()
    with pytest.raises(StreamClosedError):
        ZMQStream(s, io_loop)
