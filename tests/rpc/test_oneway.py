"""Pipeline (PUSH/PULL) and pubsub (PUB/SUB): one-way calls, topics, bad input."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
import zmq

from tests.rpc.helpers import bounded, endpoint, until
from tzmq.rpc import (
    PubSubClient,
    ServiceClosedError,
    connect_pipeline,
    connect_pubsub,
    serve_pipeline,
    serve_pubsub,
)


class Sink:
    """A handler mapping that records its calls."""

    def __init__(self) -> None:
        self.got: list[Any] = []
        self.handler = {"put": self.put, "ns": {"put": self.put}, "fail": self.fail}

    def put(self, value: Any, tag: str = "") -> None:
        self.got.append((value, tag))

    def real(self) -> list[Any]:
        """What arrived, without the probes."""
        return [call for call in self.got if call[0] != "probe"]

    async def fail(self) -> None:
        raise RuntimeError("boom")


@pytest.mark.gen_test
async def test_pipeline_delivers_every_call(
    ctx: zmq.Context[Any], caplog: pytest.LogCaptureFixture
) -> None:
    sink = Sink()
    server = await serve_pipeline(sink.handler, bind="tcp://127.0.0.1:*", context=ctx)
    client = await connect_pipeline(connect=endpoint(server), context=ctx)
    for i in range(100):
        assert await client.notify.put(i) is None
    await client.notify.ns.put("x", tag="t")
    await client.notify.nope()
    await client.notify.fail()
    await until(lambda: len(sink.got) == 101 and server.stats.failed == 2)
    assert sink.got == [(i, "") for i in range(100)] + [("x", "t")]
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "nope" in warnings[0].getMessage()
    client.close()
    server.close()
    with pytest.raises(ServiceClosedError):
        client.notify.put(1)
    with pytest.raises(ServiceClosedError):
        server.transport  # noqa: B018
    await client.wait_closed()
    await server.wait_closed()


async def _subscribed(client: PubSubClient, sink: Sink, topic: str) -> None:
    """Publish probes on ``topic`` until one arrives: the subscription reached the PUB."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + 3
    before = len(sink.got)
    while len(sink.got) == before:
        assert loop.time() < give_up, "subscription never arrived"
        client.publish(topic).put("probe")
        await asyncio.sleep(0.01)


@pytest.mark.gen_test
async def test_pubsub_by_topic(ctx: zmq.Context[Any]) -> None:
    sink = Sink()
    server = await serve_pubsub(
        sink.handler, subscribe=["a", b"c"], bind="tcp://127.0.0.1:*", context=ctx
    )
    client = await connect_pubsub(connect=endpoint(server), context=ctx)
    await _subscribed(client, sink, "a")
    client.publish("b").put("not subscribed")
    client.publish("ab").ns.put("prefix match")
    client.publish(b"c").put("bytes topic")
    await until(lambda: len(sink.real()) == 2)
    server.unsubscribe("c")
    server.subscribe("d")
    await _subscribed(client, sink, "d")
    client.publish("c").put("unsubscribed")
    client.publish("d").put("late subscriber")
    await until(lambda: len(sink.real()) == 3)
    assert sink.real() == [("prefix match", ""), ("bytes topic", ""), ("late subscriber", "")]
    with pytest.raises(TypeError):
        client.publish(1)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        server.subscribe(None)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        client.publish("a")()
    client.close()
    server.close()


@pytest.mark.gen_test
async def test_malformed_one_way_messages_are_counted(ctx: zmq.Context[Any]) -> None:
    sink = Sink()
    server = await serve_pipeline(sink.handler, bind="tcp://127.0.0.1:*", context=ctx)
    raw = ctx.socket(zmq.PUSH)
    raw.linger = 0
    raw.connect(endpoint(server))
    for msg in ([b"put"], [b"put", b"[1]", b"{}", b"extra"], [b"put", b"[1", b"{}"]):
        raw.send_multipart(msg)
    raw.send_multipart([b"put", b"[7]", b"{}"])
    await until(lambda: sink.got == [(7, "")])
    assert server.stats.malformed == 2 and server.stats.failed == 1
    server.close()


@pytest.mark.gen_test
async def test_pipeline_timeout_cancels_slow_handlers(ctx: zmq.Context[Any]) -> None:
    cancelled: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def slow() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set_result(None)
            raise

    server = await serve_pipeline(
        {"slow": slow}, bind="tcp://127.0.0.1:*", context=ctx, timeout=0.05
    )
    client = await connect_pipeline(connect=endpoint(server), context=ctx)
    await client.notify.slow()
    await bounded(cancelled)
    await until(lambda: server.active == 0)
    assert server.stats.expired == 1
    client.close()
    server.close()
