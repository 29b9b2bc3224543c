"""Background devices: a proxy on its own IOLoop thread or in its own process."""

from __future__ import annotations

from typing import Any

import pytest
import zmq

from tests.devices.helpers import bounded, inproc, peer, receive_n
from tzmq.devices import (
    ProcessMonitoredQueue,
    ProcessProxy,
    ProxyStatistics,
    ThreadMonitoredQueue,
    ThreadProxy,
)


@pytest.mark.gen_test
async def test_thread_proxy_starts_serves_is_steered_stops_and_joins(
    ctx: zmq.Context[Any],
) -> None:
    device = ThreadProxy(zmq.ROUTER, zmq.DEALER, ctrl_type=zmq.REP, context=ctx)
    port = device.bind_to_random_port("in", "tcp://127.0.0.1")
    back, control = inproc("back"), inproc("control")
    device.bind("out", back)
    device.setsockopt("out", zmq.LINGER, 0)
    device.bind("ctrl", control)
    assert not device.is_alive()
    device.start()
    assert device.is_alive()
    client = peer(ctx, zmq.REQ, f"tcp://127.0.0.1:{port}")
    worker = peer(ctx, zmq.REP, back)
    steer = peer(ctx, zmq.REQ, control)
    for i in range(20):
        await client.send(b"%d" % i)
        await worker.send_multipart(await bounded(worker.recv_multipart()))
        assert await bounded(client.recv()) == b"%d" % i
    await steer.send(b"STATISTICS")
    live = ProxyStatistics.from_frames(await bounded(steer.recv_multipart()))
    assert live.frontend_received.frames == 3 * 20
    device.stop()
    device.join(timeout=5)
    assert not device.is_alive()
    assert device.statistics is not None
    assert device.statistics.backend_received.messages == 20
    assert all(sock.closed for sock in device.sockets.values())
    device.stop()  # once more, after the end: nothing to do, nothing raised
    with pytest.raises(RuntimeError, match="starts once"):
        device.start()


@pytest.mark.gen_test
async def test_thread_monitored_queue_ends_on_terminate(ctx: zmq.Context[Any]) -> None:
    device = ThreadMonitoredQueue(
        zmq.PULL, zmq.PUSH, zmq.PUSH, b">", b"<", ctrl_type=zmq.PAIR, context=ctx
    )
    front, back, mon, control = (inproc(role) for role in ("in", "out", "mon", "ctrl"))
    for side, address in (("in", front), ("out", back), ("mon", mon), ("ctrl", control)):
        device.bind(side, address)  # type: ignore[arg-type]
    device.start()
    producer = peer(ctx, zmq.PUSH, front)
    consumer, tap = peer(ctx, zmq.PULL, back), peer(ctx, zmq.PULL, mon)
    steer = peer(ctx, zmq.PAIR, control)
    await producer.send_multipart([b"a", b"b"])
    assert await receive_n(consumer, 1) == [[b"a", b"b"]]
    assert await receive_n(tap, 1) == [[b">", b"a", b"b"]]
    await steer.send(b"TERMINATE")
    device.join(timeout=5)
    assert not device.is_alive()
    assert device.statistics is not None and device.statistics.captured == 1


def test_thread_device_bad_configuration_fails_at_the_call(ctx: zmq.Context[Any]) -> None:
    device = ThreadProxy(zmq.PULL, zmq.PUSH, context=ctx)
    with pytest.raises(ValueError, match="no 'ctrl' socket"):
        device.bind("ctrl", inproc("x"))
    with pytest.raises(TypeError, match="zmq type"):
        ThreadProxy("PULL", zmq.PUSH, context=ctx)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="in_prefix must be bytes"):
        ThreadMonitoredQueue(zmq.PULL, zmq.PUSH, in_prefix="in", context=ctx)  # type: ignore[arg-type]
    # Stopped before it started: its sockets are closed, there is nothing to join.
    device.stop()
    device.join()
    assert all(sock.closed for sock in device.sockets.values())
    # A device the proxy refuses fails at start(), in the caller's thread.
    refused = ThreadProxy(zmq.PUSH, zmq.PUSH, context=ctx)
    with pytest.raises(RuntimeError, match="nothing to forward"):
        refused.start()
    assert not refused.is_alive()
    with pytest.raises(RuntimeError, match="configure a background device before start"):
        refused.bind("in", inproc("late"))


@pytest.mark.gen_test(timeout=60)
async def test_process_proxy_serves_then_stops_and_reports(ctx: zmq.Context[Any]) -> None:
    device = ProcessProxy(zmq.PULL, zmq.PUSH)
    front = device.bind_to_random_port("in", "tcp://127.0.0.1")
    back = device.bind_to_random_port("out", "tcp://127.0.0.1")
    device.start()
    assert device.is_alive()
    producer = peer(ctx, zmq.PUSH, f"tcp://127.0.0.1:{front}")
    consumer = peer(ctx, zmq.PULL, f"tcp://127.0.0.1:{back}")
    for i in range(100):
        await producer.send(b"%d" % i)
    assert await receive_n(consumer, 100) == [[b"%d" % i] for i in range(100)]
    device.stop()
    device.join(timeout=10)
    assert not device.is_alive()
    assert device.statistics is not None
    assert device.statistics.backend_sent.messages == 100


@pytest.mark.gen_test(timeout=60)
async def test_process_monitored_queue_terminates_by_control_and_bad_config_fails_start(
    ctx: zmq.Context[Any],
) -> None:
    device = ProcessMonitoredQueue(zmq.PULL, zmq.PUSH, ctrl_type=zmq.REP)
    device.bind_to_random_port("in", "tcp://127.0.0.1")
    device.bind_to_random_port("out", "tcp://127.0.0.1")
    device.bind_to_random_port("mon", "tcp://127.0.0.1")
    control = device.bind_to_random_port("ctrl", "tcp://127.0.0.1")
    device.start()
    steer = peer(ctx, zmq.REQ, f"tcp://127.0.0.1:{control}")
    await steer.send(b"TERMINATE")
    assert await bounded(steer.recv_multipart(), 10) == [b""]
    device.join(timeout=10)
    assert not device.is_alive()
    assert device.statistics == ProxyStatistics()

    broken = ProcessProxy(zmq.PULL, zmq.PUSH)
    broken.bind("in", "tcp://127.0.0.1:not-a-port")
    with pytest.raises(RuntimeError, match="could not start"):
        broken.start()
    assert not broken.is_alive()
