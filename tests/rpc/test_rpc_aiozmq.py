"""Wire compatibility with aiozmq.rpc 1.0, both ways: rpc, pipeline, pubsub, errors, timeouts.

aiozmq runs on the same asyncio loop as the test (it needs no loop of its
own); both sides use msgpack, aiozmq's encoding.
"""

from __future__ import annotations

import asyncio
import datetime
from typing import Any

import aiozmq.rpc
import msgpack
import pytest
import zmq

from tests.loops import needs_add_reader
from tests.rpc.helpers import bounded, endpoint, until
from tzmq.rpc import (
    AttrHandler,
    MsgpackCodec,
    NotFoundError,
    ParametersError,
    RequestTimeout,
    connect_pipeline,
    connect_pubsub,
    connect_rpc,
    method,
    serve_pipeline,
    serve_pubsub,
    serve_rpc,
)

pytestmark = needs_add_reader


class Failure(Exception):
    """Known to both sides' error tables."""


class AioService(aiozmq.rpc.AttrHandler):
    def __init__(self) -> None:
        self.got: list[Any] = []
        self.release = asyncio.Event()
        self.finished = asyncio.get_running_loop().create_future()

    @aiozmq.rpc.method
    def add(self, a: int, b: int) -> int:
        return a + b

    @aiozmq.rpc.method
    def fail(self) -> None:
        raise Failure("failed", 3)

    @aiozmq.rpc.method
    async def slow(self) -> None:
        await self.release.wait()
        self.finished.set_result(None)

    @aiozmq.rpc.method
    def put(self, value: Any) -> None:
        self.got.append(value)

    @aiozmq.rpc.method
    async def nap(self) -> str:
        await asyncio.sleep(0.3)
        return "rested"


class OurService(AttrHandler):
    def __init__(self) -> None:
        self.got: list[Any] = []
        self.cancelled = asyncio.get_running_loop().create_future()

    @method
    def add(self, a: int, b: int) -> int:
        return a + b

    @method
    def echo(self, value: Any) -> Any:
        return value

    @method
    def fail(self) -> None:
        raise Failure("failed", 3)

    @method
    async def forever(self) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled.set_result(None)
            raise

    @method
    def put(self, value: Any) -> None:
        self.got.append(value)


_ERRORS = {f"{__name__}.Failure": Failure}


def _bound(service: Any) -> str:
    return str(next(iter(service.transport.bindings())))


@pytest.mark.gen_test
async def test_our_rpc_client_calls_an_aiozmq_server(
    ctx: zmq.Context[Any], caplog: pytest.LogCaptureFixture
) -> None:
    service = AioService()
    server = await aiozmq.rpc.serve_rpc(service, bind="tcp://127.0.0.1:*")
    client = await connect_rpc(
        connect=_bound(server), context=ctx, codec=MsgpackCodec(), error_table=_ERRORS, timeout=3
    )
    try:
        assert await bounded(asyncio.gather(*(client.call.add(i, 1) for i in range(100)))) == [
            i + 1 for i in range(100)
        ]
        with pytest.raises(Failure) as failure:
            await bounded(client.call.fail())
        assert failure.value.args == ("failed", 3)
        with pytest.raises(NotFoundError):
            await bounded(client.call.nope())
        with pytest.raises(ParametersError):
            await bounded(client.call.add(1))
        with pytest.raises(RequestTimeout):
            await bounded(client.with_timeout(0.05).call.slow())
        assert client.in_flight == 0
        # aiozmq ignores deadlines: its handler runs on; its answer comes late.
        service.release.set()
        await bounded(service.finished)
        await until(lambda: client.stats.late_replies == 1)
        # A cancelled call sends aiozmq no withdrawal (it would log "Cannot unpack").
        withdrawn = client.call.add(1, 2)
        withdrawn.cancel()
        await until(lambda: client.stats.cancelled == 1)  # the withdrawal point has passed
        assert await bounded(client.call.add(2, 2)) == 4
        assert client.stats.late_replies == 2
        assert not [r for r in caplog.records if r.name.startswith("aiozmq")]
    finally:
        client.close()
        server.close()


@pytest.mark.gen_test
async def test_an_aiozmq_client_calls_our_server(ctx: zmq.Context[Any]) -> None:
    service = OurService()
    server = await serve_rpc(
        service, bind="tcp://127.0.0.1:*", context=ctx, codec=MsgpackCodec(), timeout=0.05
    )
    client = await aiozmq.rpc.connect_rpc(connect=endpoint(server), error_table=_ERRORS, timeout=3)
    try:
        assert await bounded(asyncio.gather(*(client.call.add(i, 1) for i in range(100)))) == [
            i + 1 for i in range(100)
        ]
        assert await bounded(client.call.echo([1, {"k": b"v"}])) == (1, {"k": b"v"})
        with pytest.raises(Failure):
            await bounded(client.call.fail())
        with pytest.raises(aiozmq.rpc.NotFoundError):
            await bounded(client.call.nope())
        with pytest.raises(aiozmq.rpc.ParametersError):
            await bounded(client.call.add(1))
        # aiozmq sends no deadline: our server's own timeout cancels the handler.
        with pytest.raises(asyncio.TimeoutError):
            await bounded(client.with_timeout(0.2).call.forever())
        await bounded(service.cancelled)
        assert server.stats.expired == 1
        # aiozmq pickles dates; our server never unpickles, it passes the value back opaque.
        day = datetime.date(2020, 1, 2)
        assert await bounded(client.call.echo(day)) == day
    finally:
        client.close()
        server.close()


@pytest.mark.gen_test
async def test_opaque_pickles_are_not_run(ctx: zmq.Context[Any]) -> None:
    service = OurService()
    server = await serve_rpc(service, bind="tcp://127.0.0.1:*", context=ctx, codec=MsgpackCodec())
    client = await aiozmq.rpc.connect_rpc(connect=endpoint(server), timeout=3)
    try:
        await bounded(client.call.put(datetime.date(2020, 1, 2)))
        (value,) = service.got
        assert isinstance(value, msgpack.ExtType) and value.code == 127
    finally:
        client.close()
        server.close()


@pytest.mark.gen_test
async def test_pipeline_both_ways(ctx: zmq.Context[Any]) -> None:
    ours = OurService()
    theirs = AioService()
    our_server = await serve_pipeline(
        ours, bind="tcp://127.0.0.1:*", context=ctx, codec=MsgpackCodec()
    )
    their_server = await aiozmq.rpc.serve_pipeline(theirs, bind="tcp://127.0.0.1:*")
    their_client = await aiozmq.rpc.connect_pipeline(connect=endpoint(our_server))
    our_client = await connect_pipeline(
        connect=_bound(their_server), context=ctx, codec=MsgpackCodec()
    )
    try:
        for i in range(20):
            await their_client.notify.put(i)
            await our_client.notify.put(i)
        await until(lambda: len(ours.got) == 20 and len(theirs.got) == 20)
        assert ours.got == theirs.got == list(range(20))
    finally:
        for service in (our_server, their_server, their_client, our_client):
            service.close()


async def _until_delivered(publish: Any, sink: list[Any]) -> None:
    """Publish probes until one arrives (PUB/SUB subscriptions take a moment)."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + 3
    while not sink:
        assert loop.time() < give_up, "subscription never arrived"
        await publish("probe")
        await asyncio.sleep(0.01)
    sink.clear()


@pytest.mark.gen_test
async def test_pubsub_both_ways(ctx: zmq.Context[Any]) -> None:
    ours = OurService()
    theirs = AioService()
    our_server = await serve_pubsub(
        ours, subscribe="t", bind="tcp://127.0.0.1:*", context=ctx, codec=MsgpackCodec()
    )
    their_server = await aiozmq.rpc.serve_pubsub(theirs, subscribe="t", bind="tcp://127.0.0.1:*")
    their_client = await aiozmq.rpc.connect_pubsub(connect=endpoint(our_server))
    our_client = await connect_pubsub(
        connect=_bound(their_server), context=ctx, codec=MsgpackCodec()
    )
    try:
        await _until_delivered(their_client.publish("t").put, ours.got)
        await _until_delivered(our_client.publish("t").put, theirs.got)
        for i in range(20):
            await their_client.publish("t").put(i)
            await our_client.publish("t").put(i)
            await our_client.publish("other").put(-1)
        await until(lambda: len([v for v in ours.got if v != "probe"]) == 20)
        await until(lambda: len([v for v in theirs.got if v != "probe"]) == 20)
        assert [v for v in ours.got if v != "probe"] == list(range(20))
        assert [v for v in theirs.got if v != "probe"] == list(range(20))
    finally:
        for service in (our_server, their_server, their_client, our_client):
            service.close()


@pytest.mark.gen_test
async def test_aiozmq_servers_answer_our_heartbeat_probes(ctx: zmq.Context[Any]) -> None:
    server = await aiozmq.rpc.serve_rpc(AioService(), bind="tcp://127.0.0.1:*")
    client = await connect_rpc(
        connect=_bound(server), context=ctx, codec=MsgpackCodec(), timeout=5, heartbeat=0.05
    )
    try:
        assert await bounded(client.call.nap()) == "rested"
    finally:
        client.close()
        server.close()
