"""Property tests: random sequences of stream operations lose, repeat and reorder nothing.

Each example builds a fresh context, a sender stream and a receiver stream on
their own IOLoop, plays a generated list of operations (sends of every frame
kind, send_threadsafe, copy=False with track=True, per-send callbacks,
pause/resume, flush with flags and limits, queue-limit changes, loop turns),
then ends in one of two ways and checks:

* "drain": the receiver got every message accepted by a send call exactly
  once and in order, except those ``flush(POLLIN)`` dropped while paused
  (documented), which are exactly as many as flush reported;
* "close": the same for what close() handed to libzmq, while the messages it
  reports unsent are the tail of the queue, as many as it returned;
* in both, the send callbacks saw every accepted message exactly once, in send
  order, with None, a MessageTracker (track=True) or StreamClosedError
  (unsent at close) as status;
* a mutable buffer the caller changed right after the send went out as it was
  when sent.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tornado.ioloop import IOLoop

from tests.stream.helpers import Collector, turns, wait_future
from tzmq import SendQueueFull, StreamClosedError, ZMQStream

# Examples per socket pair; raise it to hunt for rare orderings
# (TZMQ_PROP_EXAMPLES=2000 make test).
EXAMPLES = int(os.environ.get("TZMQ_PROP_EXAMPLES", "200"))

POLLIN = int(zmq.POLLIN)
POLLOUT = int(zmq.POLLOUT)

KINDS = ("bytes", "bytearray", "memoryview", "frame")

frame_kinds = st.sampled_from(KINDS)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("send"), frame_kinds),
        st.tuples(
            st.sampled_from(["multipart", "threadsafe", "nocopy", "callback"]),
            st.lists(frame_kinds, min_size=1, max_size=4),
        ),
        st.tuples(st.just("burst"), st.integers(1, 40)),
        st.tuples(st.just("pause")),
        st.tuples(st.just("resume"), st.booleans()),
        st.tuples(
            st.just("flush"),
            st.sampled_from(["sender", "receiver"]),
            st.sampled_from([POLLIN, POLLOUT, POLLIN | POLLOUT]),
            st.none() | st.integers(0, 6),
        ),
        st.tuples(st.just("limits"), st.none() | st.integers(1, 8)),
        st.tuples(st.just("turns"), st.integers(1, 4)),
    ),
    max_size=30,
)

PAIRS = [
    (zmq.PULL, zmq.PUSH, "inproc"),
    (zmq.PULL, zmq.PUSH, "tcp"),
    (zmq.ROUTER, zmq.DEALER, "inproc"),
    (zmq.ROUTER, zmq.DEALER, "tcp"),
]


def _key(part: Any) -> bytes:
    """The sequence number at the front of a frame (``b"12|payload"``)."""
    return bytes(part).split(b"|", 1)[0]


@dataclass
class Scenario:
    """The model: what was accepted for sending, and what flush dropped."""

    accepted: list[list[bytes]] = field(default_factory=list)
    own_callbacks: list[bytes] = field(default_factory=list)
    dropped: int = 0
    seq: int = 0

    def frames(
        self, kinds: list[str], track: bool = False
    ) -> tuple[list[Any], list[bytes], list[bytearray]]:
        """Build one message: (frames to send, their expected bytes, buffers to mutate)."""
        self.seq += 1
        parts: list[Any] = []
        expected: list[bytes] = []
        mutable: list[bytearray] = []
        for index, kind in enumerate(kinds):
            data = b"%d|%d-%s" % (self.seq, index, kind.encode())
            expected.append(data)
            if kind == "bytes":
                parts.append(data)
            elif kind == "frame":
                parts.append(zmq.Frame(data, track=track))  # pyzmq: tracked sends need it
            else:
                buffer = bytearray(data)
                mutable.append(buffer)
                parts.append(buffer if kind == "bytearray" else memoryview(buffer))
        return parts, expected, mutable


async def _play(
    ops: list[tuple[Any, ...]],
    receiver: ZMQStream,
    sender: ZMQStream,
    routed: bool,
    ending: str,
) -> None:
    model = Scenario()
    got = Collector()
    sent_reports: list[bytes] = []
    own_reports: list[bytes] = []
    tracked: set[bytes] = set()
    statuses: dict[bytes, Any] = {}

    def send(kinds: list[str], how: str) -> None:
        parts, expected, mutable = model.frames(kinds, track=how == "nocopy")
        key = _key(expected[0])
        try:
            if how == "send":
                sender.send(parts[0])
            elif how == "multipart":
                sender.send_multipart(parts)
            elif how == "threadsafe":
                sender.send_multipart_threadsafe(parts)
            elif how == "nocopy":
                sender.send_multipart(parts, copy=False, track=True)
                tracked.add(key)
            else:
                sender.send_multipart(
                    parts, callback=lambda msg, status: own_reports.append(_key(msg[0]))
                )
                model.own_callbacks.append(key)
        except SendQueueFull:
            assert sender.queue_size >= 1
            return
        model.accepted.append(expected)
        if how != "nocopy":  # zero-copy frames share the caller's buffer
            for buffer in mutable:  # the caller reuses its buffers at once
                buffer[-1:] = b"!"

    def on_send(msg: list[Any], status: Any) -> None:
        # No assert here: the stream logs what a callback raises and carries on.
        key = _key(msg[0])
        sent_reports.append(key)
        statuses[key] = status

    sender.on_send(on_send)
    receiver.on_recv(got)

    for op in ops:
        name = op[0]
        if name == "send":
            send([op[1]], name)
        elif name in ("multipart", "threadsafe", "nocopy", "callback"):
            send(op[1], name)
        elif name == "burst":
            for _ in range(op[1]):
                send(["bytes"], "send")
        elif name == "pause":
            receiver.on_recv(None)
        elif name == "resume":
            receiver.on_recv(got, copy=op[1])
        elif name == "flush":
            _, which, flag, limit = op
            stream = sender if which == "sender" else receiver
            paused = not receiver.receiving()
            count = stream.flush(flag, limit)
            assert not limit or count <= limit  # 0, like None, means no limit
            if which == "receiver" and paused and flag & POLLIN:
                model.dropped += count
        elif name == "limits":
            sender.set_queue_limits(hwm=op[1])
        elif name == "turns":
            await turns(op[1])

    receiver.on_recv(got)
    if ending == "drain":
        # Let everything through and wait until it has all arrived.
        sender.set_queue_limits()
        await wait_future(sender.drain())
        unsent = 0
    else:
        # close() hands what libzmq takes over (LINGER keeps it going) and
        # reports the rest: the tail of the queue.
        queued = sender.queue_size
        sender.linger = 10_000
        unsent = sender.close()
        assert 0 <= unsent <= queued
    delivered = model.accepted[: len(model.accepted) - unsent]
    expected_count = len(delivered) - model.dropped
    await got.wait_for(expected_count)
    await turns(3)

    received = []
    for msg in got.messages:
        frames = [bytes(f) for f in msg]
        if routed:
            assert len(frames) >= 2, frames
            frames = frames[1:]  # the ROUTER's routing id
        received.append(frames)
    assert len(received) == expected_count
    # In order and exactly once: a subsequence of what was accepted whose
    # gaps are only what flush(POLLIN) dropped while paused.
    remaining = iter(delivered)
    for msg in received:
        assert msg in remaining, (msg, delivered)
    keys = [_key(m[0]) for m in model.accepted]
    assert sent_reports == keys
    assert own_reports == model.own_callbacks
    for index, key in enumerate(keys):
        status = statuses[key]
        if index >= len(delivered):
            assert isinstance(status, StreamClosedError), (key, status)
        elif key in tracked:
            assert isinstance(status, zmq.MessageTracker), (key, status)
        else:
            assert status is None, (key, status)
    assert sender.queue_size == 0 and sender.queue_bytes == 0


def _run_example(
    ops: list[tuple[Any, ...]], pair: tuple[int, int, str], hwm: int, ending: str
) -> None:
    bind_type, connect_type, transport = pair
    context = zmq.Context()
    loop = IOLoop(make_current=False)
    bound = context.socket(bind_type)
    connected = context.socket(connect_type)
    try:
        for s in (bound, connected):
            s.linger = 0
            s.sndhwm = s.rcvhwm = hwm
        if transport == "tcp":
            port = bound.bind_to_random_port("tcp://127.0.0.1")
            connected.connect(f"tcp://127.0.0.1:{port}")
        else:
            bound.bind(f"inproc://prop-{id(bound)}")
            connected.connect(f"inproc://prop-{id(bound)}")

        async def main() -> None:
            receiver = ZMQStream(bound, loop, max_batch=4)
            sender = ZMQStream(connected, loop, max_batch=4)
            try:
                await _play(ops, receiver, sender, bind_type == zmq.ROUTER, ending)
            finally:
                receiver.close()
                sender.close()

        loop.run_sync(main, timeout=10)
    finally:
        bound.close(linger=0)
        connected.close(linger=0)
        loop.close()
        context.term()


@pytest.mark.parametrize("pair", PAIRS, ids=lambda p: f"{p[2]}-{zmq.SocketType(p[1]).name}")
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(ops=operations, hwm=st.sampled_from([1, 2, 5, 1000]))
def test_random_operations_deliver_everything_once_in_order(
    pair: tuple[int, int, str], ops: list[tuple[Any, ...]], hwm: int
) -> None:
    _run_example(ops, pair, hwm, "drain")


@pytest.mark.parametrize("pair", PAIRS, ids=lambda p: f"{p[2]}-{zmq.SocketType(p[1]).name}")
@settings(
    max_examples=EXAMPLES // 2,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(ops=operations, hwm=st.sampled_from([1, 2, 5, 1000]))
def test_random_operations_then_close_account_for_every_message(
    pair: tuple[int, int, str], ops: list[tuple[Any, ...]], hwm: int
) -> None:
    """Every accepted message is delivered, or counted by close() and reported to
    its callbacks with StreamClosedError; the unsent ones are the queue's tail."""
    _run_example(ops, pair, hwm, "close")
