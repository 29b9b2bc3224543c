"""Where tzmq's stream does better than pyzmq's (issue 2, points 1-8).

Each test here would fail on ``zmq.eventloop.zmqstream.ZMQStream``: it queues
every send until the next loop iteration, handles one message per iteration,
keeps no count at close, logs tracebacks from the loop at teardown, and so on.
(The points test_zmqstream.py already covers are not repeated.)
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import pickle
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import zmq
from tornado.ioloop import IOLoop

from tests.conftest import SocketPair
from tests.stream.helpers import Collector, logged_problems, turns, wait_future
from tzmq import SendQueueFull, StreamClosedError, ZMQStream
from tzmq.stream._watch import SocketWatch

# -- 1. throughput ------------------------------------------------------------------


@pytest.mark.gen_test
async def test_send_with_empty_queue_goes_out_at_once(
    io_loop: IOLoop, socket_pair: SocketPair
) -> None:
    pull, push = socket_pair(zmq.PULL, zmq.PUSH, "inproc")
    stream = ZMQStream(push, io_loop)
    stream.send(b"one")
    stream.send_multipart([b"two", b"parts"])
    # No loop turn in between: libzmq already has both messages.
    assert pull.recv(zmq.NOBLOCK) == b"one"
    assert pull.recv_multipart(zmq.NOBLOCK) == [b"two", b"parts"]
    assert stream.queue_size == 0 and not stream.sending()
    stream.close()


@pytest.mark.gen_test
async def test_backlog_served_in_few_loop_iterations(
    io_loop: IOLoop, socket_pair: SocketPair
) -> None:
    pull, push = socket_pair(zmq.PULL, zmq.PUSH, "inproc")
    pull.rcvhwm = push.sndhwm = 0
    for i in range(1000):
        push.send(b"%d" % i)
    stream = ZMQStream(pull, io_loop, max_batch=256, max_batch_time=1.0)
    got = Collector()
    ticks = 0

    def tick() -> None:
        nonlocal ticks
        ticks += 1
        if len(got.messages) < 1000:
            io_loop.add_callback(tick)

    stream.on_recv(got)
    io_loop.add_callback(tick)
    await got.wait_for(1000)
    # One message per iteration (pyzmq) would take 1000 ticks.
    assert ticks <= 20, ticks
    stream.close()


async def _drain_watching_steps(
    io_loop: IOLoop,
    ctx: zmq.Context[Any],
    name: str,
    max_batch_time: float,
    on_send: Callable[[list[Any], Any], Any] | None = None,
    count: int = 1000,
) -> list[int]:
    """Queue ``count`` sends (max_batch 100), let a peer in; how far each loop turn got."""
    push = ctx.socket(zmq.PUSH)
    push.sndhwm = 0
    stream = ZMQStream(push, io_loop, max_batch=100, max_batch_time=max_batch_time)
    stream.on_send(on_send)
    for i in range(count):
        stream.send(b"%d" % i)  # no peer: all queued
    assert stream.queue_size == count
    pull = ctx.socket(zmq.PULL)
    pull.rcvhwm = 0
    pull.bind(f"inproc://{name}")
    push.connect(f"inproc://{name}")
    sizes: list[int] = [stream.queue_size]

    def tick() -> None:
        sizes.append(stream.queue_size)
        if stream.queue_size:
            io_loop.add_callback(tick)

    io_loop.add_callback(tick)
    await wait_future(stream.drain())
    # Nothing left to send: the stream must stop watching for room.
    assert not SocketWatch.get(push, io_loop).interest & zmq.POLLOUT
    assert [pull.recv() for _ in range(count)] == [b"%d" % i for i in range(count)]
    pull.close()
    stream.close()
    return [a - b for a, b in itertools.pairwise(sorted({*sizes, 0}, reverse=True))]


@pytest.mark.gen_test
async def test_send_queue_flows_in_batches(io_loop: IOLoop, ctx: zmq.Context[Any]) -> None:
    # Messages with a callback to run are counted against max_batch.
    reported: list[list[bytes]] = []
    steps = await _drain_watching_steps(
        io_loop, ctx, "batches-callbacks", 5.0, lambda msg, status: reported.append(msg)
    )
    assert max(steps) <= 100  # the budget holds for sends too
    assert len(steps) <= 40  # ... and many go per iteration
    assert len(reported) == 1000


@pytest.mark.gen_test
async def test_plain_sends_are_bounded_by_time_not_count(
    io_loop: IOLoop, ctx: zmq.Context[Any]
) -> None:
    # No callback to run: a send costs libzmq's alone, so only max_batch_time
    # bounds a turn (a count sized for callbacks would yield every ~30 us).
    assert await _drain_watching_steps(io_loop, ctx, "batches-plain", 5.0) == [1000]
    # With no time at all, each turn still sends one max_batch chunk, then yields.
    steps = await _drain_watching_steps(io_loop, ctx, "batches-no-time", 0.0)
    assert max(steps) <= 100 and len(steps) >= 10


@pytest.mark.gen_test
async def test_a_queue_emptied_as_its_time_runs_out_stops_wanting_pollout(
    io_loop: IOLoop, ctx: zmq.Context[Any]
) -> None:
    # The last chunk empties the queue just as max_batch_time is spent: the
    # stream must still stop watching for POLLOUT (checked in the helper), or
    # the loop spins on it.
    assert await _drain_watching_steps(io_loop, ctx, "emptied-at-deadline", 0.0, count=100) == [100]


# -- 2. callbacks that raise --------------------------------------------------------


@pytest.mark.gen_test
async def test_raising_send_callback_logged_once_and_queue_keeps_flowing(
    io_loop: IOLoop, ctx: zmq.Context[Any], caplog: pytest.LogCaptureFixture
) -> None:
    push = ctx.socket(zmq.PUSH)
    stream = ZMQStream(push, io_loop)
    reports: list[bytes] = []

    def flaky(msg: list[bytes], status: Any) -> None:
        reports.append(msg[0])
        if msg[0] == b"1":
            raise RuntimeError("send boom")

    stream.on_send(flaky)
    for i in range(4):
        stream.send(b"%d" % i)
    pull = ctx.socket(zmq.PULL)
    pull.bind("inproc://raising-send")
    with caplog.at_level(logging.ERROR):
        push.connect("inproc://raising-send")
        await wait_future(stream.drain())
        await turns()
    assert reports == [b"0", b"1", b"2", b"3"]
    assert [pull.recv() for _ in range(4)] == [b"0", b"1", b"2", b"3"]
    errors = logged_problems(caplog)
    assert len(errors) == 1 and "send boom" in str(errors[0].exc_info and errors[0].exc_info[1])
    stream.close()


@pytest.mark.gen_test
async def test_raising_recv_callback_during_flush(
    io_loop: IOLoop, socket_pair: SocketPair, caplog: pytest.LogCaptureFixture
) -> None:
    pull, push = socket_pair(zmq.PULL, zmq.PUSH, "inproc")
    stream = ZMQStream(pull, io_loop)
    seen: list[bytes] = []

    def flaky(msg: list[bytes]) -> None:
        seen.append(msg[0])
        raise ValueError("every time")

    stream.on_recv(flaky)
    for i in range(5):
        push.send(b"%d" % i)
    with caplog.at_level(logging.ERROR):
        assert stream.flush() == 5  # the raise did not stop the flush
    assert seen == [b"0", b"1", b"2", b"3", b"4"]
    assert len(logged_problems(caplog)) == 5  # once per failure, not three times
    stream.close()


# -- 3. back-pressure ---------------------------------------------------------------


@pytest.mark.gen_test
async def test_byte_bounded_queue(io_loop: IOLoop, ctx: zmq.Context[Any]) -> None:
    push = ctx.socket(zmq.PUSH)
    stream = ZMQStream(push, io_loop, queue_hwm_bytes=1000, queue_lwm_bytes=100)
    for _ in range(10):
        stream.send(b"x" * 100)
    assert stream.queue_size == 10 and stream.queue_bytes == 1000
    with pytest.raises(SendQueueFull) as info:
        stream.send_multipart([b"y", b"z"])
    assert info.value.nbytes == 1000 and "drain" in str(info.value)
    assert stream.queue_size == 10 and stream.queue_bytes == 1000  # nothing queued
    drained = stream.drain()
    pull = ctx.socket(zmq.PULL)
    pull.rcvhwm = 3  # with push.sndhwm: the queue empties in steps
    pull.bind("inproc://bytes-bound")
    push.connect("inproc://bytes-bound")
    await wait_future(drained)
    assert stream.queue_bytes <= 100
    assert stream.queue_bytes == 100 * stream.queue_size
    stream.close(linger=0)


@pytest.mark.parametrize("bound", ["messages", "bytes"])
@pytest.mark.gen_test
async def test_drain_resolves_at_the_low_mark_not_at_empty(
    io_loop: IOLoop, ctx: zmq.Context[Any], bound: str
) -> None:
    """Found here: with one kind of bound, drain() also waited for the other
    kind's low mark of 0, that is for an empty queue."""
    push = ctx.socket(zmq.PUSH)
    if bound == "messages":
        stream = ZMQStream(push, io_loop, queue_hwm=10, queue_lwm=4)
    else:
        stream = ZMQStream(push, io_loop, queue_hwm_bytes=100, queue_lwm_bytes=40)
    for i in range(10):
        stream.send(b"%09d" % i)  # 10 bytes each
    drained = stream.drain()
    pull = ctx.socket(zmq.PULL)
    pull.bind(f"inproc://low-mark-{bound}")
    push.connect(f"inproc://low-mark-{bound}")
    assert stream.flush(zmq.POLLOUT, limit=5) == 5
    assert not drained.done()
    assert stream.flush(zmq.POLLOUT, limit=1) == 1
    assert drained.done() and stream.queue_size == 4  # at the low mark, not empty
    stream.close()


@pytest.mark.gen_test
async def test_invalid_queue_limits_change_nothing(io_loop: IOLoop, ctx: zmq.Context[Any]) -> None:
    """Found here: the marks were assigned before they were checked."""
    push = ctx.socket(zmq.PUSH)
    stream = ZMQStream(push, io_loop)
    with pytest.raises(ValueError):
        stream.set_queue_limits(hwm=2, lwm=5)
    with pytest.raises(ValueError):
        stream.set_queue_limits(hwm_bytes=10, lwm_bytes=10)
    for i in range(20):
        stream.send(b"%d" % i)  # still unbounded
    assert stream.queue_size == 20
    stream.close(linger=0)


@pytest.mark.gen_test
async def test_drain_fails_when_the_stream_closes(io_loop: IOLoop, ctx: zmq.Context[Any]) -> None:
    push = ctx.socket(zmq.PUSH)
    stream = ZMQStream(push, io_loop, queue_hwm=4)
    for i in range(4):
        stream.send(b"%d" % i)
    drained = stream.drain()
    assert not drained.done()
    assert stream.close(linger=0) == 4
    with pytest.raises(StreamClosedError):
        await wait_future(drained)
    with pytest.raises(StreamClosedError):
        stream.drain()


@pytest.mark.gen_test
async def test_queue_limits_changed_on_a_live_stream(
    io_loop: IOLoop, ctx: zmq.Context[Any]
) -> None:
    push = ctx.socket(zmq.PUSH)
    stream = ZMQStream(push, io_loop)
    for i in range(6):
        stream.send(b"%d" % i)
    drained = stream.drain()  # unbounded: waits for an empty queue
    stream.set_queue_limits(hwm=4)  # below what is queued already
    assert not drained.done()
    with pytest.raises(SendQueueFull):
        stream.send(b"over")
    stream.set_queue_limits(hwm=10, lwm=6)
    assert drained.done()  # already at the new low mark
    stream.send(b"fits")
    assert stream.queue_size == 7
    stream.close(linger=0)


# -- 5. nothing dropped silently at close -------------------------------------------


@pytest.mark.gen_test
async def test_close_reports_each_unsent_message_and_the_count(
    io_loop: IOLoop, ctx: zmq.Context[Any], caplog: pytest.LogCaptureFixture
) -> None:
    push = ctx.socket(zmq.PUSH)  # no peer: nothing can go
    stream = ZMQStream(push, io_loop)
    reported: list[tuple[list[Any], Any]] = []
    own: list[Any] = []
    stream.on_send(lambda msg, status: reported.append((msg, status)))
    stream.send(b"a")
    stream.send_multipart([b"b", b"c"])
    stream.send_json({"d": 1}, callback=lambda msg, status: own.append(status))
    stream.send(bytearray(b"e"), zmq.SNDMORE)
    stream.send(b"f")
    with caplog.at_level(logging.WARNING):
        assert stream.close(linger=0) == 5
    assert [m for m, _ in reported] == [[b"a"], [b"b", b"c"], [b'{"d":1}'], [b"e"], [b"f"]]
    assert all(isinstance(status, StreamClosedError) for _, status in reported)
    assert len(own) == 1 and isinstance(own[0], StreamClosedError)
    problems = logged_problems(caplog)
    assert [r.getMessage() for r in problems] == [
        "ZMQStream closed with 5 queued message(s) not sent"
    ]
    assert problems[0].exc_info is None


@pytest.mark.gen_test
async def test_close_with_linger_delivers_the_queue_to_a_late_peer(
    io_loop: IOLoop, ctx: zmq.Context[Any]
) -> None:
    push = ctx.socket(zmq.PUSH)
    push.sndhwm = 2
    pull = ctx.socket(zmq.PULL)
    pull.rcvhwm = 2
    pull.bind("inproc://late-peer")
    push.connect("inproc://late-peer")
    stream = ZMQStream(push, io_loop)
    for i in range(10):
        stream.send(b"%d" % i)
    assert stream.queue_size > 0  # libzmq's HWM pushed back
    # close() hands over what libzmq takes now and reports the rest.
    unsent = stream.close(linger=1000)
    received = []
    while pull.poll(100, zmq.POLLIN):
        received.append(pull.recv())
    assert received == [b"%d" % i for i in range(10 - unsent)]
    assert unsent > 0


# -- 6. teardown in any order -------------------------------------------------------


STEPS = ("stream", "socket", "context")


@pytest.mark.parametrize("order", list(itertools.permutations(STEPS)), ids="-".join)
def test_teardown_in_any_order_is_quiet(
    order: tuple[str, ...], caplog: pytest.LogCaptureFixture
) -> None:
    context = zmq.Context()
    loop = IOLoop(make_current=False)
    pull = context.socket(zmq.PULL)
    push = context.socket(zmq.PUSH)
    pull.bind("inproc://teardown")
    push.connect("inproc://teardown")
    closes: list[str] = []

    async def main() -> None:
        receiver = ZMQStream(pull, loop)
        sender = ZMQStream(push, loop)
        receiver.set_close_callback(lambda: closes.append("receiver"))
        got = Collector()
        receiver.on_recv(got)
        sender.on_send(lambda msg, status: None)
        sender.send(b"before")
        await got.wait_for(1)
        for step in order:
            if step == "stream":
                receiver.close()
                sender.close()
            elif step == "socket":
                pull.close()
                push.close()
            else:
                context.destroy(linger=0)
            await turns()  # let the loop notice
            # Every public call stays quiet whatever is already gone; flush()
            # on a closed stream raises, as pyzmq's and our other calls do.
            for stream in (receiver, sender):
                stream.closed()
                with pytest.raises(StreamClosedError):
                    stream.flush()
                stream.close()
        assert receiver.closed() and sender.closed()

    try:
        with caplog.at_level(logging.WARNING):
            loop.run_sync(main, timeout=5)
    finally:
        loop.close(all_fds=True)
        context.destroy(linger=0)
    assert closes == ["receiver"]
    assert not logged_problems(caplog), [r.getMessage() for r in logged_problems(caplog)]


def test_context_terminated_from_another_thread_while_streams_are_open(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """ctx.term() elsewhere: the streams see ETERM, close their sockets, term returns."""
    context = zmq.Context()
    loop = IOLoop(make_current=False)
    pull = context.socket(zmq.PULL)
    push = context.socket(zmq.PUSH)
    pull.bind("inproc://term")
    push.connect("inproc://term")
    termed = threading.Event()

    async def main() -> None:
        receiver = ZMQStream(pull, loop)
        sender = ZMQStream(push, loop)  # no callback: nothing wanted, still noticed
        gone = asyncio.get_running_loop().create_future()
        closed: list[str] = []

        def on_close(name: str) -> None:
            closed.append(name)
            if len(closed) == 2:
                gone.set_result(None)

        receiver.set_close_callback(lambda: on_close("receiver"))
        sender.set_close_callback(lambda: on_close("sender"))
        receiver.on_recv(lambda msg: None)
        terminator = threading.Thread(target=lambda: (context.term(), termed.set()))
        terminator.start()
        await wait_future(gone)
        terminator.join(5)
        with pytest.raises(StreamClosedError):
            sender.send(b"late")

    try:
        with caplog.at_level(logging.WARNING):
            loop.run_sync(main, timeout=10)
    finally:
        loop.close()
        pull.close(linger=0)
        push.close(linger=0)
    assert termed.is_set()
    assert not logged_problems(caplog)


@pytest.mark.gen_test
async def test_closed_after_context_destroy_without_a_loop_turn(
    io_loop: IOLoop, socket_pair: SocketPair, ctx: zmq.Context[Any]
) -> None:
    pull, _ = socket_pair(zmq.PULL, zmq.PUSH)
    stream = ZMQStream(pull, io_loop)
    ctx.destroy(linger=0)
    assert stream.closed()


@pytest.mark.gen_test
async def test_send_on_socket_closed_behind_the_stream_raises_stream_closed(
    io_loop: IOLoop, socket_pair: SocketPair, caplog: pytest.LogCaptureFixture
) -> None:
    _, push = socket_pair(zmq.PULL, zmq.PUSH)
    stream = ZMQStream(push, io_loop)
    closes: list[int] = []
    stream.set_close_callback(lambda: closes.append(1))
    push.close()
    with caplog.at_level(logging.WARNING):
        with pytest.raises(StreamClosedError):
            stream.send(b"x")
        with pytest.raises(StreamClosedError):
            stream.send(b"again")
    assert stream.closed() and closes == [1]
    assert not logged_problems(caplog)


# -- 8. bad input fails at the call, nothing queued ---------------------------------


@pytest.mark.gen_test
async def test_bad_input_with_a_non_empty_queue_queues_nothing(
    io_loop: IOLoop, ctx: zmq.Context[Any]
) -> None:
    push = ctx.socket(zmq.PUSH)
    stream = ZMQStream(push, io_loop)
    stream.send(b"queued")
    bad_calls: list[Any] = [
        lambda: stream.send_multipart([b"ok", "str"]),
        lambda: stream.send_multipart([b"ok", None]),
        lambda: stream.send(object()),
        lambda: stream.send_json({1j}),
        lambda: stream.send_pyobj(lambda: None),
        lambda: stream.send(b"ok", callback="not callable"),
        lambda: stream.send_string(b"bytes"),
        lambda: stream.send_multipart(iter([b"a"])),
    ]
    for call in bad_calls:
        with pytest.raises((TypeError, ValueError, AttributeError, pickle.PicklingError)):
            call()
    assert stream.queue_size == 1 and stream.queue_bytes == len(b"queued")
    stream.close(linger=0)


@pytest.mark.gen_test
async def test_mutated_buffers_after_a_queued_send_arrive_unchanged(
    io_loop: IOLoop, ctx: zmq.Context[Any]
) -> None:
    push = ctx.socket(zmq.PUSH)
    stream = ZMQStream(push, io_loop)
    buffer = bytearray(b"original")
    view = memoryview(bytearray(b"view-original"))
    stream.send(buffer)
    stream.send_multipart([view, buffer])
    assert stream.queue_size == 2  # no peer yet: both wait
    buffer[:] = b"CHANGED!"
    view[:4] = b"XXXX"
    pull = ctx.socket(zmq.PULL)
    pull.bind("inproc://mutated")
    push.connect("inproc://mutated")
    await wait_future(stream.drain())
    assert pull.recv_multipart() == [b"original"]
    assert pull.recv_multipart() == [b"view-original", b"original"]
    stream.close()


@pytest.mark.parametrize("queued", [False, True], ids=["direct", "queued"])
@pytest.mark.gen_test
async def test_track_gives_the_callbacks_a_message_tracker(
    io_loop: IOLoop, ctx: zmq.Context[Any], queued: bool
) -> None:
    push = ctx.socket(zmq.PUSH)
    pull = ctx.socket(zmq.PULL)
    pull.bind(f"inproc://track-{queued}")
    if not queued:
        push.connect(f"inproc://track-{queued}")
    stream = ZMQStream(push, io_loop)
    statuses: list[Any] = []
    own: list[Any] = []
    done = asyncio.get_running_loop().create_future()

    def on_send(msg: list[Any], status: Any) -> None:
        statuses.append(status)
        if len(statuses) == 2:
            done.set_result(None)

    stream.on_send(on_send)
    big = b"x" * (zmq.COPY_THRESHOLD * 2)  # large enough to be really zero-copy
    stream.send(big, copy=False, track=True, callback=lambda msg, status: own.append(status))
    stream.send(b"plain")
    if queued:
        push.connect(f"inproc://track-{queued}")
    await wait_future(done)
    assert isinstance(statuses[0], zmq.MessageTracker)
    assert statuses[1] is None
    assert own == [statuses[0]]
    assert pull.recv() == big and pull.recv() == b"plain"
    stream.close()


@pytest.mark.gen_test
async def test_flush_after_the_socket_was_closed_behind_the_stream(
    io_loop: IOLoop, ctx: zmq.Context[Any], caplog: pytest.LogCaptureFixture
) -> None:
    """Found here: flush() sent each queued message into the dead socket, logged
    an ERROR per message, reported them as handled and left the stream open."""
    push = ctx.socket(zmq.PUSH)
    stream = ZMQStream(push, io_loop)
    statuses: list[Any] = []
    stream.on_send(lambda msg, status: statuses.append(status))
    for i in range(5):
        stream.send(b"%d" % i)
    stream.send_multipart([b"a", b"b"])
    push.close()
    with caplog.at_level(logging.WARNING):
        assert stream.flush() == 0
    assert stream.closed()
    assert len(statuses) == 6 and all(isinstance(s, StreamClosedError) for s in statuses)
    assert [r.getMessage() for r in logged_problems(caplog)] == [
        "ZMQStream closed with 6 queued message(s) not sent"
    ]


@pytest.mark.parametrize("sock_type", [zmq.PUSH, zmq.PULL], ids=["sending", "receiving"])
def test_flush_while_the_context_terminates(
    sock_type: int, caplog: pytest.LogCaptureFixture
) -> None:
    """flush() on the loop thread while another thread runs ctx.term(): ETERM closes
    the stream (so term can finish); it neither raises nor logs an error per message."""
    context = zmq.Context()
    loop = IOLoop(make_current=False)
    sock = context.socket(sock_type)
    terminator = threading.Thread(target=context.term)

    async def main() -> None:
        stream = ZMQStream(sock, loop)
        if sock_type == zmq.PUSH:
            for i in range(3):
                stream.send(b"%d" % i)  # no peer: queued
        else:
            stream.on_recv(lambda msg: None)
        terminator.start()
        # Spin without yielding, so flush (not the watch) meets ETERM first.
        deadline = time.monotonic() + 5
        while not stream.closed() and time.monotonic() < deadline:
            stream.flush()
        assert stream.closed()

    try:
        with caplog.at_level(logging.WARNING):
            loop.run_sync(main, timeout=10)
        terminator.join(5)
        assert not terminator.is_alive()
    finally:
        loop.close()
        sock.close(linger=0)
    reports = [r.getMessage() for r in logged_problems(caplog)]
    if sock_type == zmq.PUSH:
        assert reports == ["ZMQStream closed with 3 queued message(s) not sent"]
    else:
        assert reports == []
