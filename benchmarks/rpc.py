"""``python -m benchmarks.rpc``: RPC calls/s and latency, tzmq.rpc against aiozmq.rpc.

Owns the RPC rows of the benchmarks: for each implementation, a server and
a client in this process on one asyncio loop, over tcp://127.0.0.1, calling
``add(a, b)``; once with one call at a time and once with `WINDOW` calls in
flight. Each row is the median over rounds of calls/s, and the p50/p99 of
every call's latency (from the call to its result) over all rounds.
Implementations are measured round-robin, starting from a different one each
round. `calls_on_fresh_loop` runs the same set-up and calls once, over
inproc, for `benchmarks.instructions`. Rows:

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
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
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

from ._harness import Sample

WINDOW = 100
Call = Callable[[int], Awaitable[Any]]
Close = Callable[[], Awaitable[None]]
Setup = Callable[[str], Awaitable[tuple[Call, Close]]]
"""Given the endpoint to bind (tcp with a wildcard port, or inproc), a server
and a connected client: how to call ``add(i, 1)``, and how to close both."""
REQUEST_CLIENT = "tzmq RequestClient"


class _Adder(AttrHandler):
    @method
    def add(self, a: int, b: int) -> int:
        return a + b


def _add_frames(request: Request) -> list[bytes]:
    a, b = request.frames
    return [b"%d" % (int(a) + int(b))]


async def _tzmq(codec: str, bind: str) -> tuple[Call, Close]:
    chosen = MsgpackCodec() if codec == "msgpack" else None
    server = await serve_rpc(_Adder(), bind=bind, codec=chosen)
    address = server.transport.last_endpoint.decode()
    client = await connect_rpc(connect=address, codec=chosen, timeout=10)

    async def close() -> None:
        client.close()
        server.close()

    return (lambda i: client.call.add(i, 1)), close


async def _request_client(bind: str) -> tuple[Call, Close]:
    server = RequestServer(_add_frames, bind=bind)
    client = RequestClient(connect=server.stream.last_endpoint.decode(), timeout=10)

    async def close() -> None:
        client.close()
        server.close()

    return (lambda i: client.request(b"%d" % i, b"1")), close


async def _aiozmq(bind: str) -> tuple[Call, Close]:
    import aiozmq.rpc  # type: ignore[import-untyped]  # only the bench environment has it

    class Adder(aiozmq.rpc.AttrHandler):  # type: ignore[misc]
        @aiozmq.rpc.method  # type: ignore[untyped-decorator]
        def add(self, a: int, b: int) -> int:
            return a + b

    server = await aiozmq.rpc.serve_rpc(Adder(), bind=bind)
    address = next(iter(server.transport.bindings()))
    client = await aiozmq.rpc.connect_rpc(connect=address, timeout=10)

    async def close() -> None:
        # aiozmq closes its transports on a later loop turn.
        client.close()
        server.close()
        await client.wait_closed()
        await server.wait_closed()

    return (lambda i: client.call.add(i, 1)), close


def implementations() -> dict[str, Setup]:
    """The implementations this environment can run, by row name."""
    impls: dict[str, Setup] = {
        "tzmq.rpc (json)": partial(_tzmq, "json"),
        "tzmq.rpc (msgpack)": partial(_tzmq, "msgpack"),
        REQUEST_CLIENT: _request_client,
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

    async def worker() -> None:
        for i in numbers:
            started = time.perf_counter()
            result = await call(i)
            into.latencies.append(time.perf_counter() - started)
            if result not in (i + 1, [b"%d" % (i + 1)]):
                raise RuntimeError(f"add({i}, 1) gave {result!r}")

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(window)))
    into.rates.append(calls / (time.perf_counter() - started))


def calls_on_fresh_loop(setup: Setup, calls: int, window: int, timeout: float) -> Sample:
    """``calls`` calls with ``window`` in flight, server and client set up over inproc on a
    fresh asyncio loop and closed after: one run of `benchmarks.instructions`' RPC case.

    Calls that have not completed ``timeout`` seconds after the first one left are cancelled;
    the sample says how many completed, and how long they took (set-up and closing excluded).
    """

    async def body() -> Sample:
        call, close = await setup(f"inproc://bench-rpc-{uuid.uuid4().hex}")
        result = Result()
        started = time.perf_counter()
        try:
            await asyncio.wait_for(_measure(call, calls, window, result), timeout)
        except TimeoutError:
            pass  # a partial sample: the caller reports it as stalled
        finally:
            seconds = time.perf_counter() - started
            await close()
        return Sample.round_trips(len(result.latencies), calls, seconds)

    return asyncio.run(body())


async def run(calls: int, rounds: int, only: str | None) -> list[str]:
    """Measure every implementation; return the table's lines."""
    impls = {k: v for k, v in implementations().items() if only is None or only in k}
    modes = {"1 at a time": 1, f"{WINDOW} in flight": WINDOW}
    results = {(name, mode): Result() for name in impls for mode in modes}
    names = list(impls)
    for round_index in range(rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            call, close = await impls[name]("tcp://127.0.0.1:*")
            try:
                await _measure(call, max(calls // 10, 10), WINDOW, Result())  # warm-up
                for mode, window in modes.items():
                    await _measure(call, calls, window, results[(name, mode)])
            finally:
                await close()
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
