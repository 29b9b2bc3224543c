"""Wire interop of RequestClient/RequestServer with plain REQ/REP and with txZMQ 1.0."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest
import zmq

import tzmq
from tests.rpc.helpers import bounded, endpoint, serve
from tzmq.rpc import Request, RequestClient

_PEER = Path(__file__).with_name("_txzmq_peer.py")


def _reverse(request: Request) -> list[bytes]:
    return request.frames[::-1]


@pytest.mark.gen_test
async def test_plain_req_client_calls_our_server(ctx: zmq.Context[Any]) -> None:
    server = serve(ctx, _reverse)
    req = tzmq.Socket.from_socket(ctx.socket(zmq.REQ))
    req.linger = 0
    req.connect(endpoint(server))
    for i in range(10):
        await bounded(req.send_multipart([b"%d" % i, b"req"]))
        assert await bounded(req.recv_multipart()) == [b"req", b"%d" % i]
    await bounded(req.send(b""))  # a REQ may send one empty frame
    assert await bounded(req.recv_multipart()) == [b""]
    assert server.stats.replies == 11 and server.stats.malformed == 0
    req.close()
    server.close()


@pytest.mark.gen_test
async def test_our_client_calls_a_plain_rep_server(ctx: zmq.Context[Any]) -> None:
    rep = tzmq.Socket.from_socket(ctx.socket(zmq.REP))
    rep.linger = 0
    rep.bind("tcp://127.0.0.1:*")
    client = RequestClient(ctx, connect=rep.getsockopt_string(zmq.LAST_ENDPOINT), timeout=3)

    async def answer(n: int) -> None:
        for _ in range(n):
            msg = await rep.recv_multipart()
            await rep.send_multipart([b"rep", *msg])

    futures = [client.request(b"%d" % i) for i in range(50)]
    await bounded(answer(50))
    assert await bounded(asyncio.gather(*futures)) == [[b"rep", b"%d" % i] for i in range(50)]
    client.close()
    rep.close()


async def _run_peer(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        str(_PEER),
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )


@pytest.mark.timeout(30)
@pytest.mark.gen_test(timeout=20)
async def test_txzmq_req_connection_calls_our_server(ctx: zmq.Context[Any]) -> None:
    server = serve(ctx, _reverse)
    peer = await _run_peer("client", endpoint(server), "200")
    try:
        out, _ = await bounded(peer.communicate(), seconds=15)
    finally:
        if peer.returncode is None:
            peer.kill()
            await peer.wait()
    assert (peer.returncode, out) == (0, b"ok 200\n")
    assert server.stats.replies == 200
    server.close()


@pytest.mark.timeout(30)
@pytest.mark.gen_test(timeout=20)
async def test_our_client_calls_a_txzmq_rep_connection(ctx: zmq.Context[Any]) -> None:
    peer = await _run_peer("server")
    assert peer.stdout is not None and peer.stdin is not None
    try:
        address = (await bounded(peer.stdout.readline(), seconds=15)).decode().strip()
        client = RequestClient(ctx, connect=address, timeout=5)
        futures = [client.request(b"%d" % i, b"us") for i in range(200)]
        replies = await bounded(asyncio.gather(*futures))
        assert replies == [[b"tx", b"%d" % i, b"us"] for i in range(200)]
        client.close()
        peer.stdin.close()
        await bounded(peer.wait())
    finally:
        if peer.returncode is None:
            peer.kill()
            await peer.wait()
    assert peer.returncode == 0
