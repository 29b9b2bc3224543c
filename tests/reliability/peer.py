"""Programs the reliability tests run in other processes (and namespaces).

``python peer.py ack ADDRESS``
    A tzmq ROUTER service bound at ADDRESS that answers each request
    ``[id, payload...]`` with ``[id]``: the peer the fault tests kill and restart.
``python peer.py echo ADDRESS [--relay LISTEN --loss-seed N --reset-after N]``
    A tzmq ROUTER service that sends every message back; with ``--relay``, also an
    impairment relay listening at LISTEN (``host:port``) that forwards to ADDRESS
    (see `relay`).
``python peer.py client ADDRESS COUNT WINDOW``
    Sends COUNT numbered requests to an echo service with at most WINDOW unanswered,
    re-sends those outstanding when a reconnect shows the connection was lost, and
    prints one JSON line with what came back.

Each service prints ``ready`` on stdout once bound (``bind-failed ERRNO`` if it
could not bind) and runs until SIGTERM or SIGINT, then exits quietly. Run by
path: the tests' directory is not a package on the child's path.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from typing import Any

import zmq
from tornado.ioloop import IOLoop

import tzmq
from tzmq import ZMQStream
from tzmq.stream import MonitorEvent, SocketMonitor


def _serve(address: str, reply: Any) -> tuple[zmq.Context[Any], ZMQStream] | None:
    ctx: zmq.Context[Any] = zmq.Context()
    sock = ctx.socket(zmq.ROUTER)
    sock.linger = 0
    try:
        sock.bind(address)
    except zmq.ZMQError as error:
        print(f"bind-failed {error.errno}", flush=True)
        sock.close()
        ctx.term()
        return None
    stream = ZMQStream(sock)
    stream.on_recv(lambda msg: reply(stream, msg))
    return ctx, stream


def _ack(stream: ZMQStream, msg: list[bytes]) -> None:
    stream.send_multipart(msg[:2])  # [routing id, request id]


def _echo(stream: ZMQStream, msg: list[bytes]) -> None:
    stream.send_multipart(msg)


def _run_until_signalled(main: Any) -> None:
    loop = IOLoop.current()

    def stop(*_: object) -> None:
        loop.add_callback_from_signal(loop.stop)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    closers = loop.run_sync(main)
    loop.start()
    for close in closers:
        close()
    loop.close()


def service(address: str, reply: Any, relay_args: argparse.Namespace | None) -> int:
    failed = False

    async def main() -> list[Any]:
        nonlocal failed
        served = _serve(address, reply)
        if served is None:
            failed = True
            IOLoop.current().add_callback(IOLoop.current().stop)
            return []
        ctx, stream = served
        closers = [lambda: stream.close(linger=0), ctx.term]
        if relay_args is not None and relay_args.relay:
            from relay import Impairment, serve_relay  # the relay lives next to this file

            host, port = relay_args.relay.rsplit(":", 1)
            target_host, target_port = address.rsplit("/", 1)[1].rsplit(":", 1)
            impairment = Impairment(seed=relay_args.loss_seed, reset_after=relay_args.reset_after)
            server = await serve_relay(host, int(port), target_host, int(target_port), impairment)
            closers.insert(0, server.close)
        print("ready", flush=True)
        return closers

    _run_until_signalled(main)
    return 1 if failed else 0


async def _client(address: str, count: int, window: int) -> dict[str, Any]:
    """Send ``count`` numbered requests; re-send what is outstanding after a reconnect."""
    ctx = tzmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.linger = 0
    reconnected = asyncio.Event()
    events: list[str] = []
    lost_connection = False

    def on_event(event: MonitorEvent) -> None:
        nonlocal lost_connection
        events.append(event.name)
        if event.event == zmq.Event.DISCONNECTED:
            lost_connection = True
        elif event.event == zmq.Event.HANDSHAKE_SUCCEEDED and lost_connection:
            reconnected.set()

    monitor = SocketMonitor(sock, zmq.EVENT_DISCONNECTED | zmq.EVENT_HANDSHAKE_SUCCEEDED)
    monitor.on_event(on_event)
    sock.connect(address)
    outstanding: dict[int, bytes] = {}
    answers: dict[int, int] = {}
    resent: set[int] = set()
    room = asyncio.Event()
    done = asyncio.Event()
    mismatched = 0
    started = time.monotonic()

    async def receive() -> None:
        nonlocal mismatched
        async for reply in sock:
            rid = int(reply[0])
            answers[rid] = answers.get(rid, 0) + 1
            sent = outstanding.pop(rid, None)
            if sent is not None and reply[1] != sent:
                mismatched += 1
            if len(outstanding) < window:
                room.set()
            if len(answers) == count:
                done.set()

    async def resend_after_reconnects() -> None:
        nonlocal lost_connection
        while True:
            await reconnected.wait()
            reconnected.clear()
            lost_connection = False
            for rid, body in list(outstanding.items()):
                resent.add(rid)
                await sock.send_multipart([b"%d" % rid, body])

    tasks = [asyncio.ensure_future(receive()), asyncio.ensure_future(resend_after_reconnects())]
    try:
        for rid in range(count):
            while len(outstanding) >= window:
                room.clear()
                await asyncio.wait_for(room.wait(), 10)
            body = b"request %d " % rid + b"x" * (rid % 200)
            outstanding[rid] = body
            await sock.send_multipart([b"%d" % rid, body])
        await asyncio.wait_for(done.wait(), 10)
    finally:
        for task in tasks:
            task.cancel()
        monitor.close()
        sock.close()
        ctx.term()
    duplicates = {rid: n for rid, n in answers.items() if n > 1}
    return {
        "count": count,
        "answered": len(answers),
        "missing": sorted(set(range(count)) - set(answers))[:20],
        "duplicates": {str(k): v for k, v in duplicates.items()},
        "duplicates_not_resent": sorted(set(duplicates) - resent),
        "resent": len(resent),
        "mismatched": mismatched,
        "disconnects": events.count("DISCONNECTED"),
        "seconds": round(time.monotonic() - started, 3),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="peer.py")
    sub = parser.add_subparsers(dest="mode", required=True)
    ack = sub.add_parser("ack")
    ack.add_argument("address")
    echo = sub.add_parser("echo")
    echo.add_argument("address")
    echo.add_argument("--relay", default="")
    echo.add_argument("--loss-seed", type=int, default=0)
    echo.add_argument("--reset-after", type=int, default=0)
    client = sub.add_parser("client")
    client.add_argument("address")
    client.add_argument("count", type=int)
    client.add_argument("window", type=int)
    args = parser.parse_args(argv)
    if args.mode == "ack":
        return service(args.address, _ack, None)
    if args.mode == "echo":
        return service(args.address, _echo, args)
    report = IOLoop(make_current=False).run_sync(
        lambda: _client(args.address, args.count, args.window), timeout=60
    )
    print(json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
