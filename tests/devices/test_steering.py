"""Steering: PAUSE, RESUME, TERMINATE, STATISTICS by method and over REP/PAIR, bad commands."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import zmq
from hypothesis import given
from hypothesis import strategies as st

from tests.devices.helpers import bounded, inproc, peer, receive_n
from tzmq import Socket
from tzmq.devices import Proxy, ProxyStatistics, Traffic
from tzmq.devices._control import _refusal

HWM = 3


def _streamer(ctx: zmq.Context[Any], control_type: int | None = None) -> tuple[Proxy, Any, Socket]:
    """A PULL/PUSH proxy over inproc, a plain PUSH producer, a PULL consumer (and control)."""
    front, back = ctx.socket(zmq.PULL), ctx.socket(zmq.PUSH)
    front.rcvhwm = HWM
    front.bind(inproc("front"))
    back.bind(inproc("back"))
    control = None
    if control_type is not None:
        control = ctx.socket(control_type)
        control.bind(inproc("control"))
    proxy = Proxy(front, back, control=control)
    producer = ctx.socket(zmq.PUSH)
    producer.sndhwm = HWM
    producer.connect(front.last_endpoint.decode())
    consumer = peer(ctx, zmq.PULL, back.last_endpoint.decode())
    return proxy, producer, consumer


def _fill(producer: zmq.Socket[Any]) -> int:
    """Send without blocking until libzmq refuses; return how many went."""
    sent = 0
    while True:
        try:
            producer.send(b"%d" % sent, zmq.NOBLOCK)
        except zmq.Again:
            return sent
        sent += 1


def _controller(ctx: zmq.Context[Any], proxy: Proxy, kind: int) -> Socket:
    assert proxy._control is not None
    return peer(ctx, kind, proxy._control.stream.last_endpoint.decode())


@pytest.mark.gen_test
async def test_pause_reads_nothing_and_resume_delivers_everything(ctx: zmq.Context[Any]) -> None:
    proxy, producer, consumer = _streamer(ctx)
    proxy.pause()
    assert proxy.paused
    # Paused, the proxy reads nothing: the producer meets its HWM after
    # exactly what the inproc pipe holds (its SNDHWM plus the proxy's RCVHWM).
    assert _fill(producer) == 2 * HWM
    assert proxy.statistics() == ProxyStatistics()
    proxy.resume()
    assert not proxy.paused
    assert await receive_n(consumer, 2 * HWM) == [[b"%d" % i] for i in range(2 * HWM)]
    assert proxy.statistics().backend_sent.messages == 2 * HWM
    proxy.close()


@pytest.mark.gen_test
async def test_rep_control_answers_every_command_as_libzmq(ctx: zmq.Context[Any]) -> None:
    proxy, producer, consumer = _streamer(ctx, zmq.REP)
    control = _controller(ctx, proxy, zmq.REQ)
    await control.send(b"PAUSE")
    assert await bounded(control.recv_multipart()) == [b""]
    assert proxy.paused
    assert _fill(producer) == 2 * HWM
    await control.send(b"RESUME")
    assert await bounded(control.recv_multipart()) == [b""]
    assert len(await receive_n(consumer, 2 * HWM)) == 2 * HWM
    await control.send(b"STATISTICS")
    reply = await bounded(control.recv_multipart())
    assert len(reply) == 8 and all(len(frame) == 8 for frame in reply)
    parsed = ProxyStatistics.from_frames(reply)
    stats = proxy.statistics()
    assert parsed.to_frames() == stats.to_frames()
    assert parsed.frontend_received == Traffic(0, 2 * HWM, stats.frontend_received.bytes)
    await control.send(b"TERMINATE")
    assert await bounded(control.recv_multipart()) == [b""]
    final = await bounded(proxy.join())
    assert proxy.closed() and final.backend_sent.frames == 2 * HWM
    producer.close(linger=0)


@pytest.mark.gen_test
async def test_pair_control_replies_only_to_statistics_and_errors(ctx: zmq.Context[Any]) -> None:
    proxy, producer, _ = _streamer(ctx, zmq.PAIR)
    control = _controller(ctx, proxy, zmq.PAIR)
    await control.send(b"PAUSE")
    await control.send(b"pause")
    error = await bounded(control.recv_multipart())
    assert error[0] == b"ERROR" and b"unknown command b'pause'" in error[1]
    assert proxy.paused  # PAUSE took effect with no reply, as in libzmq
    await control.send(b"RESUME")
    await control.send(b"STATISTICS")
    assert ProxyStatistics.from_frames(await bounded(control.recv_multipart())).to_frames() == (
        proxy.statistics().to_frames()
    )
    assert not proxy.paused
    await control.send(b"TERMINATE")
    await bounded(proxy.join())
    assert await control.poll(0) == 0  # no reply to TERMINATE on PAIR
    producer.close(linger=0)


@pytest.mark.gen_test
async def test_bad_commands_get_an_error_and_change_nothing(ctx: zmq.Context[Any]) -> None:
    proxy, producer, _ = _streamer(ctx, zmq.REP)
    control = _controller(ctx, proxy, zmq.REQ)
    for bad in ([b"STOP"], [b""], [b"PAUSE", b"now"], [b"x" * 10_000], [b"TERMINATE\0"]):
        await control.send_multipart(bad)
        reply = await bounded(control.recv_multipart())
        assert reply[0] == b"ERROR" and len(reply) == 2
        assert len(reply[1]) < 200  # a long command is not echoed whole
    assert not proxy.paused and not proxy.closed()
    await control.send(b"STATISTICS")  # the REP socket is not stuck
    assert len(await bounded(control.recv_multipart())) == 8
    proxy.close()
    producer.close(linger=0)


@pytest.mark.gen_test
async def test_statistics_layout_matches_libzmq_proxy_steerable(ctx: zmq.Context[Any]) -> None:
    """The same traffic through libzmq's own proxy and ours gives the same STATISTICS."""
    frames = [[b"a"], [b"bb", b"ccc"], [b"", b"dddd", b"e"]]
    replies = []
    for ours in (True, False):
        front, back, control = ctx.socket(zmq.PULL), ctx.socket(zmq.PUSH), ctx.socket(zmq.REP)
        for sock, role in ((front, "front"), (back, "back"), (control, "control")):
            sock.bind(inproc(role))
        producer = peer(ctx, zmq.PUSH, front.last_endpoint.decode())
        consumer = peer(ctx, zmq.PULL, back.last_endpoint.decode())
        requester = peer(ctx, zmq.REQ, control.last_endpoint.decode())
        if ours:
            proxy = Proxy(front, back, control=control)
        else:
            thread = threading.Thread(target=zmq.proxy_steerable, args=(front, back, None, control))
            thread.start()
        for msg in frames:
            await producer.send_multipart(msg)
        assert await receive_n(consumer, len(frames)) == frames
        await requester.send(b"STATISTICS")
        replies.append(await bounded(requester.recv_multipart()))
        await requester.send(b"TERMINATE")
        await bounded(requester.recv_multipart())
        if ours:
            await bounded(proxy.join())
        else:
            thread.join(timeout=5)
            assert not thread.is_alive()
    assert replies[0] == replies[1]
    stats = ProxyStatistics.from_frames(replies[1])
    assert stats.frontend_received == stats.backend_sent == Traffic(0, 6, 11)


@given(st.lists(st.binary(max_size=40), max_size=4))
def test_any_control_message_is_a_command_or_a_clear_refusal(msg: list[bytes]) -> None:
    refusal = _refusal(msg)
    known = msg in ([b"PAUSE"], [b"RESUME"], [b"TERMINATE"], [b"STATISTICS"])
    assert (refusal is None) == known
    if refusal is not None:
        assert "command" in refusal and len(refusal) < 200


@given(st.lists(st.integers(0, 2**64 - 1), min_size=8, max_size=8))
def test_statistics_frames_round_trip(values: list[int]) -> None:
    traffic = [Traffic(0, values[i], values[i + 1]) for i in range(0, 8, 2)]
    stats = ProxyStatistics(traffic[0], traffic[1], traffic[2], traffic[3])
    assert ProxyStatistics.from_frames(stats.to_frames()) == stats
    with pytest.raises(ValueError, match="8 frames"):
        ProxyStatistics.from_frames(stats.to_frames()[:7])
