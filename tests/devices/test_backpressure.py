"""Back-pressure at the high-water marks, and closing with messages in flight.

Over inproc a pipe holds exactly the sender's SNDHWM plus the receiver's
RCVHWM, so how far the proxy reads ahead of a stalled consumer is exact.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
import zmq

from tests.devices.helpers import inproc, peer, receive_n, until
from tzmq import Socket, ZMQStream
from tzmq.devices import Proxy

HWM = 5
N = 1000


def _pipeline(ctx: zmq.Context[Any], front_type: int, back_type: int) -> Proxy:
    front, back = ctx.socket(front_type), ctx.socket(back_type)
    front.rcvhwm = back.sndhwm = HWM
    front.bind(inproc("front"))
    back.bind(inproc("back"))
    return Proxy(front, back)


def _address(stream: ZMQStream) -> str:
    endpoint: bytes = stream.getsockopt(zmq.LAST_ENDPOINT)
    return endpoint.decode()


async def _stall(proxy: Proxy, producer: ZMQStream, messages: list[list[bytes]]) -> None:
    """Send everything; return once the proxy has stopped reading ahead of the consumer."""
    for msg in messages:
        producer.send_multipart(msg)
    await until(lambda: proxy.backend.sending() and not proxy.frontend.receiving())


async def _stalled_streamer(ctx: zmq.Context[Any], n: int) -> tuple[Proxy, ZMQStream, Socket]:
    """A PULL/PUSH proxy stalled by a consumer that has not read yet, n messages sent."""
    proxy = _pipeline(ctx, zmq.PULL, zmq.PUSH)
    producer = ZMQStream(ctx.socket(zmq.PUSH))
    producer.sndhwm = HWM
    producer.connect(_address(proxy.frontend))
    consumer = peer(ctx, zmq.PULL, _address(proxy.backend), rcvhwm=HWM)
    await _stall(proxy, producer, [[b"%d" % i] for i in range(n)])
    return proxy, producer, consumer


@pytest.mark.gen_test
async def test_push_pull_stops_reading_at_the_hwm_and_loses_nothing(ctx: zmq.Context[Any]) -> None:
    proxy, producer, consumer = await _stalled_streamer(ctx, N)
    messages = [[b"%d" % i] for i in range(N)]
    # Read: the consumer's pipe (SNDHWM + RCVHWM) plus the one message waiting
    # in the backend's queue. The rest waits in the producer and in libzmq.
    stats = proxy.statistics()
    assert stats.frontend_received.messages == 2 * HWM + 1
    assert stats.backend_sent.messages == 2 * HWM
    assert producer.queue_size > 0
    # Nothing is kept from the producer either: it is held back in its own queue.
    assert await receive_n(consumer, N) == messages
    stats = proxy.statistics()
    assert stats.frontend_received == stats.backend_sent
    assert (stats.frontend_received.messages, stats.dropped, stats.unsent) == (N, 0, 0)
    proxy.close()
    producer.close()


@pytest.mark.gen_test
async def test_dealer_queue_pushes_back_both_ways_without_loss(ctx: zmq.Context[Any]) -> None:
    proxy = _pipeline(ctx, zmq.ROUTER, zmq.DEALER)
    proxy.frontend.sndhwm = HWM
    client = ZMQStream(ctx.socket(zmq.DEALER))
    client.rcvhwm = client.sndhwm = HWM
    client.connect(_address(proxy.frontend))
    worker = peer(ctx, zmq.DEALER, _address(proxy.backend), rcvhwm=HWM, sndhwm=HWM)
    requests = [[b"%d" % i] for i in range(N)]
    await _stall(proxy, client, requests)
    assert proxy.statistics().frontend_received.messages == 2 * HWM + 1
    got = await receive_n(worker, N)
    assert [msg[1:] for msg in got] == requests
    # Replies come back through the ROUTER frontend, which drops (it cannot
    # push back) when a client's pipe is full: the client reads as they come.
    replies: list[list[bytes]] = []
    client.on_recv(replies.append)
    for msg in got:
        await worker.send_multipart([msg[0], msg[1] + b"!"])
    await until(lambda: len(replies) == N)
    assert replies == [[b"%d!" % i] for i in range(N)]
    stats = proxy.statistics()
    assert stats.frontend_received.messages == stats.backend_sent.messages == N
    assert stats.backend_received.messages == stats.frontend_sent.messages == N
    assert (stats.dropped, stats.unsent) == (0, 0)
    proxy.close()
    client.close()


@pytest.mark.gen_test
async def test_close_in_flight_hands_over_or_counts_every_message_read(
    ctx: zmq.Context[Any], caplog: pytest.LogCaptureFixture
) -> None:
    proxy, producer, consumer = await _stalled_streamer(ctx, 100)
    with caplog.at_level(logging.WARNING, "tzmq.devices"):
        unsent = proxy.close()
    # The queued message could not be handed to libzmq (the consumer's pipe is
    # full): counted, logged, in the final statistics; the rest reach it.
    assert unsent == 1
    final = await proxy.join()
    assert final.unsent == 1
    assert any("could not be handed to libzmq" in r.getMessage() for r in caplog.records)
    delivered = await receive_n(consumer, final.backend_sent.messages)
    assert delivered == [[b"%d" % i] for i in range(2 * HWM)]
    assert final.frontend_received.messages == len(delivered) + unsent
    assert await consumer.poll(0) == 0
    producer.close(linger=0)


@pytest.mark.gen_test
async def test_close_hands_a_queued_message_to_libzmq_when_it_has_room(
    ctx: zmq.Context[Any],
) -> None:
    proxy, producer, consumer = await _stalled_streamer(ctx, 100)
    # The consumer makes room with no loop turn in between (its receives
    # complete at once), so the proxy's message is still queued when it
    # closes: close() hands it to libzmq.
    first = [consumer.recv_multipart().result() for _ in range(2 * HWM)]
    assert proxy.backend.sending()
    # libzmq hands the writer the room its reader made as a command, which a
    # send processes at most about once a millisecond; reading EVENTS
    # processes it now (and shows the room is there).
    assert proxy.backend.socket.get(zmq.EVENTS) & zmq.POLLOUT
    assert proxy.close() == 0
    final = await proxy.join()
    assert (final.unsent, final.backend_sent.messages) == (0, 2 * HWM + 1)
    assert first + await receive_n(consumer, 1) == [[b"%d" % i] for i in range(2 * HWM + 1)]
    producer.close(linger=0)
