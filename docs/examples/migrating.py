"""Where tzmq differs from pyzmq on purpose, shown on one socket pair."""

import asyncio
from typing import Any

import zmq

import tzmq


async def main() -> None:
    ctx = zmq.Context()
    pull = tzmq.ZMQStream(ctx.socket(zmq.PULL))
    port = pull.bind_to_random_port("tcp://127.0.0.1")
    push = tzmq.ZMQStream(ctx.socket(zmq.PUSH), queue_hwm=2)

    # Bad input fails at the call, before anything is queued.
    not_callable: Any = "not callable"
    try:
        pull.on_recv(not_callable)
    except TypeError as error:
        print("TypeError:", error)
    try:
        push.send("text, not bytes")
    except TypeError as error:
        print("TypeError:", error)

    # Nobody connected: a PUSH cannot send, so messages queue, up to the mark.
    sent: list[list[bytes]] = []
    push.send(b"one", callback=lambda msg, status: sent.append(msg))  # this send only
    push.send(b"two")
    try:
        push.send(b"three")
    except tzmq.SendQueueFull:
        print("queue full at", push.queue_size, "messages")

    received: list[bytes] = []
    both = asyncio.get_running_loop().create_future()

    def on_recv(msg: list[bytes]) -> None:
        received.extend(msg)
        if len(received) == 2:
            both.set_result(None)

    pull.on_recv(on_recv)
    push.connect(f"tcp://127.0.0.1:{port}")
    await asyncio.wait_for(both, 5)
    print("received:", received, "the callback ran for", sent)

    # With room, a send goes straight to libzmq; flush() runs its callback now.
    push.send(b"four", callback=lambda msg, status: print("sent", msg))
    print("flush() handled", push.flush(zmq.POLLOUT))

    # close() hands what is still queued to libzmq and says how many it could not.
    print("close() left unsent:", push.close(linger=0))
    pull.close(linger=0)
    ctx.term()


if __name__ == "__main__":
    asyncio.run(main())
