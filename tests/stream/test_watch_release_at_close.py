"""A stream that closes a socket shared with another client releases the FD at once."""

from __future__ import annotations

from typing import Any

import pytest
import zmq
from tornado.ioloop import IOLoop

from tzmq import ZMQStream


@pytest.mark.gen_test
async def test_fd_released_and_other_client_closed_within_close(
    io_loop: IOLoop, ctx: zmq.Context[Any]
) -> None:
    sock = ctx.socket(zmq.PULL)
    first = ZMQStream(sock, io_loop)
    second = ZMQStream(sock, io_loop)
    closes: list[str] = []
    second.set_close_callback(lambda: closes.append("second"))
    fd = sock.FD
    first.close()
    # Not one loop turn later: code that reconnects right away (close, new
    # socket, new stream) may get the same FD number in the same callback.
    assert fd not in io_loop.handlers
    assert closes == ["second"]
    assert second.closed()


@pytest.mark.gen_test
async def test_future_socket_close_tells_a_stream_sharing_it(
    io_loop: IOLoop, ctx: zmq.Context[Any]
) -> None:
    import tzmq

    plain = ctx.socket(zmq.PULL)
    future_view = tzmq.Socket.from_socket(plain)
    stream = ZMQStream(plain, io_loop)
    pending = future_view.recv()
    fd = plain.FD
    future_view.close()
    assert pending.cancelled()
    assert stream.closed()
    assert fd not in io_loop.handlers
