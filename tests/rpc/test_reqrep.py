"""RequestClient and RequestServer: correlation, deadlines, bounds, handler styles."""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

import pytest
import zmq
from tornado.ioloop import IOLoop

from tests.rpc.helpers import Holder, bounded, endpoint, holding, serve, until
from tzmq import ZMQStream
from tzmq.rpc import (
    ClientClosedError,
    Request,
    RequestClient,
    RequestServer,
    RequestTimeout,
    TooManyRequests,
)


def _reverse(request: Request) -> list[bytes]:
    return request.frames[::-1]


@pytest.mark.gen_test
async def test_many_requests_in_flight_each_gets_its_own_reply(ctx: zmq.Context[Any]) -> None:
    server = serve(ctx, _reverse)
    client = RequestClient(ctx, connect=endpoint(server), timeout=5)
    futures = [client.request(b"%d" % i, b"x" * (i % 7)) for i in range(500)]
    assert client.in_flight == 500
    replies = await bounded(asyncio.gather(*futures))
    assert replies == [[b"x" * (i % 7), b"%d" % i] for i in range(500)]
    assert client.in_flight == 0 and server.active == 0
    assert (client.stats.requests, client.stats.replies) == (500, 500)
    assert (server.stats.requests, server.stats.replies) == (500, 500)
    client.close()
    server.close()


@pytest.mark.gen_test
async def test_callback_gets_the_done_future(ctx: zmq.Context[Any]) -> None:
    server = serve(ctx, _reverse)
    client = RequestClient(ctx, connect=endpoint(server))
    done: asyncio.Future[list[bytes]] = asyncio.get_running_loop().create_future()
    client.request(b"a", b"b", callback=lambda f: done.set_result(f.result()))
    assert await bounded(done) == [b"b", b"a"]
    client.close()
    server.close()


async def _coroutine_handler(request: Request) -> list[bytes]:
    await asyncio.sleep(0)
    return [b"co", *request.frames]


def _callback_handler(request: Request) -> None:
    IOLoop.current().add_callback(request.reply, b"cb", *request.frames)


def _bytes_handler(request: Request) -> bytes:
    return b"one"


@pytest.mark.parametrize(
    ("handler", "expected"),
    [
        (_reverse, [b"q"]),
        (_coroutine_handler, [b"co", b"q"]),
        (_callback_handler, [b"cb", b"q"]),
        (_bytes_handler, [b"one"]),
    ],
)
@pytest.mark.gen_test
async def test_handler_styles(ctx: zmq.Context[Any], handler: Any, expected: list[bytes]) -> None:
    server = serve(ctx, handler)
    client = RequestClient(ctx, connect=endpoint(server))
    assert await bounded(client.request(b"q")) == expected
    assert await bounded(client.request(b"q")) == expected
    assert server.stats.replies == 2 and server.active == 0
    client.close()
    server.close()


@pytest.mark.gen_test
async def test_timeout_leaves_nothing_and_late_reply_is_dropped(ctx: zmq.Context[Any]) -> None:
    holder, server, client = holding(ctx)
    with pytest.raises(RequestTimeout):
        await bounded(client.request(b"slow", timeout=0.05))
    assert client.in_flight == 0 and client.stats.timeouts == 1
    (late,) = await holder.wait_for(1)
    assert late.reply(b"late answer")
    answer = client.request(b"next")
    (_, nxt) = await holder.wait_for(2)
    nxt.reply(b"right answer")
    assert await bounded(answer) == [b"right answer"]
    assert client.stats.late_replies == 1
    client.close()
    server.close()


@pytest.mark.gen_test
async def test_calls_the_socket_cannot_take_wait_in_the_client_and_leave_at_their_deadline(
    ctx: zmq.Context[Any], tmp_path: Any
) -> None:
    # With no server there is no peer (IMMEDIATE): libzmq takes nothing. The
    # timed-out calls must not pile up below the client, to reach the server,
    # stale, once it comes: at most the one the socket refused stays queued.
    address = f"ipc://{tmp_path}/service"
    dealer = ctx.socket(zmq.DEALER)
    dealer.immediate = True
    dealer.connect(address)
    client = RequestClient(socket=dealer, timeout=0.01)
    for _ in range(50):
        with pytest.raises(RequestTimeout):
            await bounded(client.request(b"stale"))
    assert client.stream.queue_size <= 1
    assert (client.in_flight, client.waiting, client.stats.timeouts) == (0, 0, 50)
    server = RequestServer(_reverse, ctx, bind=address)
    assert await bounded(client.request(b"fresh", timeout=5.0)) == [b"fresh"]
    assert server.stats.requests <= 2
    client.close()
    server.close()


@pytest.mark.gen_test
async def test_cancel_withdraws_the_request(ctx: zmq.Context[Any]) -> None:
    holder, server, client = holding(ctx, timeout=5)
    future = client.request(b"x")
    (request,) = await holder.wait_for(1)
    future.cancel()
    await until(lambda: client.in_flight == 0)
    request.reply(b"too late")
    await until(lambda: client.stats.late_replies == 1)
    assert client.stats.cancelled == 1
    client.close()
    server.close()


@pytest.mark.gen_test
async def test_max_in_flight_waits_or_raises(ctx: zmq.Context[Any]) -> None:
    holder, server, client = holding(ctx, max_in_flight=2)
    first, second = client.request(b"1"), client.request(b"2")
    third = client.request(b"3")
    assert (client.in_flight, client.waiting) == (2, 1)
    with pytest.raises(TooManyRequests):
        client.request(b"4", nowait=True)
    withdrawn = client.request(b"5")
    withdrawn.cancel()
    requests = await holder.wait_for(2)
    requests[0].reply(b"r1")
    assert await bounded(first) == [b"r1"]
    (_, r2, r3) = await holder.wait_for(3)
    assert r3.frames == [b"3"]
    r2.reply(b"r2")
    r3.reply(b"r3")
    assert [await bounded(second), await bounded(third)] == [[b"r2"], [b"r3"]]
    assert (client.in_flight, client.waiting, len(holder.requests)) == (0, 0, 3)
    client.close()
    server.close()


@pytest.mark.gen_test
async def test_timeout_counts_the_wait_for_a_slot(ctx: zmq.Context[Any]) -> None:
    holder, server, client = holding(ctx, max_in_flight=1)
    held = client.request(b"held")
    with pytest.raises(RequestTimeout):
        await bounded(client.request(b"queued", timeout=0.05))
    assert (client.in_flight, client.waiting) == (1, 0)
    (request,) = await holder.wait_for(1)
    request.reply(b"ok")
    assert await bounded(held) == [b"ok"]
    client.close()
    server.close()


@pytest.mark.gen_test
async def test_close_fails_pending_requests(ctx: zmq.Context[Any]) -> None:
    _, server, client = holding(ctx, max_in_flight=1)
    sent, queued = client.request(b"1"), client.request(b"2")
    client.close()
    for future in (sent, queued):
        with pytest.raises(ClientClosedError):
            await bounded(future)
    with pytest.raises(ClientClosedError):
        client.request(b"3")
    await until(lambda: client.in_flight == client.waiting == 0)
    assert client.closed() and client.stream.closed()
    client.close()
    server.close()


@pytest.mark.gen_test
async def test_bad_input_fails_at_the_call(ctx: zmq.Context[Any]) -> None:
    client = RequestClient(ctx, connect="tcp://127.0.0.1:1")
    with pytest.raises(TypeError):
        client.request("text")
    with pytest.raises(ValueError):
        client.request()
    with pytest.raises(ValueError):
        client.request(b"x", timeout=-1)
    with pytest.raises(TypeError):
        client.request(b"x", timeout="1")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        client.request(b"x", callback=1)  # type: ignore[arg-type]
    assert client.stats.requests == 0 and client.in_flight == 0
    client.close()
    with pytest.raises(ValueError):
        RequestClient(ctx, max_in_flight=0)
    with pytest.raises(TypeError):
        RequestClient(ctx, connect=[b"tcp://x"])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        RequestClient(socket=ctx.socket(zmq.ROUTER))
    with pytest.raises(ValueError):
        RequestClient(ctx, socket=ctx.socket(zmq.DEALER))
    with pytest.raises(zmq.ZMQError):
        RequestClient(ctx, connect="nonsense://x")
    with pytest.raises(TypeError):
        RequestServer(None, ctx)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        RequestServer(_reverse, ctx, expire=0)
    with pytest.raises(ValueError):
        RequestServer(_reverse, ctx, max_concurrent=0)


@pytest.mark.gen_test
async def test_given_socket_keeps_its_options(ctx: zmq.Context[Any]) -> None:
    router = ctx.socket(zmq.ROUTER)
    router.linger = 0
    router.router_mandatory = True
    server = RequestServer(_reverse, socket=router, bind="tcp://127.0.0.1:*")
    dealer = ctx.socket(zmq.DEALER)
    dealer.linger = 0
    dealer.identity = b"me"
    client = RequestClient(socket=dealer, connect=endpoint(server))
    assert await bounded(client.request(b"a", b"b")) == [b"b", b"a"]
    client.close()
    server.close()
    assert router.closed and dealer.closed


@pytest.mark.gen_test
async def test_server_bounds_handlers_running_at_once(ctx: zmq.Context[Any]) -> None:
    holder = Holder()
    server = serve(ctx, holder, max_concurrent=2)
    client = RequestClient(ctx, connect=endpoint(server))
    futures = [client.request(b"%d" % i) for i in range(5)]
    await holder.wait_for(2)
    assert server.active == 2 and not server.stream.receiving()
    for n in range(5):
        request = (await holder.wait_for(n + 1))[n]
        assert server.active <= 2
        request.reply(request.frames[0])
    assert await bounded(asyncio.gather(*futures)) == [[b"%d" % i] for i in range(5)]
    assert server.stream.receiving()
    client.close()
    server.close()


@pytest.mark.gen_test
async def test_server_expires_unanswered_requests(
    ctx: zmq.Context[Any], caplog: pytest.LogCaptureFixture
) -> None:
    holder = Holder()
    cancelled: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def forever(request: Request) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set_result(None)
            raise

    def handler(request: Request) -> Any:
        return forever(request) if request.frames == [b"co"] else holder(request)

    server = serve(ctx, handler, expire=0.05, max_concurrent=2)
    client = RequestClient(ctx, connect=endpoint(server), timeout=0.2)
    outcomes = await bounded(
        asyncio.gather(client.request(b"cb"), client.request(b"co"), return_exceptions=True)
    )
    assert all(isinstance(o, RequestTimeout) for o in outcomes)
    await bounded(cancelled)
    assert server.stats.expired == 2 and server.active == 0
    (request,) = holder.requests
    assert request.done and not request.reply(b"late")
    assert server.stats.late_replies == 1
    # The server still answers, with both slots free again.
    holder.requests.clear()
    answer = client.request(b"cb")
    (again,) = await holder.wait_for(1)
    again.reply(b"fine")
    assert await bounded(answer) == [b"fine"]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    client.close()
    server.close()


@pytest.mark.gen_test
async def test_failing_handlers_are_logged_and_the_server_goes_on(
    ctx: zmq.Context[Any], caplog: pytest.LogCaptureFixture
) -> None:
    async def raising_coroutine(request: Request) -> None:
        raise RuntimeError("co boom")

    def handler(request: Request) -> Any:
        kind = request.frames[0]
        if kind == b"raise":
            raise RuntimeError("boom")
        if kind == b"co":
            return raising_coroutine(request)
        if kind == b"bad":
            return 42
        return [b"ok"]

    server = serve(ctx, handler)
    client = RequestClient(ctx, connect=endpoint(server), timeout=0.1)
    for kind in (b"raise", b"co", b"bad"):
        with pytest.raises(RequestTimeout):
            await bounded(client.request(kind))
    assert await bounded(client.request(b"fine")) == [b"ok"]
    assert server.stats.failed == 3 and server.active == 0
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 3
    assert [e.exc_info[0] for e in errors if e.exc_info] == [RuntimeError, RuntimeError, TypeError]
    client.close()
    server.close()


@pytest.mark.gen_test
async def test_reply_frames_are_checked(ctx: zmq.Context[Any]) -> None:
    holder, server, client = holding(ctx)
    future = client.request(b"x")
    (request,) = await holder.wait_for(1)
    with pytest.raises(TypeError):
        request.reply("text")
    with pytest.raises(ValueError):
        request.reply()
    assert not request.done
    assert request.reply(b"y", bytearray(b"z"), memoryview(b"w"))
    assert await bounded(future) == [b"y", b"z", b"w"]
    client.close()
    server.close()


@pytest.mark.gen_test
async def test_malformed_requests_are_counted_and_logged_once(
    ctx: zmq.Context[Any], caplog: pytest.LogCaptureFixture
) -> None:
    server = serve(ctx, _reverse)
    raw = ctx.socket(zmq.DEALER)
    raw.linger = 0
    raw.connect(endpoint(server))
    for msg in ([b"no delimiter"], [b"a", b"b", b"c"], [b"id", b""]):
        raw.send_multipart(msg)
    client = RequestClient(ctx, connect=endpoint(server))
    await until(lambda: server.stats.malformed == 3)
    assert await bounded(client.request(b"ok")) == [b"ok"]
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "RequestServer" in warnings[0].getMessage()
    client.close()
    server.close()


@pytest.mark.gen_test
async def test_malformed_replies_are_counted(
    ctx: zmq.Context[Any], caplog: pytest.LogCaptureFixture
) -> None:
    router = ctx.socket(zmq.ROUTER)
    router.linger = 0
    router.bind("tcp://127.0.0.1:*")
    stream = ZMQStream(router)

    def answer(msg: list[bytes]) -> None:
        peer, rid = msg[0], msg[1]
        stream.send_multipart([peer, rid])  # no delimiter, no body
        stream.send_multipart([peer, rid, b"not empty", b"body"])
        stream.send_multipart([peer, rid, b"", b"good"])

    stream.on_recv(answer)
    client = RequestClient(ctx, connect=endpoint(stream))
    assert await bounded(client.request(b"q")) == [b"good"]
    assert client.stats.malformed_replies == 2
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) == 1
    client.close()
    stream.close()


@pytest.mark.gen_test
async def test_server_behind_a_router_dealer_proxy(ctx: zmq.Context[Any]) -> None:
    front = ZMQStream(ctx.socket(zmq.ROUTER))
    back = ZMQStream(ctx.socket(zmq.DEALER))
    for stream in (front, back):
        stream.linger = 0
    front.bind("tcp://127.0.0.1:*")
    back.bind("tcp://127.0.0.1:*")
    front.on_recv(back.send_multipart)
    back.on_recv(front.send_multipart)
    envelopes: list[int] = []

    def handler(request: Request) -> list[bytes]:
        envelopes.append(len(request.envelope))
        return request.frames

    server = RequestServer(handler, ctx, connect=endpoint(back))
    clients = [RequestClient(ctx, connect=endpoint(front)) for _ in range(3)]
    futures = [c.request(b"%d-%d" % (n, i)) for n, c in enumerate(clients) for i in range(20)]
    replies = await bounded(asyncio.gather(*futures))
    assert replies == [[b"%d-%d" % (n, i)] for n in range(3) for i in range(20)]
    assert set(envelopes) == {2}
    for c in clients:
        c.close()
    server.close()
    front.close()
    back.close()


@pytest.mark.gen_test
async def test_server_close_cancels_handlers_and_drops_replies(ctx: zmq.Context[Any]) -> None:
    holder, server, client = holding(ctx, timeout=0.1)
    future = client.request(b"x")
    (request,) = await holder.wait_for(1)
    server.close()
    assert request.done and not request.reply(b"after close")
    assert server.active == 0 and server.closed() and server.stream.closed()
    with pytest.raises(RequestTimeout):
        await bounded(future)
    server.close()
    client.close()


@pytest.mark.gen_test
async def test_random_frames_never_break_the_server(ctx: zmq.Context[Any]) -> None:
    rng = random.Random(15)
    server = serve(ctx, _reverse)
    raw = ctx.socket(zmq.DEALER)
    raw.linger = 0
    raw.connect(endpoint(server))
    choices = [b"", b"\x00", b"id", b"x" * 300]
    for _ in range(500):
        raw.send_multipart([rng.choice(choices) for _ in range(rng.randint(1, 6))])
    await until(lambda: server.stats.requests + server.stats.malformed == 500)
    assert server.stats.replies == server.stats.requests and server.active == 0
    client = RequestClient(ctx, connect=endpoint(server))
    assert await bounded(client.request(b"still", b"here")) == [b"here", b"still"]
    client.close()
    server.close()
