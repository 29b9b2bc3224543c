"""Raw sends the owner makes on a stream's socket must not strand incoming messages.

ipykernel 7.0-7.2 read shell requests through a ZMQStream and wrote the replies
with a raw ``socket.send_multipart`` on the same ROUTER (ipykernel #1529, #1554).
A raw send runs libzmq's ``process_commands``, which consumes the FD's edge: a
request that arrived just before stays in the socket until something else wakes
the stream. Issue 8 requires that such pending events are still noticed; the
watch's safety sweep finds them within one ``SWEEP_INTERVAL``.
"""

from __future__ import annotations

from typing import Any

import pytest
import zmq
from tornado.ioloop import IOLoop

from tests.stream.helpers import Collector, turns
from tzmq import ZMQStream


@pytest.mark.parametrize("raw", ["send", "send_multipart", "send_string"])
@pytest.mark.gen_test
async def test_message_pending_during_a_raw_send_is_delivered(
    io_loop: IOLoop, ctx: zmq.Context[Any], raw: str
) -> None:
    router = ctx.socket(zmq.ROUTER)
    client = ctx.socket(zmq.DEALER)
    client.routing_id = b"client"
    router.bind(f"inproc://raw-{raw}")
    client.connect(f"inproc://raw-{raw}")
    stream = ZMQStream(router, io_loop)
    got = Collector()
    stream.on_recv(got)
    client.send(b"first")
    await got.wait_for(1)
    await turns()  # the stream is idle, waiting on the FD
    # A request arrives, and before the loop looks, the owner replies raw.
    client.send(b"second")
    if raw == "send":
        router.send(b"client", zmq.SNDMORE)
        router.send(b"reply")
    elif raw == "send_multipart":
        router.send_multipart([b"client", b"reply"])
    else:
        router.send(b"client", zmq.SNDMORE)
        router.send_string("reply")
    messages = await got.wait_for(2)
    assert [m[1:] for m in messages] == [[b"first"], [b"second"]]
    assert client.recv() == b"reply"
    stream.close()
