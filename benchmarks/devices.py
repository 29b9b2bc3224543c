"""``python -m benchmarks.devices [--quick] [--rounds N] [--messages N]``: proxies compared.

Measures messages per second through a PULL/PUSH streamer proxy over
tcp://127.0.0.1: tzmq's `ThreadProxy` (a `Proxy` on its own IOLoop thread)
against libzmq's ``zmq.proxy_steerable`` run in a thread by pyzmq, in the same
run, interleaved round by round (each round starts with the other one), plus
a ``direct`` row with no proxy at all for scale. The producer and the consumer
run as two threads of one peer process, so neither proxy shares its process's
GIL with them. Each row is the median of the rounds; the ratio is tzmq's
median over libzmq's.

A C loop is expected to be faster: what tzmq's proxy buys is sharing the
IOLoop, steering, statistics and back-pressure, not raw speed. The report
says how far behind it is.

Thread-safety: a command-line entry point; the proxies run on their own
threads, the peers in their own process; every wait is bounded.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import zmq

from tzmq.devices import ThreadProxy

MESSAGES: dict[str, list[bytes]] = {
    "16B": [b"x" * 16],
    "3x200B": [b"a" * 200, b"b" * 200, b"c" * 200],
}
_TIMEOUT = 60.0


@dataclass(frozen=True)
class Settings:
    messages: int = 200_000
    rounds: int = 5


QUICK = Settings(messages=20_000, rounds=1)


# -- the peer processes ----------------------------------------------------------------


def _peer(conn: Any) -> None:
    """Serve requests until None: ``("push", address, n, msg)`` or ``("pull", address, n)``."""
    while True:
        request = conn.recv()
        if request is None:
            conn.close()
            return
        conn.send(_push(*request[1:]) if request[0] == "push" else _pull(*request[1:]))


def _push(address: str, n: int, msg: list[bytes]) -> float:
    with zmq.Context() as ctx, ctx.socket(zmq.PUSH) as push:
        # Closing must not drop what is still on its way to the proxy.
        push.linger = int(_TIMEOUT * 1000)
        push.sndtimeo = int(_TIMEOUT * 1000)
        push.connect(address)
        try:
            for _ in range(n + 1):  # one more: the consumer's warm-up
                push.send_multipart(msg)
        except zmq.Again:
            return -1.0
        return 0.0


def _pull(address: str, n: int) -> float:
    """Seconds from the warm-up message to the last of ``n`` more; -1 if they did not come."""
    with zmq.Context() as ctx, ctx.socket(zmq.PULL) as pull:
        pull.linger = 0
        pull.rcvtimeo = int(_TIMEOUT * 1000)
        pull.connect(address)
        try:
            pull.recv_multipart()
            start = time.perf_counter()
            for _ in range(n):
                pull.recv_multipart()
        except zmq.Again:
            return -1.0
        return time.perf_counter() - start


# -- the proxies under test -----------------------------------------------------------


def _ports(ctx: zmq.Context[Any]) -> tuple[zmq.Socket[Any], zmq.Socket[Any], str, str]:
    front, back = ctx.socket(zmq.PULL), ctx.socket(zmq.PUSH)
    front.linger = back.linger = 0
    front_port = front.bind_to_random_port("tcp://127.0.0.1")
    back_port = back.bind_to_random_port("tcp://127.0.0.1")
    return front, back, f"tcp://127.0.0.1:{front_port}", f"tcp://127.0.0.1:{back_port}"


def _through_tzmq(run: Callable[[str, str], float]) -> float:
    with zmq.Context() as ctx:
        device = ThreadProxy(zmq.PULL, zmq.PUSH, context=ctx)
        device.setsockopt("in", zmq.LINGER, 0)
        device.setsockopt("out", zmq.LINGER, 0)
        front = device.bind_to_random_port("in", "tcp://127.0.0.1")
        back = device.bind_to_random_port("out", "tcp://127.0.0.1")
        device.start()
        try:
            return run(f"tcp://127.0.0.1:{front}", f"tcp://127.0.0.1:{back}")
        finally:
            device.stop()
            device.join(_TIMEOUT)


def _through_libzmq(run: Callable[[str, str], float]) -> float:
    with zmq.Context() as ctx:
        front, back, front_address, back_address = _ports(ctx)
        control, steer = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
        control.linger = steer.linger = 0
        control.bind(f"inproc://steer-{id(control)}")
        steer.connect(f"inproc://steer-{id(control)}")
        thread = threading.Thread(
            target=zmq.proxy_steerable, args=(front, back, None, control), daemon=True
        )
        thread.start()
        try:
            return run(front_address, back_address)
        finally:
            steer.send(b"TERMINATE")
            thread.join(_TIMEOUT)
            for sock in (front, back, control, steer):
                sock.close()


IMPLS: dict[str, Callable[[Callable[[str, str], float]], float]] = {
    "tzmq Proxy (thread)": _through_tzmq,
    "zmq.proxy (thread)": _through_libzmq,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one round")
    parser.add_argument("--rounds", type=int, help="rounds per implementation")
    parser.add_argument("--messages", type=int, help="messages per round")
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else Settings()
    rounds = args.rounds or settings.rounds
    n = args.messages or settings.messages
    spawn = multiprocessing.get_context("spawn")
    conns, peers = [], []
    for _ in ("producer", "consumer"):
        conn, child = spawn.Pipe()
        peer = spawn.Process(target=_peer, args=(child,), daemon=True)
        peer.start()
        child.close()
        conns.append(conn)
        peers.append(peer)
    producer, consumer = conns
    failed = False
    try:
        print(f"proxy throughput, PULL/PUSH over tcp://127.0.0.1, {n} messages, {rounds} rounds")
        print(f"{'message':8} {'implementation':22} {'median msg/s':>13} {'spread':>19}")
        for label, msg in MESSAGES.items():

            def run(front: str, back: str, msg: list[bytes] = msg) -> float:
                consumer.send(("pull", back, n))
                producer.send(("push", front, n, msg))
                results: list[float] = []
                for conn in (producer, consumer):
                    if not conn.poll(_TIMEOUT * 2):
                        raise TimeoutError("a peer process did not answer")
                    results.append(conn.recv())
                if min(results) < 0:
                    raise RuntimeError("messages were lost or stuck")
                return n / results[1]

            rates: dict[str, list[float]] = {name: [] for name in IMPLS}
            names = list(IMPLS)
            for index in range(rounds):
                for name in names[index % 2 :] + names[: index % 2]:
                    rates[name].append(IMPLS[name](run))
            medians = {name: statistics.median(values) for name, values in rates.items()}
            for name, values in rates.items():
                spread = f"{min(values):,.0f}-{max(values):,.0f}"
                print(f"{label:8} {name:22} {medians[name]:>13,.0f} {spread:>19}")
            ratio = medians[names[0]] / medians[names[1]]
            print(f"{label:8} {'ratio tzmq / libzmq':22} {ratio:>13.2f}")
    except (TimeoutError, RuntimeError) as error:
        print(f"FAILED: {error}", file=sys.stderr)
        failed = True
    finally:
        for conn, peer in zip(conns, peers, strict=True):
            conn.send(None)
            peer.join(_TIMEOUT)
            conn.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
