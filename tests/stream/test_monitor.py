"""Socket monitoring: real connect/disconnect and failed CURVE handshake events."""

from __future__ import annotations

import asyncio
import struct
from typing import Any

import pytest
import zmq
from hypothesis import given
from hypothesis import strategies as st
from tornado.ioloop import IOLoop

import tzmq
from tests.conftest import SocketPair
from tests.stream.helpers import wait_future
from tzmq.stream.monitor import (
    MonitorEvent,
    MonitorMessageError,
    SocketMonitor,
    parse_monitor_message,
)


def test_parse_valid() -> None:
    frames = [struct.pack("=HI", int(zmq.Event.CONNECTED), 12), b"tcp://127.0.0.1:5"]
    event = parse_monitor_message(frames)
    assert event == MonitorEvent(zmq.Event.CONNECTED, 12, "tcp://127.0.0.1:5")
    assert event.name == "CONNECTED"
    assert parse_monitor_message([zmq.Frame(frames[0]), zmq.Frame(frames[1])]) == event


@pytest.mark.parametrize(
    "frames",
    [
        [],
        [b"\x01\x00\x00\x00\x00\x00"],
        [b"short", b""],
        [b"\x01\x00\x00\x00\x00\x00", b"", b"extra"],
        [struct.pack("=HI", 0x7777, 0), b""],
        [struct.pack("=HI", 1, 0), b"\xff\xfe"],
    ],
)
def test_parse_malformed(frames: list[bytes]) -> None:
    with pytest.raises(MonitorMessageError):
        parse_monitor_message(frames)


@given(st.lists(st.binary(max_size=12), max_size=4))
def test_parse_never_fails_otherwise(frames: list[bytes]) -> None:
    try:
        event = parse_monitor_message(frames)
    except MonitorMessageError:
        return
    assert isinstance(event, MonitorEvent)


@pytest.mark.gen_test
async def test_callback_sees_connect_and_disconnect(io_loop: IOLoop, ctx: zmq.Context[Any]) -> None:
    server = tzmq.ZMQStream(ctx.socket(zmq.ROUTER), io_loop)
    port = server.bind_to_random_port("tcp://127.0.0.1")
    seen: list[MonitorEvent] = []
    accepted = asyncio.get_running_loop().create_future()
    disconnected = asyncio.get_running_loop().create_future()

    def on_event(event: MonitorEvent) -> None:
        seen.append(event)
        if event.event == zmq.Event.HANDSHAKE_SUCCEEDED and not accepted.done():
            accepted.set_result(None)
        if event.event == zmq.Event.DISCONNECTED and not disconnected.done():
            disconnected.set_result(None)

    monitor = SocketMonitor(server)
    monitor.on_event(on_event)
    client = ctx.socket(zmq.DEALER)
    client.linger = 0
    client.connect(f"tcp://127.0.0.1:{port}")
    await wait_future(accepted)
    client.close()
    await wait_future(disconnected)
    names = [e.name for e in seen]
    assert "ACCEPTED" in names and names.index("ACCEPTED") < names.index("DISCONNECTED")
    monitor.close()
    server.close()


@pytest.mark.gen_test
async def test_async_iteration_sees_failed_curve_handshake(
    io_loop: IOLoop, ctx: zmq.Context[Any]
) -> None:
    _, server_secret = zmq.curve_keypair()
    wrong_public, _unused = zmq.curve_keypair()
    client_public, client_secret = zmq.curve_keypair()
    server = ctx.socket(zmq.ROUTER)
    server.curve_server = True
    server.curve_secretkey = server_secret
    port = server.bind_to_random_port("tcp://127.0.0.1")
    client = ctx.socket(zmq.DEALER)
    client.curve_serverkey = wrong_public  # not the server's: the handshake must fail
    client.curve_publickey = client_public
    client.curve_secretkey = client_secret
    monitor = SocketMonitor(server, io_loop=io_loop)

    async def first_failure() -> MonitorEvent:
        async for event in monitor:
            if event.name.startswith("HANDSHAKE_FAILED"):
                return event
        raise AssertionError("monitoring ended without a failed handshake")

    waiting = asyncio.ensure_future(first_failure())
    client.connect(f"tcp://127.0.0.1:{port}")
    client.send(b"must not arrive")
    event = await wait_future(waiting)
    assert event.endpoint.startswith("tcp://127.0.0.1")
    assert server.poll(0) == 0  # not one message got through
    monitor.close()


@pytest.mark.gen_test
async def test_iteration_ends_when_socket_closes(io_loop: IOLoop, socket_pair: SocketPair) -> None:
    sock, _ = socket_pair(zmq.PULL, zmq.PUSH)
    monitor = SocketMonitor(sock)
    events: list[str] = []

    async def collect() -> None:
        async for event in monitor:
            events.append(event.name)

    task = asyncio.ensure_future(collect())
    await asyncio.sleep(0)
    sock.close()
    await wait_future(task)
    assert events[-1] == "MONITOR_STOPPED"


@pytest.mark.gen_test
async def test_close_ends_pending_iteration(io_loop: IOLoop, socket_pair: SocketPair) -> None:
    sock, _ = socket_pair(zmq.PULL, zmq.PUSH)
    monitor = SocketMonitor(sock)
    got: list[MonitorEvent] = []

    async def collect() -> None:
        async for event in monitor:
            got.append(event)

    task = asyncio.ensure_future(collect())
    await asyncio.sleep(0)
    monitor.close()
    await wait_future(task)


def test_bad_targets(ctx: zmq.Context[Any]) -> None:
    with pytest.raises(TypeError):
        SocketMonitor("socket")  # type: ignore[arg-type]
    s = ctx.socket(zmq.PAIR)
    s.close()
    with pytest.raises(zmq.ZMQError):
        SocketMonitor(s)
