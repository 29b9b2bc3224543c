"""RPC over DEALER/ROUTER: dispatch, arguments, errors, deadlines, bounds, bad input."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import struct
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
import zmq
from tornado import gen

from tests.rpc.helpers import bounded, endpoint, until
from tzmq.auth import CURVE_ALLOW_ANY, IOLoopAuthenticator
from tzmq.rpc import (
    AttrHandler,
    GenericError,
    JsonCodec,
    NotFoundError,
    ParametersError,
    RequestTimeout,
    RPCClient,
    RPCServer,
    ServerUnresponsive,
    ServiceClosedError,
    connect_rpc,
    current_call,
    method,
    serve_rpc,
)


class Custom(Exception):
    """An error the caller knows by name."""


class Inner(AttrHandler):
    @method
    def double(self, x: int) -> int:
        return x * 2


class Service(AttrHandler):
    def __init__(self) -> None:
        self.inner = Inner()
        self.table = {"f": lambda x=1: x + 100, "sub": {"g": lambda: "deep"}}
        self.cancelled: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.started: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    @method
    def add(self, a: int, b: int = 10, *, scale: int = 1) -> int:
        return (a + b) * scale

    @method
    async def slow_add(self, a: int, b: int) -> int:
        await asyncio.sleep(0)
        return a + b

    @method
    @gen.coroutine
    def tornado_add(self, a: int, b: int) -> Any:
        yield gen.moment
        return a + b

    @method
    async def forever(self) -> None:
        if not self.started.done():
            self.started.set_result(None)
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled.set_result(current_call().name)
            raise

    @method
    async def deadline(self) -> float | None:
        return current_call().deadline

    @method
    def fail(self, kind: str) -> None:
        if kind == "custom":
            raise Custom("custom", 1)
        if kind == "key":
            raise KeyError("k")
        raise RuntimeError("boom")

    @method
    def unencodable(self) -> object:
        return object()

    def not_exposed(self) -> int:
        return 1


@contextlib.asynccontextmanager
async def started(ctx: zmq.Context[Any]) -> AsyncIterator[tuple[RPCServer, RPCClient, Service]]:
    """A server for `Service` and a client that knows `Custom`, both closed after."""
    service = Service()
    server = await serve_rpc(service, bind="tcp://127.0.0.1:*", context=ctx)
    client = await connect_rpc(
        connect=endpoint(server),
        context=ctx,
        timeout=3,
        error_table={f"{__name__}.Custom": Custom},
    )
    try:
        yield server, client, service
    finally:
        client.close()
        server.close()


@pytest.mark.gen_test
async def test_calls_namespaces_and_mappings(ctx: zmq.Context[Any]) -> None:
    async with started(ctx) as (_, client, _):
        call = client.call
        assert await bounded(call.add(1, 2)) == 3
        assert await bounded(call.add(1, scale=3)) == 33
        assert await bounded(call.slow_add(2, 3)) == 5
        assert await bounded(call.tornado_add(4, 5)) == 9
        assert await bounded(call.inner.double(21)) == 42
        assert await bounded(call.table.f()) == 101
        assert await bounded(call.table.sub.g()) == "deep"
        results = await bounded(asyncio.gather(*(call.add(i, i) for i in range(200))))
        assert results == [2 * i for i in range(200)]


@pytest.mark.parametrize(
    "name", ["nope", "not_exposed", "inner", "inner.nope", "add.x", "_secret", "table.sub", "..."]
)
@pytest.mark.gen_test
async def test_not_found(ctx: zmq.Context[Any], name: str) -> None:
    async with started(ctx) as (_, client, _):
        target = client.call
        for part in name.split("."):
            target = getattr(target, part)
        with pytest.raises(NotFoundError):
            await bounded(target())


@pytest.mark.gen_test
async def test_arguments_checked_against_the_signature(ctx: zmq.Context[Any]) -> None:
    async with started(ctx) as (server, client, _):
        for args, kwargs in [((), {}), ((1, 2, 3), {}), ((1,), {"c": 2}), ((1,), {"a": 1})]:
            with pytest.raises(ParametersError):
                await bounded(client.call.add(*args, **kwargs))
        with pytest.raises(ParametersError):
            await bounded(client.call.add(*range(100_000)))
        assert server.stats.failed == 5


@pytest.mark.gen_test
async def test_errors_translated_by_error_table(ctx: zmq.Context[Any]) -> None:
    async with started(ctx) as (server, client, _):
        with pytest.raises(Custom) as custom:
            await bounded(client.call.fail("custom"))
        assert custom.value.args == ("custom", 1)
        with pytest.raises(KeyError):
            await bounded(client.call.fail("key"))
        with pytest.raises(RuntimeError):
            await bounded(client.call.fail("runtime"))
        with pytest.raises(TypeError):  # the result could not be encoded
            await bounded(client.call.unencodable())
        bare = await connect_rpc(connect=endpoint(server), context=ctx)
        with pytest.raises(GenericError) as generic:
            await bounded(bare.call.fail("custom"))
        assert generic.value.exc_type == f"{__name__}.Custom"
        assert generic.value.arguments == ("custom", 1)
        bare.close()


@pytest.mark.gen_test
async def test_deadline_travels_and_cancels_the_handler(ctx: zmq.Context[Any]) -> None:
    async with started(ctx) as (server, client, service):
        loop_time = client.io_loop.time()
        deadline = await bounded(client.call.deadline())
        assert loop_time + 1 < deadline <= client.io_loop.time() + 3
        with pytest.raises(RequestTimeout):
            await bounded(client.with_timeout(0.05).call.forever())
        assert await bounded(service.cancelled) == "forever"
        assert client.in_flight == 0
        await until(lambda: server.active == 0)
        assert server.stats.expired == 1


@pytest.mark.gen_test
async def test_server_timeout_applies_without_a_deadline(ctx: zmq.Context[Any]) -> None:
    service = Service()
    server = await serve_rpc(service, bind="tcp://127.0.0.1:*", context=ctx, timeout=0.05)
    client = await connect_rpc(connect=endpoint(server), context=ctx)
    pending = client.call.forever()
    assert await bounded(service.cancelled) == "forever"
    assert server.stats.expired == 1 and not pending.done()
    pending.cancel()
    client.close()
    server.close()
    await server.wait_closed()
    await client.wait_closed()


@pytest.mark.gen_test
async def test_max_concurrent_pauses_reading(ctx: zmq.Context[Any]) -> None:
    service = Service()
    server = await serve_rpc(service, bind="tcp://127.0.0.1:*", context=ctx, max_concurrent=1)
    client = await connect_rpc(connect=endpoint(server), context=ctx, timeout=0.2)
    blocked = client.call.forever()
    await bounded(service.started)
    waiting = client.with_timeout(3).call.add(1, 1)
    assert not server.stream.receiving()
    with pytest.raises(RequestTimeout):
        await bounded(blocked)
    assert await bounded(waiting) == 2  # read once the blocked handler was cancelled
    await until(server.stream.receiving)
    assert await bounded(client.call.add(2, 2)) == 4
    client.close()
    server.close()


@pytest.mark.gen_test
async def test_log_exceptions(ctx: zmq.Context[Any], caplog: pytest.LogCaptureFixture) -> None:
    server = await serve_rpc(
        Service(),
        bind="tcp://127.0.0.1:*",
        context=ctx,
        log_exceptions=True,
        exclude_log_exceptions=(KeyError,),
    )
    client = await connect_rpc(connect=endpoint(server), context=ctx, timeout=3)
    for kind in ("key", "runtime"):
        with pytest.raises((KeyError, RuntimeError)):
            await bounded(client.call.fail(kind))
    logged = [r for r in caplog.records if r.name == "tzmq.rpc"]
    assert len(logged) == 1 and "'fail'" in logged[0].getMessage()
    assert logged[0].exc_info and logged[0].exc_info[0] is RuntimeError
    client.close()
    server.close()


@pytest.mark.gen_test
async def test_translation_table_carries_custom_types(ctx: zmq.Context[Any]) -> None:
    table = {1: (Decimal, str, Decimal)}
    server = await serve_rpc(
        {"half": lambda d: d / 2}, bind="tcp://127.0.0.1:*", context=ctx, translation_table=table
    )
    client = await connect_rpc(
        connect=endpoint(server), context=ctx, codec=JsonCodec(table), timeout=3
    )
    assert await bounded(client.call.half(Decimal("3.3"))) == Decimal("1.65")
    with pytest.raises(TypeError):
        client.call.half(object())
    assert client.in_flight == 0
    client.close()
    server.close()


@pytest.mark.gen_test
async def test_closed_services(ctx: zmq.Context[Any]) -> None:
    server = await serve_rpc({}, bind="tcp://127.0.0.1:*", context=ctx)
    client = await connect_rpc(connect=endpoint(server), context=ctx)
    server.close()
    client.close()
    for service in (server, client):
        with pytest.raises(ServiceClosedError):
            service.transport  # noqa: B018
    with pytest.raises(ServiceClosedError):
        client.call.x()
    with pytest.raises(ValueError):
        client.call()


@pytest.mark.gen_test
async def test_bad_arguments_fail_at_the_call(ctx: zmq.Context[Any]) -> None:
    with pytest.raises(TypeError):
        await serve_rpc(object(), bind="tcp://127.0.0.1:*", context=ctx)
    with pytest.raises(ValueError):
        await serve_rpc({}, context=ctx, timeout=-1)
    with pytest.raises(ValueError):
        await connect_rpc(context=ctx, codec=JsonCodec(), translation_table={})
    with pytest.raises(TypeError):
        await connect_rpc(context=ctx, codec=object())  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        JsonCodec({1: Decimal})  # type: ignore[dict-item]
    with pytest.raises(TypeError):
        method(1)  # type: ignore[type-var]


@pytest.mark.gen_test
async def test_malformed_requests_never_break_the_server(
    ctx: zmq.Context[Any], caplog: pytest.LogCaptureFixture
) -> None:
    server = await serve_rpc(Service(), bind="tcp://127.0.0.1:*", context=ctx)
    raw = ctx.socket(zmq.DEALER)
    raw.linger = 0
    raw.connect(endpoint(server))
    header = struct.pack("=HHLd", 1, 2, 3, 0.0)
    bad = [
        [b"x"],
        [b"short", b"add", b"[]", b"{}"],
        [header, b"\xff\xfe", b"[]", b"{}"],
        [header, b"add", b"not json", b"{}"],
        [header, b"add", b"[1]", b"[]"],
        [header, b"add", b"{}", b"{}"],
        [header, b"add", b"[1]", b'{"__tzmq_ext__": 9, "data": 1}'],
        [header, b"add", b"[" * 100_000, b"{}"],
    ]
    for msg in bad:
        raw.send_multipart(msg)
    rng = random.Random(2)
    for _ in range(300):
        parts = [rng.choice([header, b"add", b"[1,2]", b"{}", b"", b"\x00" * 16])]
        parts += [rng.randbytes(rng.randint(0, 20)) for _ in range(rng.randint(0, 5))]
        raw.send_multipart(parts)
    await until(lambda: server.stats.requests + server.stats.malformed >= len(bad) + 300)
    client = await connect_rpc(connect=endpoint(server), context=ctx, timeout=3)
    assert await bounded(client.call.add(1, 2)) == 3
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) == 1
    client.close()
    server.close()


@pytest.mark.gen_test
async def test_a_cancelled_call_cancels_its_handler(ctx: zmq.Context[Any]) -> None:
    async with started(ctx) as (server, client, service):
        assert await bounded(client.call.add(1, 1)) == 2  # the server says it takes withdrawals
        pending = client.call.forever()
        await bounded(service.started)
        pending.cancel()
        assert await bounded(service.cancelled) == "forever"
        await until(lambda: server.active == 0)
        assert (server.stats.cancelled, server.stats.expired, client.in_flight) == (1, 0, 0)
        assert await bounded(client.call.add(2, 2)) == 4


@pytest.mark.gen_test
async def test_handlers_see_the_callers_curve_user_id(ctx: zmq.Context[Any]) -> None:
    auth = IOLoopAuthenticator(ctx)
    auth.configure_curve("*", CURVE_ALLOW_ANY)
    auth.start()
    server_public, server_secret = zmq.curve_keypair()
    client_public, client_secret = zmq.curve_keypair()
    router = ctx.socket(zmq.ROUTER)
    router.linger = 0
    router.curve_server = True
    router.curve_secretkey = server_secret
    dealer = ctx.socket(zmq.DEALER)
    dealer.linger = 0
    dealer.curve_serverkey = server_public
    dealer.curve_publickey = client_public
    dealer.curve_secretkey = client_secret
    server = await serve_rpc(
        {"who": lambda: current_call().user_id}, socket=router, bind="tcp://127.0.0.1:*"
    )
    client = await connect_rpc(socket=dealer, connect=endpoint(server), timeout=3)
    try:
        assert await bounded(client.call.who()) == client_public.decode()
    finally:
        client.close()
        server.close()
        auth.stop()


@pytest.mark.gen_test
async def test_heartbeat_fails_calls_to_a_silent_server_fast(ctx: zmq.Context[Any]) -> None:
    silent = ctx.socket(zmq.ROUTER)  # bound, never read: a server whose loop is stuck
    silent.linger = 0
    silent.bind("tcp://127.0.0.1:*")
    address = silent.getsockopt_string(zmq.LAST_ENDPOINT)
    client = await connect_rpc(connect=address, context=ctx, timeout=20, heartbeat=0.05)
    started = client.io_loop.time()
    calls = [client.call.add(i, 1) for i in range(5)]
    for call in calls:
        with pytest.raises(ServerUnresponsive):
            await bounded(call)
    assert client.io_loop.time() - started < 2  # two heartbeats, not the 20 s deadline
    assert client.in_flight == 0
    client.close()


@pytest.mark.gen_test
async def test_heartbeat_keeps_slow_calls_to_a_live_server(
    ctx: zmq.Context[Any], caplog: pytest.LogCaptureFixture
) -> None:
    async def slow() -> str:
        await asyncio.sleep(0.3)
        return "done"

    server = await serve_rpc(
        {"slow": slow}, bind="tcp://127.0.0.1:*", context=ctx, log_exceptions=True
    )
    client = await connect_rpc(connect=endpoint(server), context=ctx, timeout=5, heartbeat=0.05)
    assert await bounded(client.call.slow()) == "done"
    assert server.stats.failed == 0 and server.stats.requests == 1  # probes are not calls
    assert not [r for r in caplog.records if r.name == "tzmq.rpc"]
    client.close()
    server.close()


@pytest.mark.gen_test
async def test_transport_binds_live(ctx: zmq.Context[Any]) -> None:
    async with started(ctx) as (server, client, _):
        server.transport.bind("tcp://127.0.0.1:*")
        second = server.transport.last_endpoint.decode()
        other = await connect_rpc(connect=second, context=ctx, timeout=3)
        assert await bounded(other.call.add(1, 1)) == 2
        assert await bounded(client.call.add(2, 2)) == 4  # the first endpoint still serves
        other.close()
