"""Back-pressure: a fast producer, a consumer 100x slower, and a bounded send path.

The producer sends as fast as the bound lets it; the consumer takes a few
messages per timer tick (~250 msg/s, where the producer manages 25,000+ msg/s
unhindered: see the load figures). The slowness is the scenario, not a way
to wait for something. Over inproc, libzmq holds at most SNDHWM + RCVHWM
messages, so everything else the producer makes must wait in the bounded
queue, or in the producer itself. Proven, with tracemalloc and the queue's
own counters: the queue never passes its marks, Python memory stays within
a bound (an unbounded producer would pass it several times over), no message
is lost or reordered, and ``await stream.drain()`` (or the pending send of
the future socket) resumes the producer each time the consumer makes room.
"""

from __future__ import annotations

import asyncio
import random
import time
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import zmq
from tornado.ioloop import IOLoop

import tzmq
from tzmq import SendQueueFull, ZMQStream

from .conftest import Complaints
from .figures import FIGURES, scaled
from .traffic import Checker, numbered, payload

COUNT = scaled(300, 3000)
PER_TICK, TICK = 5, 0.02  # the consumer: 250 messages a second
KiB = 1024
HWM, HWM_BYTES = 32, 48 * KiB
LWM, LWM_BYTES = 16, 24 * KiB
MAX_MESSAGE = 8 * KiB
PIPE_HWM = 4  # SNDHWM and RCVHWM: libzmq holds at most 8 messages over inproc
MEMORY_BOUND = 128 * KiB
"""Growth of Python's traced memory allowed after warm-up (~75 KiB measured for the
stream, ~35 KiB for the future socket): the queue's 48 KiB of payload plus one
message, bookkeeping, and what the consumer holds for a moment. A producer not held
back would keep ~870 KB queued; refused sends left in garbage cycles until the
cyclic GC ran (a defect this bound caught) reached ~170 KiB."""


def _messages(count: int) -> Iterator[list[bytes]]:
    rng = random.Random(11)
    for seq in range(count):
        # Small messages first (the message mark binds), then large (the byte mark binds).
        low, high = (512, 1024) if seq < count // 2 else (2048, MAX_MESSAGE - 64)
        size = rng.randint(low, high)
        parts = [payload(size // 2, rng), payload(size - size // 2, rng)]
        yield numbered(seq, parts if seq % 3 else [parts[0] + parts[1]])


class SlowConsumer:
    """Takes up to PER_TICK messages from a plain socket every TICK seconds."""

    def __init__(
        self, socket: zmq.Socket[Any], checker: Checker, io_loop: IOLoop, after: Callable[[], None]
    ) -> None:
        self.socket = socket
        self.checker = checker
        self.io_loop = io_loop
        self.after = after
        self._handle: object | None = io_loop.call_later(TICK, self._tick)

    def _tick(self) -> None:
        for _ in range(PER_TICK):
            try:
                msg = self.socket.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            self.checker(msg)
        self.after()
        self._handle = self.io_loop.call_later(TICK, self._tick)

    def stop(self) -> None:
        if self._handle is not None:
            self.io_loop.remove_timeout(self._handle)
            self._handle = None


class Memory:
    """Python's traced memory: the baseline after warm-up and the peak since."""

    def __init__(self) -> None:
        tracemalloc.start()
        self.baseline: int | None = None

    def warm_up_after(self, delivered: int) -> None:
        """Take the baseline once ``delivered`` reaches two queues' worth of messages."""
        if self.baseline is None and delivered >= 2 * HWM:
            self.baseline = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()

    def growth(self) -> int:
        assert self.baseline is not None, "never warmed up"
        return tracemalloc.get_traced_memory()[1] - self.baseline

    def stop(self) -> None:
        tracemalloc.stop()


def _inproc_pair(ctx: zmq.Context[Any], name: str) -> tuple[zmq.Socket[Any], zmq.Socket[Any]]:
    pull = ctx.socket(zmq.PULL, socket_class=zmq.Socket)
    push = ctx.socket(zmq.PUSH)
    for sock in (pull, push):
        sock.linger = 0
        sock.sndhwm = sock.rcvhwm = PIPE_HWM
    pull.bind(f"inproc://{name}")
    push.connect(f"inproc://{name}")
    return pull, push


@pytest.mark.gen_test(timeout=scaled(20, 120))
async def test_stream_queue_holds_its_marks_and_drain_resumes_the_producer(
    io_loop: IOLoop, complaints: Complaints
) -> None:
    ctx: zmq.Context[Any] = zmq.Context()
    pull, push = _inproc_pair(ctx, "backpressure-stream")
    stream = ZMQStream(
        push,
        queue_hwm=HWM,
        queue_hwm_bytes=HWM_BYTES,
        queue_lwm=LWM,
        queue_lwm_bytes=LWM_BYTES,
    )
    checker = Checker(COUNT)
    worst = [0, 0]

    def measure() -> None:
        worst[0] = max(worst[0], stream.queue_size)
        worst[1] = max(worst[1], stream.queue_bytes)

    consumer = SlowConsumer(pull, checker, io_loop, measure)
    memory = Memory()
    drains = 0
    refused = {"messages": 0, "bytes": 0}
    burst: tuple[int, float] | None = None
    started = time.perf_counter()
    try:
        for msg in _messages(COUNT):
            memory.warm_up_after(checker.count)
            while True:
                try:
                    stream.send_multipart(msg)
                    break
                except SendQueueFull:
                    if burst is None:
                        burst = (checker.count + stream.queue_size, time.perf_counter() - started)
                    # Nothing was queued: the queue is at a mark.
                    if stream.queue_size >= HWM:
                        refused["messages"] += 1
                    else:
                        assert stream.queue_bytes >= HWM_BYTES
                        refused["bytes"] += 1
                    drains += 1
                    await asyncio.wait_for(stream.drain(), 10)
                    # drain() resolves at the low marks, not before.
                    assert stream.queue_size <= LWM and stream.queue_bytes <= LWM_BYTES
            measure()
        await checker.wait(stall=10)
        growth = memory.growth()
    finally:
        memory.stop()
        consumer.stop()
        stream.close(linger=0)
        pull.close()
        ctx.term()
    checker.verify()
    # An accepted send finds the queue below both marks, so the message count never
    # passes its mark and the bytes pass theirs by less than one message.
    assert worst[0] == HWM
    assert HWM_BYTES <= worst[1] < HWM_BYTES + MAX_MESSAGE
    assert refused["messages"] > 0 and refused["bytes"] > 0, refused
    assert drains >= COUNT // (2 * HWM), drains
    assert growth < MEMORY_BOUND, growth
    complaints.assert_clean()
    FIGURES.messages("back-pressure stream", COUNT, checker.count)
    assert burst is not None
    FIGURES.note(
        f"back-pressure stream: producer burst {burst[0] / burst[1]:,.0f} msg/s, consumer "
        f"{PER_TICK / TICK:.0f} msg/s; {drains} drain waits {refused}; "
        f"queue peak {worst[0]} msgs / {worst[1]:,} B (marks {HWM} / {HWM_BYTES:,}); "
        f"traced growth {growth:,} B"
    )


@pytest.mark.gen_test(timeout=scaled(20, 120))
async def test_future_socket_sndhwm_holds_the_producer(
    io_loop: IOLoop, complaints: Complaints
) -> None:
    ctx = tzmq.Context()
    pull, push = _inproc_pair(ctx, "backpressure-future")
    checker = Checker(COUNT)
    in_flight = [0]
    sent = 0

    def measure() -> None:
        in_flight[0] = max(in_flight[0], sent - checker.count)

    consumer = SlowConsumer(pull, checker, io_loop, measure)
    memory = Memory()
    held = 0
    try:
        for msg in _messages(COUNT):
            memory.warm_up_after(checker.count)
            future = push.send_multipart(msg)
            if not future.done():
                held += 1  # libzmq is at SNDHWM: the producer waits here
            await asyncio.wait_for(future, 10)
            sent += 1
            measure()
        await checker.wait(stall=10)
        growth = memory.growth()
    finally:
        memory.stop()
        consumer.stop()
        push.close()
        pull.close()
        ctx.term()
    checker.verify()
    # inproc: the pipe holds SNDHWM + RCVHWM messages, and nothing else holds any.
    assert in_flight[0] <= 2 * PIPE_HWM, in_flight[0]
    assert held >= COUNT // PER_TICK // 2, held
    assert growth < MEMORY_BOUND, growth
    complaints.assert_clean()
    FIGURES.messages("back-pressure future", COUNT, checker.count)
    FIGURES.note(
        f"back-pressure future: {held} sends held at SNDHWM; at most {in_flight[0]} "
        f"messages in flight (SNDHWM+RCVHWM = {2 * PIPE_HWM}); traced growth {growth:,} B"
    )
