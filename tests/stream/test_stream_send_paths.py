"""The send shortcuts: plain ``bytes`` past a queue, the tight hand-over loop.

``ZMQStream.send(bytes)`` on the loop thread skips the general path: straight
to libzmq with an empty queue, straight onto an unbounded queue behind queued
messages. The queue hands runs of such frames to libzmq in a loop of its own.
These tests pin that the shortcuts keep order, accounting, bounds and
callbacks exactly as the general path does.
"""

from __future__ import annotations

from typing import Any

import pytest
import zmq
from tornado.ioloop import IOLoop

import tzmq
from tests.stream.helpers import wait_future
from tzmq import SendQueueFull, ZMQStream


def _peer(ctx: zmq.Context[Any], push: zmq.Socket[Any], name: str) -> zmq.Socket[Any]:
    pull = ctx.socket(zmq.PULL)
    pull.rcvhwm = 0
    pull.rcvtimeo = 5000
    pull.bind(f"inproc://{name}")
    push.connect(f"inproc://{name}")
    return pull


@pytest.mark.gen_test
async def test_plain_frames_behind_other_messages_keep_order_and_callbacks(
    io_loop: IOLoop, ctx: zmq.Context[Any]
) -> None:
    push = ctx.socket(zmq.PUSH)
    stream = ZMQStream(push, io_loop, max_batch=7)
    reported: list[list[Any]] = []
    expected: list[list[bytes]] = []
    for i in range(300):  # no peer yet: everything queues, in one of three forms
        if i % 10 == 3:
            stream.send(b"cb%d" % i, callback=lambda msg, status: reported.append(msg))
            expected.append([b"cb%d" % i])
        elif i % 10 == 7:
            stream.send_multipart([b"mp%d" % i, b"tail"])
            expected.append([b"mp%d" % i, b"tail"])
        else:
            stream.send(b"%d" % i)
            expected.append([b"%d" % i])
    assert stream.queue_size == 300
    assert stream.queue_bytes == sum(len(part) for msg in expected for part in msg)
    pull = _peer(ctx, push, "order")
    await wait_future(stream.drain())
    assert stream.queue_size == 0 and stream.queue_bytes == 0
    assert [pull.recv_multipart() for _ in range(300)] == expected
    assert reported == [[b"cb%d" % i] for i in range(3, 300, 10)]
    stream.close()


@pytest.mark.gen_test
async def test_bounded_queue_refuses_plain_frames_at_its_mark(
    io_loop: IOLoop, ctx: zmq.Context[Any]
) -> None:
    push = ctx.socket(zmq.PUSH)
    stream = ZMQStream(push, io_loop, queue_hwm=5)
    for i in range(5):
        stream.send(b"%d" % i)
    with pytest.raises(SendQueueFull):
        stream.send(b"one too many")
    assert stream.queue_size == 5
    # Unbounded again: the shortcut appends past the old mark.
    stream.set_queue_limits()
    for i in range(5, 20):
        stream.send(b"%d" % i)
    pull = _peer(ctx, push, "bounded")
    await wait_future(stream.drain())
    assert [pull.recv() for _ in range(20)] == [b"%d" % i for i in range(20)]
    stream.close()


@pytest.mark.gen_test
async def test_drain_waiters_wake_from_the_plain_run(
    io_loop: IOLoop, ctx: zmq.Context[Any]
) -> None:
    push = ctx.socket(zmq.PUSH)
    stream = ZMQStream(push, io_loop, queue_hwm=1000, queue_lwm=100)
    for i in range(900):
        stream.send(b"%d" % i)
    drained = stream.drain()
    assert not drained.done()
    pull = _peer(ctx, push, "drainers")
    await wait_future(drained)
    assert stream.queue_size <= 100
    await wait_future(stream.drain())
    assert len([pull.recv() for _ in range(900)]) == 900
    stream.close()


@pytest.mark.gen_test
async def test_on_send_sees_every_plain_frame_in_order(
    io_loop: IOLoop, ctx: zmq.Context[Any]
) -> None:
    push = ctx.socket(zmq.PUSH)
    stream = ZMQStream(push, io_loop)
    seen: list[bytes] = []
    stream.on_send(lambda msg, status: seen.append(msg[0]))
    for i in range(50):
        stream.send(b"%d" % i)
    pull = _peer(ctx, push, "on-send")
    await wait_future(stream.drain())  # all were queued: reported as they leave
    assert [pull.recv() for _ in range(50)] == [b"%d" % i for i in range(50)]
    assert seen == [b"%d" % i for i in range(50)]
    stream.close()


@pytest.mark.gen_test
async def test_a_reused_list_does_not_change_a_queued_zero_copy_message(
    io_loop: IOLoop, ctx: zmq.Context[Any]
) -> None:
    push = ctx.socket(zmq.PUSH)
    stream = ZMQStream(push, io_loop)
    parts = [b"first", b"message"]
    stream.send_multipart(parts, copy=False)  # no peer yet: queued
    parts[:] = [b"reused"]
    pull = _peer(ctx, push, "reused-list")
    await wait_future(stream.drain())
    assert pull.recv_multipart() == [b"first", b"message"]
    stream.close()


@pytest.mark.gen_test
async def test_queued_multipart_messages_keep_frames_order_callbacks_and_bounds(
    io_loop: IOLoop, ctx: zmq.Context[Any]
) -> None:
    """Multipart messages of plain frames wait as bare lists: the caller's list
    may change after the call, on_send sees each one whole, a bound refuses
    them at its mark, and close() reports those left with their frames."""
    push = ctx.socket(zmq.PUSH)
    stream = ZMQStream(push, io_loop, queue_hwm=40)
    seen: list[list[bytes]] = []
    stream.on_send(lambda msg, status: seen.append(msg))
    parts = [b"head", b"body"]
    expected: list[list[bytes]] = []
    for i in range(40):
        parts[1] = b"body %d" % i
        stream.send_multipart(parts if i % 2 else tuple(parts))
        expected.append([b"head", b"body %d" % i])
    parts[:] = [b"reused"]
    with pytest.raises(SendQueueFull):
        stream.send_multipart([b"one", b"too many"])
    assert stream.queue_size == 40
    assert stream.queue_bytes == sum(len(p) for msg in expected for p in msg)
    pull = _peer(ctx, push, "plain-multipart")
    await wait_future(stream.drain())
    assert [pull.recv_multipart() for _ in range(40)] == expected
    assert seen == expected

    other = ZMQStream(ctx.socket(zmq.PUSH), io_loop)  # no peer: these stay queued
    lost: list[list[bytes]] = []
    other.on_send(lambda msg, status: lost.append(msg))
    other.send_multipart([b"never", b"sent"])
    other.send_multipart([b"nor", b"this"])
    assert other.close(linger=0) == 2
    assert lost == [[b"never", b"sent"], [b"nor", b"this"]]
    stream.close()


@pytest.mark.gen_test
async def test_queued_multipart_on_an_unbounded_queue_keeps_what_was_sent(
    io_loop: IOLoop, ctx: zmq.Context[Any]
) -> None:
    """The unbounded queue's shortcut for plain multipart messages: the caller's
    list may change after the call, other frame types still take the general
    path (a bytearray is copied), the byte count and the order hold."""
    push = ctx.socket(zmq.PUSH)
    stream = ZMQStream(push, io_loop)
    stream.send(b"first")  # no peer: queued, so the rest go behind it
    parts = [b"head", b"body"]
    buffer = bytearray(b"buffer")
    expected: list[list[bytes]] = [[b"first"]]
    for i in range(30):
        parts[1] = b"body %d" % i
        if i % 3 == 0:
            stream.send_multipart(tuple(parts))
        elif i % 3 == 1:
            stream.send_multipart(parts)
        else:
            stream.send_multipart([b"head", buffer])
        expected.append([b"head", b"buffer" if i % 3 == 2 else b"body %d" % i])
    parts[:] = [b"reused"]
    buffer[:] = b"change"
    assert stream.queue_size == 31
    assert stream.queue_bytes == sum(len(p) for msg in expected for p in msg)
    pull = _peer(ctx, push, "unbounded-multipart")
    await wait_future(stream.drain())
    assert stream.queue_bytes == 0
    assert [pull.recv_multipart() for _ in range(31)] == expected
    stream.send(b"x")
    assert pull.recv() == b"x"
    stream.close()


@pytest.mark.gen_test
async def test_a_reused_list_does_not_change_a_pending_future_send(
    io_loop: IOLoop, ctx: zmq.Context[Any]
) -> None:
    push = tzmq.Socket(ctx, zmq.PUSH)
    try:
        parts = [b"first", b"message"]
        sent = push.send_multipart(parts, copy=False)  # no peer yet: pending
        parts[:] = [b"reused"]
        pull = _peer(ctx, push, "reused-future-list")
        await wait_future(sent)
        assert pull.recv_multipart() == [b"first", b"message"]
    finally:
        push.close(linger=0)


@pytest.mark.gen_test
async def test_send_options_are_checked_at_the_call(io_loop: IOLoop, ctx: zmq.Context[Any]) -> None:
    """A keyword ``zmq.Socket.send`` does not take, or a DRAFT option this libzmq
    cannot honour, raises at the call: before, a queued send took it and failed
    later, inside the loop."""
    stream = ZMQStream(ctx.socket(zmq.PUSH), io_loop)  # no peer: every send would queue
    future_ctx = tzmq.Context()
    future_push = future_ctx.socket(zmq.PUSH)
    calls: list[tuple[Any, Any]] = [
        (stream.send, b"x"),
        (stream.send_multipart, [b"x"]),
        (stream.send_string, "x"),
        (stream.send_json, {"x": 1}),
        (stream.send_pyobj, {"x": 1}),
        (future_push.send, b"x"),
        (future_push.send_multipart, [b"x"]),
    ]
    try:
        for method, argument in calls:
            with pytest.raises(TypeError, match="bogus"):
                method(argument, bogus=1)
        for sender in (stream.send_multipart, future_push.send_multipart):
            if zmq.DRAFT_API:
                with pytest.raises(TypeError, match="routing_id"):
                    sender([b"x"], routing_id="not an int")
            else:
                with pytest.raises(zmq.ZMQError) as refused:
                    sender([b"x"], routing_id=5)
                assert refused.value.errno == zmq.ENOTSUP
        assert stream.queue_size == 0
    finally:
        stream.close()
        future_push.close(linger=0)
        future_ctx.term()
