"""The figures of streams and future sockets: their stats, the snapshot, the Prometheus export."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import json
import threading
import weakref
from collections.abc import Iterator
from typing import Any

import pytest
import zmq
from prometheus_client import CollectorRegistry
from tornado.ioloop import IOLoop

import tzmq
from tests.conftest import SocketPair, TrackingContext, close_tracked
from tests.stream.helpers import Collector, turns, wait_future
from tzmq import ZMQStream
from tzmq.metrics import StreamCollector
from tzmq.stream import SocketStats, count_traffic, stats_snapshot


class _FutureContext(TrackingContext, tzmq.Context):
    """The suite's tracking context, making future sockets."""


@pytest.fixture
def fctx() -> Iterator[tzmq.Context]:
    context = _FutureContext()
    yield context
    close_tracked(context)


@pytest.fixture
def traffic() -> Iterator[None]:
    """Traffic counted during the test, off again after it (the default)."""
    count_traffic()
    yield
    count_traffic(False)


def _inproc_pair(ctx: zmq.Context[Any], bind_type: int, connect_type: int) -> tuple[Any, Any]:
    bound = ctx.socket(bind_type)
    address = f"inproc://stats-{id(bound)}"
    bound.bind(address)
    peer = ctx.socket(connect_type)
    peer.connect(address)
    return bound, peer


def _receiving(
    io_loop: IOLoop, socket_pair: SocketPair, copy: bool = True
) -> tuple[ZMQStream, zmq.Socket[Any], Collector]:
    """A PULL stream collecting what its plain PUSH peer sends (inproc)."""
    pull, push = socket_pair(zmq.PULL, zmq.PUSH, "inproc")
    receiver = ZMQStream(pull, io_loop)
    got = Collector()
    receiver.on_recv(got, copy=copy)
    return receiver, push, got


def _unpeered_sender(io_loop: IOLoop, ctx: zmq.Context[Any]) -> tuple[ZMQStream, str]:
    """A stream on a bound PUSH with no peer yet (libzmq refuses its sends), and its address."""
    push = ctx.socket(zmq.PUSH)
    address = f"inproc://stats-{id(push)}"
    push.bind(address)
    return ZMQStream(push, io_loop), address


def _by_serial(serial: int) -> SocketStats | None:
    return next((s for s in stats_snapshot() if s.serial == serial), None)


# -- ZMQStream --------------------------------------------------------------------


@pytest.mark.gen_test
async def test_stream_counts_messages_and_bytes_both_ways(
    io_loop: IOLoop, socket_pair: SocketPair, traffic: None
) -> None:
    receiver, push, got = _receiving(io_loop, socket_pair)
    sender = ZMQStream(push, io_loop)
    sender.send(b"12345")
    sender.send_multipart([b"ab", bytearray(b"cde"), memoryview(b"fghi")])
    sender.send_string("\u00e9")  # two bytes in UTF-8
    sender.send_multipart([b"x" * 1000])
    await got.wait_for(4)
    sent, received = sender.stats, receiver.stats
    assert (sent.messages_out, sent.bytes_out) == (4, 5 + 9 + 2 + 1000)
    assert (received.messages_in, received.bytes_in) == (4, 5 + 9 + 2 + 1000)
    assert (sent.messages_in, received.messages_out) == (0, 0)
    assert received.batches >= 1 and received.traffic
    assert (received.kind, received.socket_type, sent.socket_type) == ("ZMQStream", "PULL", "PUSH")
    receiver.close()
    sender.close()


@pytest.mark.gen_test
async def test_stream_copy_false_counts_frame_sizes(
    io_loop: IOLoop, socket_pair: SocketPair, traffic: None
) -> None:
    receiver, push, got = _receiving(io_loop, socket_pair, copy=False)
    push.send_multipart([b"abc", b"de"])
    await got.wait_for(1)
    assert (receiver.stats.messages_in, receiver.stats.bytes_in) == (1, 5)
    receiver.close()


@pytest.mark.gen_test
async def test_traffic_is_off_by_default_and_the_rest_is_always_counted(
    io_loop: IOLoop, fctx: tzmq.Context
) -> None:
    rep, req = _inproc_pair(fctx, zmq.REP, zmq.REQ)
    server = ZMQStream(rep, io_loop)
    server.on_recv(server.send_multipart)
    await wait_future(req.send(b"ping"))
    assert await wait_future(req.recv()) == b"ping"
    stats = server.stats
    assert not stats.traffic
    assert (stats.messages_in, stats.bytes_in, stats.messages_out, stats.bytes_out) == (0, 0, 0, 0)
    assert stats.batches == 1
    server.close()


@pytest.mark.gen_test
async def test_traffic_counting_turned_on_for_a_live_stream_counts_from_then(
    io_loop: IOLoop, socket_pair: SocketPair
) -> None:
    receiver, push, got = _receiving(io_loop, socket_pair)
    push.send(b"before")
    await got.wait_for(1)
    count_traffic()
    try:
        push.send(b"after")
        await got.wait_for(2)
    finally:
        count_traffic(False)
    assert (receiver.stats.messages_in, receiver.stats.bytes_in) == (1, 5)
    receiver.close()


@pytest.mark.gen_test
async def test_queue_depth_peak_and_waited_sends(
    io_loop: IOLoop, ctx: zmq.Context[Any], traffic: None
) -> None:
    sender, address = _unpeered_sender(io_loop, ctx)  # every send queues
    for i in range(10):
        sender.send(b"%d" % i)
    stats = sender.stats
    assert (stats.queued, stats.queued_peak, stats.sends_waited) == (10, 10, 10)
    assert (stats.messages_out, stats.bytes_out) == (0, 0)
    pull = ctx.socket(zmq.PULL, socket_class=tzmq.Socket)
    pull.connect(address)
    await wait_future(sender.drain())
    assert await wait_future(pull.recv_multipart()) == [b"0"]
    stats = sender.stats
    assert (stats.queued, stats.queued_peak, stats.sends_waited) == (0, 10, 10)
    assert (stats.messages_out, stats.bytes_out) == (10, 10)
    assert stats.batches >= 1
    sender.close()


@pytest.mark.gen_test
async def test_sndmore_frames_count_one_message_whether_sent_or_queued(
    io_loop: IOLoop, ctx: zmq.Context[Any], traffic: None
) -> None:
    sender, address = _unpeered_sender(io_loop, ctx)
    sender.send(b"ab", zmq.SNDMORE)  # queued: no peer yet
    sender.send(b"c")
    pull = ctx.socket(zmq.PULL, socket_class=tzmq.Socket)
    pull.connect(address)
    await wait_future(sender.drain())
    sender.send(b"de", zmq.SNDMORE)  # sent at once now
    sender.send(b"f")
    received = [await wait_future(pull.recv_multipart()) for _ in range(2)]
    assert received == [[b"ab", b"c"], [b"de", b"f"]]
    assert (sender.stats.messages_out, sender.stats.bytes_out) == (2, 6)
    sender.close()


@pytest.mark.gen_test
async def test_callback_errors_are_counted(
    io_loop: IOLoop, socket_pair: SocketPair, caplog: pytest.LogCaptureFixture
) -> None:
    dealer_a, dealer_b = socket_pair(zmq.DEALER, zmq.DEALER, "inproc")
    stream, peer = ZMQStream(dealer_a, io_loop), ZMQStream(dealer_b, io_loop)
    seen = Collector()

    def broken(msg: list[bytes]) -> None:
        seen(msg)
        raise ValueError("receive boom")

    async def broken_later(msg: list[bytes]) -> None:
        seen(msg)
        await asyncio.sleep(0)
        raise ValueError("coroutine boom")

    def broken_send(msg: list[Any], status: Any) -> None:
        raise ValueError("send boom")

    stream.on_recv(broken)
    peer.send(b"1")
    await seen.wait_for(1)
    stream.on_recv(broken_later)
    peer.send(b"2")
    await seen.wait_for(2)
    await turns()
    stream.send(b"x", callback=broken_send)
    await turns()
    assert stream.stats.callback_errors == 3
    stream.set_close_callback(lambda: 1 / 0)
    stream.close()
    assert stream.stats.callback_errors == 4
    assert peer.stats.callback_errors == 0
    assert sum(r.levelname == "ERROR" for r in caplog.records) == 4
    peer.close()


@pytest.mark.gen_test
async def test_flush_counts_what_it_receives(
    io_loop: IOLoop, socket_pair: SocketPair, traffic: None
) -> None:
    pull, push = socket_pair(zmq.PULL, zmq.PUSH, "inproc")
    stream = ZMQStream(pull, io_loop)
    for _ in range(3):
        push.send(b"abcd")
    assert stream.flush(zmq.POLLIN) == 3  # no callback: received and dropped
    assert (stream.stats.messages_in, stream.stats.bytes_in, stream.stats.batches) == (3, 12, 0)
    stream.close()


# -- future Socket ------------------------------------------------------------------


@pytest.mark.gen_test
async def test_future_socket_counts_messages_and_bytes(fctx: tzmq.Context, traffic: None) -> None:
    pull, push = _inproc_pair(fctx, zmq.PULL, zmq.PUSH)
    await push.send(b"abc")
    await push.send_multipart([b"de", b"f"])
    await push.send(b"gh", zmq.SNDMORE)
    await push.send_string("ij")
    await push.send_json({"k": 1})
    assert await pull.recv_multipart() == [b"abc"]
    assert await pull.recv_multipart(copy=False) is not None
    assert await pull.recv() == b"gh"  # one frame of a two-frame message
    assert (pull.stats.messages_in, pull.stats.bytes_in) == (2, 8)
    assert await pull.recv_string() == "ij"
    buffer = bytearray(3)
    assert await pull.recv_into(buffer) == len(json.dumps({"k": 1}, separators=(",", ":")))
    expected_bytes = 3 + 3 + 4 + len(json.dumps({"k": 1}, separators=(",", ":")))
    assert (push.stats.messages_out, push.stats.bytes_out) == (4, expected_bytes)
    assert (pull.stats.messages_in, pull.stats.bytes_in) == (4, expected_bytes)
    assert (pull.stats.kind, pull.stats.socket_type) == ("Socket", "PULL")


@pytest.mark.gen_test
async def test_future_socket_waiting_calls_count_batches_and_traffic(
    fctx: tzmq.Context, traffic: None
) -> None:
    pull, push = _inproc_pair(fctx, zmq.PULL, zmq.PUSH)
    waiting = pull.recv_multipart()  # nothing there yet: served by a pass
    await turns()
    await push.send_multipart([b"hello", b"!"])
    assert await wait_future(waiting) == [b"hello", b"!"]
    assert (pull.stats.messages_in, pull.stats.bytes_in) == (1, 6)
    assert pull.stats.batches == 1


@pytest.mark.gen_test
async def test_future_socket_queued_sends(fctx: tzmq.Context, traffic: None) -> None:
    push = fctx.socket(zmq.PUSH)
    address = f"inproc://stats-future-queue-{id(push)}"
    push.bind(address)  # no peer: the sends wait
    sends = [push.send(b"%d" % i) for i in range(5)]
    await turns()
    stats = push.stats
    assert (stats.queued, stats.queued_peak, stats.sends_waited, stats.messages_out) == (5, 5, 5, 0)
    pull = fctx.socket(zmq.PULL, socket_class=zmq.Socket)
    pull.connect(address)
    for send in sends:
        await wait_future(send)
    stats = push.stats
    assert (stats.queued, stats.queued_peak, stats.sends_waited) == (0, 5, 5)
    assert (stats.messages_out, stats.bytes_out, stats.batches) == (5, 5, 1)


@pytest.mark.gen_test
async def test_future_socket_counts_failed_decodes_as_callback_errors(fctx: tzmq.Context) -> None:
    pull, push = _inproc_pair(fctx, zmq.PULL, zmq.PUSH)
    push.send(b"not json")
    push.send(b"\xff")
    with pytest.raises(ValueError):
        await pull.recv_json()
    with pytest.raises(UnicodeDecodeError):
        await pull.recv_string()
    assert pull.stats.callback_errors == 2


# -- the process-wide snapshot ------------------------------------------------------


@pytest.mark.gen_test
async def test_snapshot_lists_live_streams_and_sockets_until_closed(
    io_loop: IOLoop, ctx: zmq.Context[Any], fctx: tzmq.Context
) -> None:
    stream = ZMQStream(ctx.socket(zmq.ROUTER), io_loop)
    sock = fctx.socket(zmq.DEALER)
    serials = [stream.stats.serial, sock.stats.serial]
    assert serials[0] < serials[1]
    listed = [s for s in stats_snapshot() if s.serial in serials]
    assert [(s.kind, s.socket_type) for s in listed] == [
        ("ZMQStream", "ROUTER"),
        ("Socket", "DEALER"),
    ]
    stream.close()
    sock.close()
    assert _by_serial(serials[0]) is None and _by_serial(serials[1]) is None
    assert stream.stats.serial == serials[0]  # still readable after close


def test_snapshot_holds_sockets_weakly() -> None:
    context = tzmq.Context()
    try:
        sock = context.socket(zmq.PUSH)
        serial = sock.stats.serial
        # Closed behind its back with nothing pending: nobody noticed, still listed.
        zmq.Socket.shadow(sock.underlying).close()
        assert _by_serial(serial) is not None
        gone = weakref.ref(sock)
        del sock
        gc.collect()
        assert gone() is None
        assert _by_serial(serial) is None
    finally:
        context.term()


@pytest.mark.gen_test
async def test_a_socket_closed_behind_its_back_leaves_the_snapshot(
    io_loop: IOLoop, fctx: tzmq.Context
) -> None:
    sock = fctx.socket(zmq.PULL)
    sock.bind(f"inproc://stats-gone-{id(sock)}")
    waiting = sock.recv()
    serial = sock.stats.serial
    zmq.Socket.shadow(sock.underlying).close()
    with pytest.raises(zmq.ZMQError):
        await wait_future(waiting)
    assert _by_serial(serial) is None


@pytest.mark.gen_test
async def test_snapshot_from_another_thread_sees_figures_grow(
    io_loop: IOLoop, socket_pair: SocketPair, traffic: None
) -> None:
    receiver, push, got = _receiving(io_loop, socket_pair)
    serial = receiver.stats.serial
    seen: list[int] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set() and len(seen) < 10_000:
            stats = _by_serial(serial)
            assert stats is not None
            seen.append(stats.messages_in)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        for i in range(2000):
            push.send(b"%d" % i)
        await got.wait_for(2000)
    finally:
        stop.set()
        watcher.join(5)
    assert not watcher.is_alive()
    assert seen == sorted(seen) and seen[-1] <= 2000
    assert receiver.stats.messages_in == 2000
    receiver.close()


def test_stats_are_a_frozen_snapshot() -> None:
    context = tzmq.Context()
    try:
        sock = context.socket(zmq.PUB)
        stats = sock.stats
        with pytest.raises(dataclasses.FrozenInstanceError):
            stats.batches = 1
        sock.close()
    finally:
        context.term()


# -- Prometheus -----------------------------------------------------------------------


@pytest.mark.gen_test
async def test_prometheus_collector_exports_each_live_socket(
    io_loop: IOLoop, socket_pair: SocketPair, traffic: None
) -> None:
    receiver, push, got = _receiving(io_loop, socket_pair)
    push.send(b"abc")
    await got.wait_for(1)
    registry = CollectorRegistry()
    registry.register(StreamCollector())
    labels = {"kind": "ZMQStream", "socket_type": "PULL", "serial": str(receiver.stats.serial)}
    assert registry.get_sample_value("tzmq_received_messages_total", labels) == 1
    assert registry.get_sample_value("tzmq_received_bytes_total", labels) == 3
    assert registry.get_sample_value("tzmq_batches_total", labels) == 1
    assert registry.get_sample_value("tzmq_send_queue_peak_messages", labels) == 0
    count_traffic(False)
    assert registry.get_sample_value("tzmq_received_messages_total", labels) is None
    assert registry.get_sample_value("tzmq_batches_total", labels) == 1
    receiver.close()
    assert registry.get_sample_value("tzmq_batches_total", labels) is None
