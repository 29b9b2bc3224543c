"""``python -m benchmarks.rpc``: RPC calls/s and latency, tzmq.rpc against aiozmq.rpc.

Owns the RPC rows of the benchmarks: for each implementation, a server and
a client in this process on one asyncio loop, over tcp://127.0.0.1, calling
``add(a, b)``; once with one call at a time and once with `WINDOW` calls in
flight. Each row is the median over rounds of calls/s, and the p50/p99 of
every call's latency (from the call to its result) over all rounds.
Implementations are measured round-robin, starting from a different one each
round. Rows:

* ``tzmq.rpc (json)`` / ``tzmq.rpc (msgpack)``: `connect_rpc`/`serve_rpc`;
* ``tzmq RequestClient``: the correlated request/reply layer alone (bytes
  in, bytes out, no codec), for scale;
* ``aiozmq.rpc``: aiozmq 1.0 (msgpack), when it is installed.

Thread-safety: a command-line entry point; runs on the main thread.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from tzmq.rpc import (
    AttrHandler,
    MsgpackCodec,
    Request,
    RequestClient,
    RequestServer,
    connect_rpc,
    method,
    serve_rpc,
)

WINDOW = 100
Call = Callable[[int], Awaitable[Any]]
Setup = Callable[[], Awaitable[tuple[Call, Callable[[], None]]]]


class _Adder(AttrHandler):
    @method
    def add(self, a: int, b: int) -> int:
        return a + b


def _add_frames(request: Request) -> list[bytes]:
    a, b = request.frames
    return [b"%d" % (int(a) + int(b))]


async def _tzmq(codec: str) -> tuple[Call, Callable[[], None]]:
    chosen = MsgpackCodec() if codec == "msgpack" else None
    server = await serve_rpc(_Adder(), bind="tcp://127.0.0.1:*", codec=chosen)
    address = server.transport.last_endpoint.decode()
    client = await connect_rpc(connect=address, codec=chosen, timeout=10)

    def close() -> None:
        client.close()
        server.close()

    return (lambda i: client.call.add(i, 1)), close


async def _request_client() -> tuple[Call, Callable[[], None]]:
    server = RequestServer(_add_frames, bind="tcp://127.0.0.1:*")
    client = RequestClient(connect=server.stream.last_endpoint.decode(), timeout=10)

    def close() -> None:
        client.close()
        server.close()

    return (lambda i: client.request(b"%d" % i, b"1")), close


async def _aiozmq() -> tuple[Call, Callable[[], None]]:
    import aiozmq.rpc  # only the bench environment has it

    class Adder(aiozmq.rpc.AttrHandler):  # type: ignore[misc]
        @aiozmq.rpc.method  # type: ignore[misc]
        def add(self, a: int, b: int) -> int:
            return a + b

    server = await aiozmq.rpc.serve_rpc(Adder(), bind="tcp://127.0.0.1:*")
    address = next(iter(server.transport.bindings()))
    client = await aiozmq.rpc.connect_rpc(connect=address, timeout=10)

    def close() -> None:
        client.close()
        server.close()

    return (lambda i: client.call.add(i, 1)), close


def implementations() -> dict[str, Setup]:
    """The implementations this environment can run, by row name."""
    impls: dict[str, Setup] = {
        "tzmq.rpc (json)": lambda: _tzmq("json"),
        "tzmq.rpc (msgpack)": lambda: _tzmq("msgpack"),
        "tzmq RequestClient": _request_client,
    }
    try:
        import aiozmq.rpc  # noqa: F401
    except ImportError:
        return impls
    impls["aiozmq.rpc"] = _aiozmq
    return impls


@dataclass
class Result:
    """All rounds of one implementation in one mode."""

    rates: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)

    def row(self, name: str, mode: str) -> str:
        ordered = sorted(self.latencies)
        p50 = ordered[len(ordered) // 2] * 1e6
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1e6
        rate = statistics.median(self.rates)
        return f"{name:<20} {mode:<12} {rate:>10,.0f} {p50:>9,.0f} {p99:>9,.0f}"


async def _measure(call: Call, calls: int, window: int, into: Result) -> None:
    """``calls`` calls with ``window`` in flight; a rate and every latency go ``into``."""
    numbers = iter(range(calls))
    latencies: list[float] = []

    async def worker() -> None:
        for i in numbers:
            started = time.perf_counter()
            result = await call(i)
            latencies.append(time.perf_counter() - started)
            if result not in (i + 1, [b"%d" % (i + 1)]):
                raise RuntimeError(f"add({i}, 1) gave {result!r}")

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(window)))
    into.rates.append(calls / (time.perf_counter() - started))
    into.latencies.extend(latencies)


async def run(calls: int, rounds: int, only: str | None) -> list[str]:
    """Measure every implementation; return the table's lines."""
    impls = {k: v for k, v in implementations().items() if only is None or only in k}
    modes = {"1 at a time": 1, f"{WINDOW} in flight": WINDOW}
    results = {(name, mode): Result() for name in impls for mode in modes}
    names = list(impls)
    for round_index in range(rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            call, close = await impls[name]()
            try:
                await _measure(call, max(calls // 10, 10), WINDOW, Result())  # warm-up
                for mode, window in modes.items():
                    await _measure(call, calls, window, results[(name, mode)])
            finally:
                close()
    lines = [f"{'implementation':<20} {'mode':<12} {'calls/s':>10} {'p50 us':>9} {'p99 us':>9}"]
    for mode in modes:
        lines.extend(results[(name, mode)].row(name, mode) for name in names)
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.rpc",
        description="RPC calls/s and p50/p99 latency: tzmq.rpc against aiozmq.rpc.",
    )
    parser.add_argument("--calls", type=int, default=5000, help="calls per round and mode")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", help="implementations whose name contains this")
    args = parser.parse_args(argv)
    for line in asyncio.run(run(args.calls, args.rounds, args.only)):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
