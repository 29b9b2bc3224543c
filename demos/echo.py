"""Echo: a ROUTER echo service and a DEALER client that checks every reply, in two styles.

* ``stream``: callbacks on `tzmq.ZMQStream`, the style of pyzmq's
  ``zmq.eventloop.zmqstream``. The whole service is one line:
  ``server.on_recv(server.send_multipart)``.
* ``coroutine``: ``async def`` code on `tzmq.Context` sockets, whose ``recv`` and
  ``send`` return futures, the style of ``zmq.eventloop.future``. The service is
  an ``async for`` loop that ends when its socket is closed.

The client sends N numbered messages, keeping up to ``window`` of them in flight,
and checks that exactly N replies come back, each equal to its request, in order
(DEALER to ROUTER keeps order on one connection). The window matters: a ROUTER
silently drops a message to a peer whose queue is at its high-water mark, so a
client that fires 100,000 requests at once loses some replies; a bounded window
is the flow control that keeps every one.

Run it::

    python -m demos.echo --messages 10000 --api both
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from typing import Any

import zmq

import tzmq
from demos._result import DemoResult, run_on_new_loop

APIS = ("stream", "coroutine")
WINDOW = 500  # requests in flight per client, well under the default high-water mark (1000)


def serve_with_stream(stream: tzmq.ZMQStream) -> None:
    """Echo every message back to its sender: [identity, body...] goes straight back."""
    stream.on_recv(stream.send_multipart)


async def serve_with_coroutines(sock: tzmq.Socket) -> int:
    """Echo every message back until ``sock`` is closed; return how many were served."""
    served = 0
    async for msg in sock:
        await sock.send_multipart(msg)
        served += 1
    return served


def _request(i: int) -> bytes:
    return b"message %d" % i


def check_replies(replies: list[bytes], messages: int) -> str:
    """An empty string if ``replies`` are exactly the ``messages`` requests in order."""
    if len(replies) != messages:
        return f"{len(replies)} of {messages} replies"
    for i, reply in enumerate(replies):
        if reply != _request(i):
            return f"reply {i} is {reply[:40]!r}, not {_request(i)!r}"
    return ""


async def stream_client(
    stream: tzmq.ZMQStream, messages: int, timeout: float, window: int = WINDOW
) -> list[bytes]:
    """Send ``messages`` requests on a DEALER stream, ``window`` at a time; collect replies."""
    replies: list[bytes] = []
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    sent = min(window, messages)

    def on_reply(msg: list[bytes]) -> None:
        nonlocal sent
        replies.append(msg[-1])
        if sent < messages:  # each reply frees one place in the window
            stream.send(_request(sent))
            sent += 1
        elif len(replies) >= messages and not done.done():
            done.set_result(None)

    stream.on_recv(on_reply)
    for i in range(sent):
        stream.send(_request(i))
    with contextlib.suppress(asyncio.TimeoutError):  # check_replies reports a shortfall
        await asyncio.wait_for(done, timeout)
    return replies


async def coroutine_client(
    sock: tzmq.Socket, messages: int, timeout: float, window: int = WINDOW
) -> list[bytes]:
    """Send ``messages`` requests, ``window`` at a time, while receiving the replies."""
    replies: list[bytes] = []
    in_flight = asyncio.Semaphore(window)

    async def send_all() -> None:
        for i in range(messages):
            await in_flight.acquire()
            await sock.send(_request(i))

    async def receive_all() -> None:
        while len(replies) < messages:
            replies.append(await sock.recv())
            in_flight.release()

    sender = asyncio.ensure_future(send_all())
    try:
        await asyncio.wait_for(receive_all(), timeout)
        await sender
    except TimeoutError:
        pass  # check_replies reports the shortfall
    finally:
        sender.cancel()
    return replies


async def _run_stream(messages: int, timeout: float) -> list[bytes]:
    ctx: zmq.Context[Any] = zmq.Context()
    server = client = None
    try:
        server = tzmq.ZMQStream(ctx.socket(zmq.ROUTER))
        port = server.bind_to_random_port("tcp://127.0.0.1")
        serve_with_stream(server)
        client = tzmq.ZMQStream(ctx.socket(zmq.DEALER))
        client.connect(f"tcp://127.0.0.1:{port}")
        return await stream_client(client, messages, timeout)
    finally:
        for stream in (client, server):
            if stream is not None:
                stream.close(linger=0)
        ctx.term()


async def _run_coroutine(messages: int, timeout: float) -> list[bytes]:
    ctx = tzmq.Context()
    server = ctx.socket(zmq.ROUTER)
    client = ctx.socket(zmq.DEALER)
    service = None
    try:
        port = server.bind_to_random_port("tcp://127.0.0.1")
        service = asyncio.ensure_future(serve_with_coroutines(server))
        client.connect(f"tcp://127.0.0.1:{port}")
        return await coroutine_client(client, messages, timeout)
    finally:
        client.close(linger=0)
        server.close(linger=0)  # ends the service's `async for`
        if service is not None:
            await service
        ctx.term()


def run_demo(messages: int = 10_000, api: str = "stream", timeout: float = 20.0) -> DemoResult:
    """Echo ``messages`` messages over tcp://127.0.0.1 with one API; check every reply."""
    if api not in APIS:
        raise ValueError(f"api must be one of {APIS}, not {api!r}")
    if messages < 1:
        raise ValueError(f"messages must be >= 1, not {messages}")
    run = _run_stream if api == "stream" else _run_coroutine
    started = time.perf_counter()
    replies = run_on_new_loop(lambda: run(messages, timeout), timeout + 5)
    seconds = time.perf_counter() - started
    problem = check_replies(replies, messages)
    rate = f"{len(replies) / seconds:,.0f} round trips/s"
    return DemoResult(f"echo ({api})", len(replies), seconds, not problem, problem or rate)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m demos.echo",
        description="A ROUTER echo service and a DEALER client that checks every reply.",
    )
    parser.add_argument("--messages", type=int, default=10_000, help="requests to send")
    parser.add_argument("--api", choices=(*APIS, "both"), default="both", help="which style")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds before giving up")
    args = parser.parse_args(argv)
    results = [
        run_demo(args.messages, api, args.timeout)
        for api in (APIS if args.api == "both" else (args.api,))
    ]
    for result in results:
        print(result)
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
