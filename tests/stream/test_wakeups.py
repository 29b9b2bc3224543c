"""Issue 14, section 1: no missed wake-ups, no errors inside the loop.

A send made outside a stream's own callback (from the next loop turn, a
coroutine, a timer, another stream's callback, another thread) touches the
socket and may eat the FD's edge of a message that just arrived. Delivery
must never depend on the safety sweep: these tests switch it off (an hour's
interval), so a missed wake-up shows as a message that never arrives within
the suite's bound, not as a slow one.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

import pytest
import zmq
from tornado.ioloop import IOLoop

import tzmq
from tests.conftest import SocketPair
from tests.stream.helpers import WAIT, Collector, logged_problems, turns, wait_future
from tzmq import ZMQStream
from tzmq.stream import _watch

REQUESTS = 10


@pytest.fixture(autouse=True)
def no_sweep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_watch, "SWEEP_INTERVAL", 3600.0)


async def _ask_all(dealer: tzmq.Socket, count: int = REQUESTS) -> list[list[bytes]]:
    """Queue ``count`` requests at once through a REQ-framed DEALER; collect the replies."""
    for i in range(count):
        await dealer.send_multipart([b"", b"%d" % i])
    replies = []
    for _ in range(count):
        replies.append(await wait_future(dealer.recv_multipart()))
    return replies


def _rep_and_dealer(io_loop: IOLoop, socket_pair: SocketPair) -> tuple[ZMQStream, tzmq.Socket]:
    rep, dealer = socket_pair(zmq.REP, zmq.DEALER)
    return ZMQStream(rep, io_loop), tzmq.Socket.from_socket(dealer)


@pytest.mark.parametrize("how", ["next-turn", "coroutine", "timer", "thread"])
@pytest.mark.gen_test
async def test_rep_replying_outside_its_callback_serves_every_queued_request(
    io_loop: IOLoop, socket_pair: SocketPair, how: str
) -> None:
    stream, dealer = _rep_and_dealer(io_loop, socket_pair)

    async def later(msg: list[bytes]) -> None:
        await asyncio.sleep(0)
        stream.send_multipart([b"re:" + msg[0]])

    def on_request(msg: list[bytes]) -> Any:
        reply = [b"re:" + msg[0]]
        if how == "next-turn":
            io_loop.add_callback(stream.send_multipart, reply)
        elif how == "coroutine":
            return later(msg)
        elif how == "timer":
            io_loop.call_later(0.001, stream.send_multipart, reply)
        else:
            threading.Thread(target=stream.send_multipart_threadsafe, args=(reply,)).start()
        return None

    stream.on_recv(on_request)
    replies = await _ask_all(dealer)
    assert replies == [[b"", b"re:%d" % i] for i in range(REQUESTS)]
    stream.close()
    dealer.close()


@pytest.mark.gen_test
async def test_reply_sent_from_another_streams_callback(
    io_loop: IOLoop, socket_pair: SocketPair
) -> None:
    # A relay: the REP hands each request to a worker over PUSH/PULL, and the
    # PULL stream's callback replies on the REP stream.
    stream, dealer = _rep_and_dealer(io_loop, socket_pair)
    pull, push = socket_pair(zmq.PULL, zmq.PUSH, "inproc")
    to_worker = ZMQStream(push, io_loop)
    from_worker = ZMQStream(pull, io_loop)
    stream.on_recv(to_worker.send_multipart)
    from_worker.on_recv(lambda msg: stream.send_multipart([b"re:" + msg[0]]))
    replies = await _ask_all(dealer)
    assert replies == [[b"", b"re:%d" % i] for i in range(REQUESTS)]
    for closing in (stream, to_worker, from_worker, dealer):
        closing.close()


@pytest.mark.gen_test
async def test_reply_landing_while_the_loop_is_busy_then_a_send(
    io_loop: IOLoop, socket_pair: SocketPair
) -> None:
    # The loop is busy (here: this coroutine, answering synchronously as a
    # server thread would) when the reply lands; the next send, made before
    # the loop turns, processes libzmq's commands and eats the FD's edge.
    router, dealer = socket_pair(zmq.ROUTER, zmq.DEALER, "inproc")
    router.rcvtimeo = int(WAIT.total_seconds() * 1000)
    client = ZMQStream(dealer, io_loop)
    got = Collector()
    client.on_recv(got)
    await turns()
    for i in range(REQUESTS):
        client.send(b"%d" % i)
        router.send_multipart(router.recv_multipart())  # the reply lands now
        # libzmq's send processes pending commands at most about once a
        # millisecond (a TSC throttle): past that, this send does, and eats
        # the FD's edge of the reply.
        time.sleep(0.003)
        client.send(b"ping")
        router.recv_multipart()
        await got.wait_for(i + 1)
    assert got.messages == [[b"%d" % i] for i in range(REQUESTS)]
    client.close()


# -- REQ/REP state machines: EFSM never escapes into the loop ---------------------------


@pytest.mark.gen_test
async def test_req_stream_connecting_and_asking_logs_nothing(
    io_loop: IOLoop, socket_pair: SocketPair, caplog: pytest.LogCaptureFixture
) -> None:
    rep, req = socket_pair(zmq.REP, zmq.REQ)
    server = ZMQStream(rep, io_loop)
    server.on_recv(lambda msg: io_loop.add_callback(server.send_multipart, msg))
    client = ZMQStream(req, io_loop)
    got = Collector()
    with caplog.at_level(logging.WARNING):
        client.on_recv(got)  # before any send: a receive now would be EFSM
        await turns()
        assert client.flush() == 0  # pyzmq's flush returns 0 here, and so do we
        for i in range(20):
            client.send(b"%d" % i)
            await got.wait_for(i + 1)
        await turns()
    assert got.messages == [[b"%d" % i] for i in range(20)]
    assert logged_problems(caplog) == []
    server.close()
    client.close()


@pytest.mark.gen_test
async def test_rep_may_hold_its_reply_before_the_request_arrives(
    io_loop: IOLoop, socket_pair: SocketPair
) -> None:
    rep, req = socket_pair(zmq.REP, zmq.REQ)
    server = ZMQStream(rep, io_loop)
    requests = Collector()
    server.on_recv(requests)
    server.send(b"early")  # not its turn (EFSM): queued, as pyzmq's stream does
    assert server.queue_size == 1
    client = tzmq.Socket.from_socket(req)
    await client.send(b"question")
    assert await wait_future(client.recv()) == b"early"
    assert requests.messages == [[b"question"]]
    server.close()
    client.close()


# -- sockets closed under a waiting poll, streams made on other threads -----------------


@pytest.mark.parametrize("closer", ["plain", "future"])
@pytest.mark.gen_test
async def test_poll_fails_when_a_registered_socket_is_closed(
    io_loop: IOLoop, ctx: zmq.Context[Any], monkeypatch: pytest.MonkeyPatch, closer: str
) -> None:
    # The sweep is how a socket closed behind our back is noticed: a short one here.
    monkeypatch.setattr(_watch, "SWEEP_INTERVAL", 0.05)
    sock = ctx.socket(zmq.PULL)
    sock.bind("inproc://poll-closed")
    target: zmq.Socket[Any] = tzmq.Socket.from_socket(sock) if closer == "future" else sock
    poller = tzmq.Poller()
    poller.register(target, zmq.POLLIN)
    pending = poller.poll()
    io_loop.add_callback(target.close)
    with pytest.raises(zmq.ZMQError) as info:
        await wait_future(pending)
    assert info.value.errno == zmq.ENOTSOCK
    # Polling again refuses at the call.
    with pytest.raises(zmq.ZMQError) as again:
        poller.poll(0)
    assert again.value.errno == zmq.ENOTSOCK


@pytest.mark.gen_test
async def test_streams_made_and_closed_on_another_thread_log_nothing(
    io_loop: IOLoop, ctx: zmq.Context[Any], caplog: pytest.LogCaptureFixture
) -> None:
    done = asyncio.get_running_loop().create_future()
    aio_loop = asyncio.get_running_loop()

    def churn() -> None:
        try:
            for _ in range(200):
                sock = ctx.socket(zmq.DEALER)
                ZMQStream(sock, io_loop=io_loop).close(linger=0)
        finally:
            aio_loop.call_soon_threadsafe(done.set_result, None)

    with caplog.at_level(logging.WARNING):
        thread = threading.Thread(target=churn)
        thread.start()
        await wait_future(done)
        thread.join(WAIT.total_seconds())
        await turns(20)
    assert logged_problems(caplog) == []


# -- flush and callback logging as pyzmq ----------------------------------------------


@pytest.mark.gen_test
async def test_flush_reports_and_counts_sends_already_handed_to_libzmq(
    io_loop: IOLoop, socket_pair: SocketPair
) -> None:
    _pull, push = socket_pair(zmq.PULL, zmq.PUSH, "inproc")
    stream = ZMQStream(push, io_loop)
    reported: list[list[bytes]] = []
    stream.on_send(lambda msg, status: reported.append(msg))
    for i in range(3):
        stream.send(b"%d" % i)
    assert stream.flush(zmq.POLLOUT) == 3
    assert reported == [[b"0"], [b"1"], [b"2"]]  # synchronously, in order
    assert stream.flush(zmq.POLLOUT) == 0
    await turns()
    assert len(reported) == 3  # each reported once
    stream.close()


@pytest.mark.gen_test
async def test_flush_limit_zero_means_no_limit(io_loop: IOLoop, ctx: zmq.Context[Any]) -> None:
    push = ctx.socket(zmq.PUSH)
    push.linger = 0
    stream = ZMQStream(push, io_loop)
    for i in range(5):
        stream.send(b"%d" % i)  # no peer yet: queued
    assert stream.queue_size == 5
    pull = ctx.socket(zmq.PULL)
    pull.linger = 0
    pull.bind("inproc://flush-limit-zero")
    push.connect("inproc://flush-limit-zero")
    assert stream.flush(zmq.POLLOUT, limit=0) == 5
    assert [pull.recv() for _ in range(5)] == [b"%d" % i for i in range(5)]
    stream.close()


@pytest.mark.gen_test
async def test_raising_coroutine_callback_is_logged_with_pyzmqs_words(
    io_loop: IOLoop, socket_pair: SocketPair, caplog: pytest.LogCaptureFixture
) -> None:
    pull, push = socket_pair(zmq.PULL, zmq.PUSH, "inproc")
    stream = ZMQStream(pull, io_loop)
    failed = asyncio.get_running_loop().create_future()

    async def boom(msg: list[bytes]) -> None:
        io_loop.add_callback(failed.set_result, None)
        raise RuntimeError("coroutine boom")

    stream.on_recv(boom)
    with caplog.at_level(logging.ERROR):
        push.send(b"x")
        await wait_future(failed)
        await turns()
    messages = [r.getMessage() for r in logged_problems(caplog)]
    assert messages == ["Uncaught exception in ZMQStream callback"]
    stream.close()
