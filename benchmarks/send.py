"""Send benchmarks: throughput to a reading peer, and a queue of sends to a peer not reading yet.

Throughput: the PUSH socket under test sends ``n`` messages (a plain loop of
``stream.send``, ``await sock.send`` on a future socket, or a blocking send
loop for raw) to a `Counter` thread; the clock runs from the first send until
the counter has the ``n``-th message, so a stream that merely queues gets no
credit until libzmq has delivered.

Queued sends: the bound PUSH (SNDHWM 1000) has no peer yet, so libzmq takes
nothing and all ``n`` sends (a fresh 1 KiB ``bytes`` each) wait in the
implementation's own queue. Memory: ``tracemalloc`` traces the queuing
loop; the current traced size afterwards, minus the payload objects
themselves (``sys.getsizeof(bytes(1024))`` = 1057 B each), divided by ``n``,
is the bookkeeping per message (the futures a future socket returns count as
bookkeeping). tracemalloc sees Python allocations only; libzmq holds none
of these messages. Drain: a counter thread then connects and the clock runs
until it has all ``n`` messages, or until ``drain_cap`` (pyzmq's future
socket drains in quadratic time), which reports "x of n in T s". The raw
baseline is a blocking send loop to a counter that connects as the clock starts.

Thread-safety: each function runs one measurement on the calling thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import sys
import tracemalloc
from collections.abc import Callable
from time import perf_counter
from typing import Any

import zmq

from ._harness import (
    MESSAGES,
    BenchError,
    Owned,
    Sample,
    Settings,
    Signal,
    bind_random,
    bounded,
    milliseconds,
    send_loop,
    settle,
)
from ._impls import Impl, measure
from ._peers import Counter

__all__ = ["PAYLOAD", "queued_drain", "queued_memory", "throughput"]

PAYLOAD = 1024
_PAYLOAD_OBJECT = sys.getsizeof(bytes(PAYLOAD))
_QUEUED_HWM = 1000
_WARMUP = b"warm-up"


def _counted(counter: Counter, n: int, start: float) -> Sample:
    if counter.done.is_set():
        return Sample.rate(n, n, counter.t_end - start)
    return Sample.rate(counter.count, n, perf_counter() - start)


def throughput(
    impl: Impl, s: Settings, msg_name: str, transport: str, unbounded: bool = False
) -> Sample:
    """Send ``s.send`` messages to a counting PULL thread; msgs/s until all arrived.

    ``unbounded`` sets HWM 0 at both ends and has the counter read only once
    the last send returned: the threads never run at once, so the work done
    (the instruction count) does not depend on how they interleave.
    """
    msg, n = MESSAGES[msg_name], s.send
    multipart = len(msg) > 1

    def counter_for(owned: Owned, tx: Any) -> Counter:
        if unbounded:
            tx.sndhwm = 0
        return Counter(
            owned,
            bind_random(tx, transport),
            n,
            multipart=multipart,
            warmup=1,
            hold=unbounded,
            unbounded=unbounded,
            timeout=s.timeout,
        )

    def warmed(owned: Owned) -> tuple[zmq.Socket[Any], Counter]:
        """A PUSH whose counter has taken the warm-up message."""
        tx = owned.native(zmq.PUSH)
        tx.sndtimeo = milliseconds(s.timeout)
        counter = counter_for(owned, tx)
        tx.send(_WARMUP)
        if not counter.ready.wait(s.timeout):
            raise BenchError("the counter did not get the warm-up message")
        return tx, counter

    def raw(owned: Owned) -> Sample:
        tx, counter = warmed(owned)
        start = perf_counter()
        send_loop(tx, msg, n)
        counter.go.set()
        counter.done.wait(s.timeout)
        return _counted(counter, n, start)

    async def stream(owned: Owned) -> Sample:
        tx, counter = warmed(owned)
        out = owned.adopt(impl.factory(tx))
        start = perf_counter()
        send_loop(out, msg, n)
        counter.go.set()
        await counter.done.wait_async(s.timeout)
        return _counted(counter, n, start)

    async def future(owned: Owned) -> Sample:
        tx = owned.native(zmq.PUSH)
        counter = counter_for(owned, tx)
        await bounded(tx.send(_WARMUP), s.timeout, "the warm-up send")
        if not await counter.ready.wait_async(s.timeout):
            raise BenchError("the counter did not get the warm-up message")
        item: Any = msg[0] if len(msg) == 1 else msg
        send = tx.send if len(msg) == 1 else tx.send_multipart

        async def produce() -> None:
            for _ in range(n):
                await send(item)
            counter.go.set()

        start = perf_counter()
        task = asyncio.ensure_future(produce())
        await counter.done.wait_async(s.timeout)
        sample = _counted(counter, n, start)
        await settle(task, 1.0)
        return sample

    return measure(impl, s.timeout, raw, stream, future)


def _queue_stream(out: Any, n: int) -> None:
    send = out.send
    for _ in range(n):
        send(bytes(PAYLOAD))


def _queue_future(tx: Any, futures: list[Any]) -> None:
    send = tx.send
    for index in range(len(futures)):
        futures[index] = send(bytes(PAYLOAD))


def _quiet(futures: list[Any]) -> None:
    """Mark the outcome of cancelled sends as seen, so no "never retrieved" noise."""
    for future in futures:
        if future is not None and future.done():
            with contextlib.suppress(asyncio.CancelledError):
                future.exception()


def _traced(queue: Callable[[], None], n: int) -> Sample:
    """Run ``queue`` under tracemalloc; bytes per message beyond the payload objects."""
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        start = perf_counter()
        queue()
        seconds = perf_counter() - start
        used = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    if used < n * PAYLOAD:
        raise BenchError(
            f"only {used / n:.0f} B/msg traced: the {PAYLOAD} B messages were not kept queued"
        )
    return Sample(used / n - _PAYLOAD_OBJECT, n, n, seconds)


def _unread_push(owned: Owned, future: bool) -> tuple[Any, str]:
    tx = owned.native(zmq.PUSH) if future else owned.plain(zmq.PUSH)
    tx.sndhwm = _QUEUED_HWM
    return tx, bind_random(tx, "tcp")


def queued_memory(impl: Impl, s: Settings) -> Sample:
    """Bytes per queued 1 KiB send beyond the payload (tracemalloc)."""
    n = s.queued

    async def stream(owned: Owned) -> Sample:
        tx, _ = _unread_push(owned, future=False)
        out = owned.adopt(impl.factory(tx))
        return _traced(lambda: _queue_stream(out, n), n)

    async def future(owned: Owned) -> Sample:
        tx, _ = _unread_push(owned, future=True)
        futures: list[Any] = [None] * n
        try:
            return _traced(lambda: _queue_future(tx, futures), n)
        finally:
            tx.close(linger=0)
            _quiet(futures)

    # A blocking socket has no send queue to measure.
    return measure(impl, s.timeout, None, stream, future)


def queued_drain(impl: Impl, s: Settings) -> Sample:
    """Msgs/s draining ``s.queued`` queued 1 KiB sends once the peer starts reading."""
    n, cap = s.queued, s.drain_cap

    def late_counter(owned: Owned, endpoint: str) -> tuple[Counter, Signal]:
        gate = Signal()
        return Counter(owned, endpoint, n, gate=gate, timeout=cap + s.timeout), gate

    def raw(owned: Owned) -> Sample:
        tx, endpoint = _unread_push(owned, future=False)
        tx.sndtimeo = milliseconds(s.timeout)
        counter, gate = late_counter(owned, endpoint)
        payload = bytes(PAYLOAD)
        send = tx.send
        start = perf_counter()
        gate.set()
        for _ in range(n):
            send(payload)
        counter.done.wait(cap)
        return _counted(counter, n, start)

    async def stream(owned: Owned) -> Sample:
        tx, endpoint = _unread_push(owned, future=False)
        out = owned.adopt(impl.factory(tx))
        counter, gate = late_counter(owned, endpoint)
        _queue_stream(out, n)
        start = perf_counter()
        gate.set()
        await counter.done.wait_async(cap)
        return _counted(counter, n, start)

    async def future(owned: Owned) -> Sample:
        tx, endpoint = _unread_push(owned, future=True)
        counter, gate = late_counter(owned, endpoint)
        futures: list[Any] = [None] * n
        try:
            _queue_future(tx, futures)
            start = perf_counter()
            gate.set()
            await counter.done.wait_async(cap)
            return _counted(counter, n, start)
        finally:
            tx.close(linger=0)
            _quiet(futures)

    return measure(impl, s.timeout, raw, stream, future)
