"""LazyPirateClient: retries on timeout over several servers, fresh socket per retry."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import zmq

from tests.rpc.helpers import Holder, bounded, endpoint, serve
from tzmq.rpc import ClientClosedError, LazyPirateClient, Request, RequestTimeout


def _echo(request: Request) -> list[bytes]:
    return request.frames


@pytest.mark.gen_test
async def test_a_dead_server_costs_each_request_at_most_one_timeout(
    ctx: zmq.Context[Any],
) -> None:
    dead = serve(ctx, Holder())
    alive = serve(ctx, _echo)
    client = LazyPirateClient([endpoint(dead), endpoint(alive)], ctx, timeout=0.3, retries=1)
    first_socket = client._clients[0].stream.socket
    # Many at once: half land on the dead server, time out once, then go to the live one.
    replies = await bounded(asyncio.gather(*(client.request(b"%d" % i) for i in range(20))))
    assert replies == [[b"%d" % i] for i in range(20)]
    assert client.stats.replies == 20
    assert 1 <= client.stats.timeouts <= 10
    assert first_socket.closed  # the silent server's socket was replaced
    assert dead.active >= 1 and alive.stats.replies == 20
    client.close()
    dead.close()
    alive.close()


@pytest.mark.gen_test
async def test_gives_up_after_retries(ctx: zmq.Context[Any]) -> None:
    holder = Holder()
    dead = serve(ctx, holder)
    client = LazyPirateClient(endpoint(dead), ctx, timeout=0.03, retries=2)
    with pytest.raises(RequestTimeout, match="3 tries"):
        await bounded(client.request(b"x"))
    await holder.wait_for(3)
    assert [r.frames for r in holder.requests] == [[b"x"]] * 3
    assert (client.stats.timeouts, client.stats.retries) == (3, 2)
    with pytest.raises(RequestTimeout, match="1 tries"):
        await bounded(client.request(b"y", retries=0))
    client.close()
    dead.close()


@pytest.mark.gen_test
async def test_close_fails_pending_and_later_requests(ctx: zmq.Context[Any]) -> None:
    dead = serve(ctx, Holder())
    client = LazyPirateClient(endpoint(dead), ctx, timeout=5)
    pending = asyncio.ensure_future(client.request(b"x"))
    await asyncio.sleep(0)
    client.close()
    with pytest.raises(ClientClosedError):
        await bounded(pending)
    with pytest.raises(ClientClosedError):
        await client.request(b"y")
    assert client.closed()
    dead.close()


@pytest.mark.gen_test
async def test_bad_input_fails_at_the_call(ctx: zmq.Context[Any]) -> None:
    with pytest.raises(ValueError):
        LazyPirateClient([], ctx)
    with pytest.raises(ValueError):
        LazyPirateClient("tcp://127.0.0.1:1", ctx, retries=-1)
    with pytest.raises(ValueError):
        LazyPirateClient("tcp://127.0.0.1:1", ctx, timeout=0)
    with pytest.raises(TypeError):
        LazyPirateClient("tcp://127.0.0.1:1", "ctx")  # type: ignore[arg-type]
    client = LazyPirateClient("tcp://127.0.0.1:1", ctx)
    with pytest.raises(TypeError):
        await client.request("text")
    with pytest.raises(ValueError):
        await client.request(b"x", retries=-2)
    assert client.stats.requests == 0
    client.close()
