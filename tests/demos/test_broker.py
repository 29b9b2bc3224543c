"""The broker demo: the whole run with processes, and the broker's rules in-process."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import zmq
from tornado.ioloop import IOLoop

import tzmq
from demos import broker as demo
from tests.stream.helpers import wait_future


def test_demo_kills_a_worker_and_loses_nothing() -> None:
    result = demo.run_demo(clients=2, workers=2, requests=40, timeout=15)
    assert result.ok, result
    assert result.messages == 80
    assert "killed worker-" in result.detail and "none lost or duplicated" in result.detail


def test_demo_without_a_kill() -> None:
    result = demo.run_demo(clients=1, workers=1, requests=20, kill=False, timeout=15)
    assert result.ok, result
    assert "killed" not in result.detail


def test_demo_needs_two_workers_to_kill_one() -> None:
    with pytest.raises(ValueError, match="2 workers"):
        demo.run_demo(workers=1)


class _Rig:
    """A broker on the test's loop, with sockets for clients and hand-made workers."""

    def __init__(self, ctx: tzmq.Context) -> None:
        self.ctx = ctx
        self.frontend = tzmq.ZMQStream(ctx.socket(zmq.ROUTER, socket_class=zmq.Socket))
        self.backend = tzmq.ZMQStream(ctx.socket(zmq.ROUTER, socket_class=zmq.Socket))
        self.front = f"tcp://127.0.0.1:{self.frontend.bind_to_random_port('tcp://127.0.0.1')}"
        self.back = f"tcp://127.0.0.1:{self.backend.bind_to_random_port('tcp://127.0.0.1')}"
        # Fast heartbeats: a silent worker is dead after 200 ms.
        self.broker = demo.Broker(self.frontend, self.backend, heartbeat=0.05, liveness=4)
        self.sockets: list[Any] = []

    def dealer(self, name: bytes, endpoint: str) -> tzmq.Socket:
        sock: tzmq.Socket = self.ctx.socket(zmq.DEALER)
        sock.routing_id = name
        sock.linger = 0
        sock.connect(endpoint)
        self.sockets.append(sock)
        return sock

    def worker(self, name: bytes) -> demo.Worker:
        stream = tzmq.ZMQStream(self.ctx.socket(zmq.DEALER, socket_class=zmq.Socket))
        stream.routing_id = name
        stream.connect(self.back)
        self.sockets.append(stream)
        return demo.Worker(stream, capacity=1, work_seconds=0.001, heartbeat=0.02)

    def close(self) -> None:
        self.broker.close()
        for sock in self.sockets:
            sock.close(linger=0)


@pytest.fixture
def rig(io_loop: IOLoop) -> Iterator[_Rig]:
    ctx = tzmq.Context(io_loop=io_loop)
    made = _Rig(ctx)
    yield made
    made.close()
    ctx.term()


async def _next_command(sock: tzmq.Socket, command: bytes) -> list[bytes]:
    """The next message on ``sock`` that starts with ``command``.

    Until then ``sock`` answers the broker's heartbeats, so it stays alive
    however long the wait.
    """
    while True:
        msg: list[bytes] = await wait_future(sock.recv_multipart())
        if msg[0] == command:
            return msg
        if msg[0] == demo.HEARTBEAT:
            await sock.send_multipart([demo.HEARTBEAT])


@pytest.mark.gen_test(timeout=10)
async def test_a_silent_worker_is_buried_and_its_request_served_elsewhere(rig: _Rig) -> None:
    ghost = rig.dealer(b"ghost", rig.back)
    await ghost.send_multipart([demo.READY, b"1"])
    client = rig.dealer(b"client-0", rig.front)
    await client.send_multipart([b"r1", b"7"])
    _, owner, request_id, body = await _next_command(ghost, demo.REQUEST)
    assert (owner, request_id, body) == (b"client-0", b"r1", b"7")

    # Now the ghost never answers and stops heartbeating; a real worker joins.
    rig.worker(b"worker-1")
    assert await wait_future(client.recv_multipart()) == [b"r1", b"worker-1", b"49"]
    assert rig.broker.stats.dead == [b"ghost"]
    assert [r.workers for r in rig.broker.stats.retried] == [[b"ghost", b"worker-1"]]

    # The ghost answers after all: too late. Dropped, and it is told to start afresh.
    await ghost.send_multipart([demo.REPLY, b"client-0", b"r1", b"49"])
    assert await _next_command(ghost, demo.RESET) == [demo.RESET]
    assert rig.broker.stats.late == 1
    await client.send_multipart([b"r2", b"3"])
    assert await wait_future(client.recv_multipart()) == [b"r2", b"worker-1", b"9"]
    assert rig.broker.stats.replied == 2


@pytest.mark.gen_test(timeout=10)
async def test_load_is_spread_and_malformed_messages_are_counted(rig: _Rig) -> None:
    workers = [rig.worker(b"worker-%d" % i) for i in range(3)]
    client = rig.dealer(b"client-0", rig.front)
    await client.send_multipart([b"only one frame"])
    report = await demo.run_client(client, "client-0", requests=60, window=6, timeout=5)
    assert report.ok, report
    assert set(report.served_by.values()) == {"worker-0", "worker-1", "worker-2"}
    assert sum(w.served for w in workers) == 60
    assert rig.broker.stats.malformed == 1
    assert rig.broker.stats.dead == []


@pytest.mark.gen_test(timeout=10)
async def test_worker_exits_0_on_disconnect_and_1_when_the_broker_is_gone(rig: _Rig) -> None:
    told = rig.worker(b"worker-a")
    client = rig.dealer(b"client-0", rig.front)
    await client.send_multipart([b"r1", b"2"])  # a reply proves the worker is registered
    assert await wait_future(client.recv_multipart()) == [b"r1", b"worker-a", b"4"]
    rig.broker.close()
    assert await wait_future(told.done) == 0

    orphan_stream = tzmq.ZMQStream(rig.ctx.socket(zmq.DEALER, socket_class=zmq.Socket))
    rig.sockets.append(orphan_stream)
    orphan_stream.connect(rig.back)  # nobody serves it any more
    orphan = demo.Worker(orphan_stream, heartbeat=0.01, liveness=3)
    assert await wait_future(orphan.done) == 1


def test_a_client_report_is_ok_only_when_every_request_was_answered_once() -> None:
    report = demo.ClientReport("c", requests=2, sent=2, served_by={"0": "w", "1": "w"})
    assert report.ok
    assert not demo.ClientReport("c", requests=3, sent=2, served_by={"0": "w", "1": "w"}).ok
    report.duplicates = 1
    assert not report.ok


@pytest.mark.gen_test(timeout=10)
async def test_a_worker_refuses_numbers_it_cannot_square_cheaply(rig: _Rig) -> None:
    rig.worker(b"worker-1")
    client = rig.dealer(b"client-0", rig.front)
    await client.send_multipart([b"big", b"9" * 5000])
    reply = await wait_future(client.recv_multipart())
    assert reply[:2] == [b"big", b"worker-1"] and reply[2].startswith(b"not a number")
