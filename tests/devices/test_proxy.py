"""Proxy: the three classic shapes, capture, statistics that add up, closing, bad input."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import zmq
from tornado.ioloop import IOLoop

from tests.devices.helpers import bounded, inproc, peer, receive_n, until
from tzmq import StreamClosedError, ZMQStream
from tzmq.devices import MonitoredQueue, Proxy, ProxyStatistics, Traffic


def _bound(ctx: zmq.Context[Any], kind: int, role: str, **options: int) -> zmq.Socket[Any]:
    sock: zmq.Socket[Any] = ctx.socket(kind)
    for name, value in options.items():
        sock.setsockopt(getattr(zmq, name.upper()), value)
    sock.bind(inproc(role))
    return sock


def _address(sock: zmq.Socket[Any] | ZMQStream) -> str:
    endpoint: bytes = sock.getsockopt(zmq.LAST_ENDPOINT)  # type: ignore[assignment]
    return endpoint.decode()


@pytest.mark.gen_test
async def test_queue_router_dealer_answers_every_request_and_counts_both_ways(
    ctx: zmq.Context[Any],
) -> None:
    front, back = _bound(ctx, zmq.ROUTER, "front"), _bound(ctx, zmq.DEALER, "back")
    proxy = Proxy(front, back)
    clients = [peer(ctx, zmq.REQ, _address(front)) for _ in range(3)]
    worker = peer(ctx, zmq.REP, _address(back))
    n = 60
    for i in range(n):
        await clients[i % 3].send(b"%d" % i)
        request = await bounded(worker.recv_multipart())
        await worker.send_multipart([request[0] + b"!"])
        assert await bounded(clients[i % 3].recv()) == b"%d!" % i
    stats = proxy.statistics()
    # Through the frontend a request is [id, empty, body]; the DEALER side drops the id.
    assert stats.frontend_received.messages == stats.backend_sent.messages == n
    assert stats.backend_received.messages == stats.frontend_sent.messages == n
    assert stats.frontend_received.frames == stats.backend_sent.frames == 3 * n
    ids = 5 * n  # libzmq's generated routing ids are 5 bytes
    body = sum(len(b"%d" % i) for i in range(n))
    assert stats.frontend_received.bytes == stats.backend_sent.bytes == ids + body
    assert stats.backend_received.bytes == stats.frontend_sent.bytes == ids + body + n
    assert (stats.dropped, stats.unsent, stats.captured) == (0, 0, 0)
    assert proxy.close() == 0
    assert front.closed and back.closed
    final = await bounded(proxy.join())
    assert final == proxy.statistics() and final.frontend_received.messages == n


@pytest.mark.gen_test
async def test_forwarder_xsub_xpub_forwards_subscriptions_upstream(ctx: zmq.Context[Any]) -> None:
    front, back = _bound(ctx, zmq.XSUB, "xsub"), _bound(ctx, zmq.XPUB, "xpub")
    proxy = Proxy(front, back)
    publisher = peer(ctx, zmq.PUB, _address(front))
    subscriber = peer(ctx, zmq.SUB, _address(back))
    subscriber.setsockopt(zmq.SUBSCRIBE, b"a")
    # The publisher filters: only a subscription forwarded through the proxy
    # lets "a" messages out of it at all. It may reach the publisher a little
    # after the proxy sent it, so publish until the subscriber hears.
    await until(lambda: proxy.statistics().frontend_sent.messages == 1)
    for i in range(300):
        await publisher.send_multipart([b"b", b"%d" % i])
        await publisher.send_multipart([b"a", b"%d" % i])
        if await subscriber.poll(10):
            break
    await publisher.send_multipart([b"a", b"last"])
    got = [await bounded(subscriber.recv_multipart())]
    while got[-1] != [b"a", b"last"]:
        got.append(await bounded(subscriber.recv_multipart()))
    assert all(msg[0] == b"a" for msg in got)
    stats = proxy.statistics()
    assert stats.backend_received == Traffic(1, 1, 2)  # b"\x01a"
    assert stats.frontend_sent == Traffic(1, 1, 2)
    assert stats.frontend_received.messages == stats.backend_sent.messages == len(got)
    proxy.close()


@pytest.mark.gen_test
async def test_streamer_pull_push_keeps_order(ctx: zmq.Context[Any]) -> None:
    front, back = _bound(ctx, zmq.PULL, "pull"), _bound(ctx, zmq.PUSH, "push")
    proxy = Proxy(front, back)
    producer = peer(ctx, zmq.PUSH, _address(front))
    consumer = peer(ctx, zmq.PULL, _address(back))
    n = 2000
    for i in range(n):
        await producer.send_multipart([b"%d" % i, b"x" * (i % 5)])
    got = await receive_n(consumer, n)
    assert got == [[b"%d" % i, b"x" * (i % 5)] for i in range(n)]
    stats = proxy.statistics()
    assert stats.frontend_received == stats.backend_sent
    assert stats.frontend_received.frames == 2 * n
    # PULL cannot send and PUSH cannot receive: nothing the other way.
    assert stats.backend_received == stats.frontend_sent == Traffic()
    proxy.close()


@pytest.mark.gen_test
async def test_capture_gets_a_copy_of_every_message_both_ways(ctx: zmq.Context[Any]) -> None:
    front, back = _bound(ctx, zmq.ROUTER, "front"), _bound(ctx, zmq.DEALER, "back")
    capture = _bound(ctx, zmq.PUSH, "capture")
    tap = peer(ctx, zmq.PULL, _address(capture))
    proxy = Proxy(front, back, capture)
    client = peer(ctx, zmq.DEALER, _address(front))
    worker = peer(ctx, zmq.DEALER, _address(back))
    await client.send_multipart([b"question"])
    request = await bounded(worker.recv_multipart())
    await worker.send_multipart([*request[:-1], b"answer"])
    assert await bounded(client.recv_multipart()) == [b"answer"]
    copies = await receive_n(tap, 2)
    assert copies == [request, [*request[:-1], b"answer"]]
    assert proxy.statistics().captured == 2
    proxy.close()
    assert capture.closed


@pytest.mark.gen_test
async def test_monitored_queue_prefixes_and_router_router_id_swap(ctx: zmq.Context[Any]) -> None:
    inside = _bound(ctx, zmq.ROUTER, "in")
    outside = _bound(ctx, zmq.ROUTER, "out")
    monitor = _bound(ctx, zmq.PUSH, "mon")
    watcher = peer(ctx, zmq.PULL, _address(monitor))
    queue = MonitoredQueue(inside, outside, monitor, b"IN", b"OUT")
    client = peer(ctx, zmq.DEALER, _address(inside), routing_id=b"c")
    server = peer(ctx, zmq.ROUTER, _address(outside), routing_id=b"s")
    client_id, server_id = b"c", b"s"
    # ROUTER to ROUTER, as pyzmq: the client names the server; the queue swaps
    # the two ids, so the server sees who asked. The outside ROUTER drops
    # until the server's handshake is done: ask until it hears.
    for _ in range(100):
        await client.send_multipart([server_id, b"hello"])
        if await server.poll(20):
            break
    hello = await bounded(server.recv_multipart())
    assert hello[1:] == [client_id, b"hello"]
    await server.send_multipart([hello[0], client_id, b"hi"])
    assert await bounded(client.recv_multipart()) == [server_id, b"hi"]
    stats = queue.statistics()
    copies = await receive_n(watcher, stats.captured)
    # Every message went both places: the monitor saw each as forwarded.
    hellos = stats.frontend_received.messages
    assert copies[:hellos] == [[b"IN", server_id, client_id, b"hello"]] * hellos
    assert copies[hellos:] == [[b"OUT", client_id, server_id, b"hi"]]
    assert stats.captured == hellos + 1
    queue.close()


@pytest.mark.gen_test
async def test_a_socket_gone_closes_the_proxy(ctx: zmq.Context[Any]) -> None:
    front, back = _bound(ctx, zmq.PULL, "pull"), _bound(ctx, zmq.PUSH, "push")
    proxy = Proxy(ZMQStream(front), back)
    proxy.backend.close()
    final = await bounded(proxy.join())
    assert proxy.closed() and front.closed
    assert final == ProxyStatistics()
    assert proxy.close() == 0  # idempotent
    proxy.pause()  # no-ops once closed
    proxy.resume()


@pytest.mark.gen_test
async def test_join_with_a_timeout_leaves_the_proxy_running(ctx: zmq.Context[Any]) -> None:
    front, back = _bound(ctx, zmq.PULL, "pull"), _bound(ctx, zmq.PUSH, "push")
    proxy = Proxy(front, back)
    with pytest.raises(TimeoutError):
        await proxy.join(timeout=0.01)
    assert not proxy.closed()
    with pytest.raises(ValueError, match="timeout"):
        proxy.join(timeout=-1)
    proxy.close()


@pytest.mark.gen_test
async def test_router_mandatory_refusals_are_counted_and_logged(
    ctx: zmq.Context[Any], caplog: pytest.LogCaptureFixture
) -> None:
    front = _bound(ctx, zmq.ROUTER, "front", router_mandatory=1)
    back = _bound(ctx, zmq.DEALER, "back")
    proxy = Proxy(front, back)
    worker = peer(ctx, zmq.DEALER, _address(back))
    with caplog.at_level(logging.WARNING, "tzmq.devices"):
        await worker.send_multipart([b"nobody", b"reply"])
        await worker.send_multipart([b"nobody", b"again"])
        await until(lambda: proxy.statistics().dropped == 2)
    assert [r for r in caplog.records if "refused" in r.getMessage()]
    stats = proxy.statistics()
    assert stats.backend_received.messages == 2 and stats.frontend_sent.messages == 0
    proxy.close()


def test_bad_input_fails_at_the_call(ctx: zmq.Context[Any]) -> None:
    pull, push = ctx.socket(zmq.PULL), ctx.socket(zmq.PUSH)
    with pytest.raises(TypeError, match="frontend must be a zmq"):
        Proxy("tcp://127.0.0.1:1", push)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="different sockets"):
        Proxy(pull, pull)
    with pytest.raises(ValueError, match="nothing to forward"):
        Proxy(push, ctx.socket(zmq.PUSH))
    with pytest.raises(ValueError, match="control must be a REP or PAIR"):
        Proxy(pull, push, control=ctx.socket(zmq.DEALER))
    with pytest.raises(ValueError, match="capture cannot send"):
        Proxy(pull, push, ctx.socket(zmq.SUB))
    with pytest.raises(TypeError, match="in_prefix must be bytes"):
        MonitoredQueue(pull, push, ctx.socket(zmq.PUB), "in")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="io_loop"):
        Proxy(pull, push, io_loop=object())  # type: ignore[arg-type]
    closed = ctx.socket(zmq.PUSH)
    closed.close()
    with pytest.raises(StreamClosedError, match="backend socket is closed"):
        Proxy(pull, closed)
    # Nothing was taken over by the refused calls.
    assert not pull.closed and not push.closed


@pytest.mark.gen_test
async def test_a_backlog_moves_in_batches_with_the_loop_running_between(
    ctx: zmq.Context[Any],
) -> None:
    front, back = _bound(ctx, zmq.PULL, "pull", rcvhwm=0), _bound(ctx, zmq.PUSH, "push", sndhwm=0)
    producer = ctx.socket(zmq.PUSH)
    producer.sndhwm = 0
    producer.connect(_address(front))
    consumer = peer(ctx, zmq.PULL, _address(back), rcvhwm=0)
    n = 5000
    for i in range(n):
        producer.send(b"%d" % i)
    proxy = Proxy(front, back)
    progress: list[int] = []

    def tick() -> None:
        progress.append(proxy.statistics().backend_sent.messages)
        if progress[-1] < n:
            IOLoop.current().add_callback(tick)

    IOLoop.current().add_callback(tick)
    assert await receive_n(consumer, n) == [[b"%d" % i] for i in range(n)]
    # Other callbacks ran while the backlog moved: it went in several batches.
    moving = [count for count in progress if 0 < count < n]
    assert len(moving) >= 2 and moving == sorted(moving)
    proxy.close()
