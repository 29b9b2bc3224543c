"""ZMQStream and threads: one explicit door in, and the socket only ever used on the loop.

The loop runs in its own thread (`LoopThread`); other threads send, change
callbacks and close. A spy on the socket records which thread made every
libzmq call (send, recv, getsockopt), so "the socket is never touched from a
non-loop thread" is checked directly, not inferred from the results.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
import zmq
from tornado.ioloop import IOLoop

from tzmq import SendQueueFull, StreamClosedError, ZMQStream

T = TypeVar("T")
WAIT = 10.0


class LoopThread:
    """An IOLoop running in a thread of its own, with a way to run code on it."""

    def __init__(self) -> None:
        self.loop = IOLoop(make_current=False)
        self.ident = 0
        self._thread = threading.Thread(target=self._run, name="loop", daemon=True)

    def _run(self) -> None:
        self.ident = threading.get_ident()
        self.loop.start()

    def start(self) -> None:
        self._thread.start()
        # The loop is running once a callback has run on it.
        self.call(lambda: None)
        assert self.ident

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the loop thread and return its result (bounded wait)."""
        result: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                result.set_result(fn())
            except BaseException as error:
                result.set_exception(error)

        self.loop.add_callback(run)
        return result.result(timeout=WAIT)

    def block(self) -> threading.Event:
        """Keep the loop busy until the returned event is set."""
        release = threading.Event()
        started = threading.Event()

        def hold() -> None:
            started.set()
            release.wait(WAIT)

        self.loop.add_callback(hold)
        assert started.wait(WAIT)
        return release

    def stop(self) -> None:
        if self._thread.is_alive():
            self.loop.add_callback(self.loop.stop)
            self._thread.join(WAIT)
            assert not self._thread.is_alive()
        self.loop.close()


@pytest.fixture
def loop_thread() -> Iterator[LoopThread]:
    runner = LoopThread()
    yield runner
    runner.stop()


def spy_on(sock: zmq.Socket[Any], calls: list[tuple[str, int]]) -> None:
    """Record (method, thread) for every libzmq call the stream can make on ``sock``.

    Instance attributes shadow the class's methods, so the stream (which binds
    ``socket.send``/``recv`` at construction) calls these. Install before
    making the stream.
    """
    for name in ("send", "send_multipart", "recv", "recv_multipart", "getsockopt", "get"):
        method = getattr(sock, name)

        def spy(*args: Any, _method: Any = method, _name: str = name, **kwargs: Any) -> Any:
            calls.append((_name, threading.get_ident()))
            return _method(*args, **kwargs)

        setattr(sock, name, spy)


def _run_threads(n: int, target: Callable[[int], None]) -> None:
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            target(index)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
        assert not t.is_alive()
    if errors:
        raise errors[0]


def _collect(stream: ZMQStream, loop_thread: LoopThread, n: int) -> list[list[bytes]]:
    """Wait (bounded) until ``stream``'s receive callback got ``n`` messages."""
    got: list[list[bytes]] = []
    threads: set[int] = set()
    done = threading.Event()

    def on_msg(msg: list[bytes]) -> None:
        threads.add(threading.get_ident())
        got.append(msg)
        if len(got) >= n:
            done.set()

    loop_thread.call(lambda: stream.on_recv(on_msg))
    assert done.wait(WAIT), f"got {len(got)} of {n} messages"
    assert threads == {loop_thread.ident}
    return got


def test_sends_from_many_threads_arrive_once_and_never_touch_the_socket_off_loop(
    ctx: zmq.Context[Any], loop_thread: LoopThread
) -> None:
    loop_thread.start()
    pull = ctx.socket(zmq.PULL)
    push = ctx.socket(zmq.PUSH)
    pull.bind("inproc://threads-send")
    push.connect("inproc://threads-send")
    push.sndhwm = pull.rcvhwm = 50  # small: plenty of sends must queue
    calls: list[tuple[str, int]] = []
    spy_on(push, calls)
    sender = loop_thread.call(lambda: ZMQStream(push, loop_thread.loop))
    receiver = loop_thread.call(lambda: ZMQStream(pull, loop_thread.loop))
    reports: list[tuple[bytes, int]] = []
    sender.on_send(lambda msg, status: reports.append((msg[0], threading.get_ident())))
    per_thread = 300

    def send_from(index: int) -> None:
        for i in range(per_thread):
            key = b"%d-%d" % (index, i)
            way = i % 4
            if way == 0:
                sender.send(key)
            elif way == 1:
                sender.send_multipart([key, bytearray(b"ba")])
            elif way == 2:
                sender.send_threadsafe(key)
            else:
                sender.send_multipart_threadsafe([key, memoryview(b"mv")])

    _run_threads(6, send_from)
    messages = _collect(receiver, loop_thread, 6 * per_thread)
    keys = [m[0] for m in messages]
    assert len(keys) == len(set(keys)) == 6 * per_thread
    for index in range(6):  # each thread's messages in its own order
        mine = [k for k in keys if k.startswith(b"%d-" % index)]
        assert mine == [b"%d-%d" % (index, i) for i in range(per_thread)]
    loop_thread.call(lambda: None)  # let the send callbacks run
    assert sorted(k for k, _ in reports) == sorted(keys)
    assert {t for _, t in reports} == {loop_thread.ident}
    assert calls and {t for _, t in calls} == {loop_thread.ident}
    loop_thread.call(sender.close)
    loop_thread.call(receiver.close)


def test_on_recv_changed_from_another_thread_many_times(
    ctx: zmq.Context[Any], loop_thread: LoopThread
) -> None:
    loop_thread.start()
    pull = ctx.socket(zmq.PULL)
    push = ctx.socket(zmq.PUSH)
    pull.bind("inproc://threads-on-recv")
    push.connect("inproc://threads-on-recv")
    calls: list[tuple[str, int]] = []
    spy_on(pull, calls)
    stream = loop_thread.call(lambda: ZMQStream(pull, loop_thread.loop))
    total = 3000
    got: list[tuple[str, list[Any]]] = []
    threads: set[int] = set()
    done = threading.Event()

    def make(name: str) -> Callable[[list[Any]], None]:
        def callback(msg: list[Any]) -> None:
            threads.add(threading.get_ident())
            got.append((name, msg))
            if len(got) == total:
                done.set()

        return callback

    as_bytes, as_frames = make("bytes"), make("frames")
    stream.on_recv(as_bytes)  # from this (non-loop) thread while the loop runs
    sending = threading.Thread(target=lambda: [push.send(b"%d" % i) for i in range(total)])
    sending.start()
    for i in range(400):  # re-registered many times on the live stream
        if i % 3 == 0:
            stream.on_recv(None)
        elif i % 3 == 1:
            stream.on_recv_stream(lambda s, msg: as_frames(msg), copy=False)
        else:
            stream.on_recv(as_bytes, copy=True)
    stream.on_recv(as_bytes)
    sending.join(WAIT)
    assert done.wait(WAIT), f"got {len(got)} of {total}"
    assert threads == {loop_thread.ident}
    assert [bytes(m[0]) for _, m in got] == [b"%d" % i for i in range(total)]
    # Each callback got what it asked for: never bytes for copy=False, or frames for copy=True.
    for name, msg in got:
        assert isinstance(msg[0], zmq.Frame if name == "frames" else bytes), name
    assert {t for _, t in calls} == {loop_thread.ident}
    loop_thread.call(stream.close)


def test_stream_for_a_loop_not_yet_running_started_in_another_thread(
    ctx: zmq.Context[Any],
) -> None:
    runner = LoopThread()
    try:
        pull = ctx.socket(zmq.PULL)
        push = ctx.socket(zmq.PUSH)
        pull.bind("inproc://threads-later")
        push.connect("inproc://threads-later")
        # Made here, for a loop that is not current and not running yet.
        receiver = ZMQStream(pull, runner.loop)
        sender = ZMQStream(push, runner.loop)
        assert receiver.io_loop is runner.loop
        got: list[bytes] = []
        threads: set[int] = set()
        done = threading.Event()

        def on_msg(msg: list[bytes]) -> None:
            threads.add(threading.get_ident())
            got.append(msg[0])
            if len(got) == 20:
                done.set()

        receiver.on_recv(on_msg)
        sent_threads: set[int] = set()
        closes: list[int] = []
        sender.on_send(lambda msg, status: sent_threads.add(threading.get_ident()))
        receiver.set_close_callback(lambda: closes.append(threading.get_ident()))
        for i in range(10):
            sender.send(b"%d" % i)
        runner.start()
        for i in range(10, 20):
            sender.send(b"%d" % i)  # hops onto the loop thread now
        assert done.wait(WAIT), got
        assert got == [b"%d" % i for i in range(20)]
        assert threads == {runner.ident}
        runner.call(lambda: None)
        assert sent_threads == {runner.ident}
        runner.call(receiver.close)
        runner.call(sender.close)
        assert closes == [runner.ident]
    finally:
        runner.stop()


def test_bounded_queue_holds_for_sends_from_other_threads(
    ctx: zmq.Context[Any], loop_thread: LoopThread
) -> None:
    """queue_hwm bounds sends made from other threads too, at the call.

    Found here: sends that hop onto a busy loop were not counted, so any number
    passed the high water mark check and were queued anyway.
    """
    loop_thread.start()
    push = ctx.socket(zmq.PUSH)  # no peer: everything queues
    stream = loop_thread.call(lambda: ZMQStream(push, loop_thread.loop, queue_hwm=5))
    release = loop_thread.block()
    accepted = 0
    try:
        with pytest.raises(SendQueueFull):
            for i in range(100):
                stream.send_threadsafe(b"%d" % i)
                accepted += 1
    finally:
        release.set()
    assert accepted == 5
    assert loop_thread.call(lambda: stream.queue_size) == 5
    loop_thread.call(lambda: stream.close(linger=0))


def test_sends_from_threads_just_before_close_are_handed_over(
    ctx: zmq.Context[Any], loop_thread: LoopThread, caplog: pytest.LogCaptureFixture
) -> None:
    """close() on the loop counts or sends what other threads had already handed in.

    Found here: such sends were still waiting for their hop when close() ran;
    they were then dropped with one ERROR log each and close() returned 0.
    """
    loop_thread.start()
    pull = ctx.socket(zmq.PULL)
    push = ctx.socket(zmq.PUSH)
    pull.bind("inproc://threads-close")
    push.connect("inproc://threads-close")
    push.linger = 1000
    stream = loop_thread.call(lambda: ZMQStream(push, loop_thread.loop))
    release = loop_thread.block()
    closed: concurrent.futures.Future[int] = concurrent.futures.Future()
    loop_thread.loop.add_callback(lambda: closed.set_result(stream.close()))
    for i in range(5):
        stream.send(b"%d" % i)  # accepted: the stream is not closed yet
    release.set()
    assert closed.result(WAIT) == 0
    pull.rcvtimeo = int(WAIT * 1000)
    assert [pull.recv() for _ in range(5)] == [b"%d" % i for i in range(5)]
    with pytest.raises(StreamClosedError):
        stream.send(b"late")
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_send_from_another_thread_on_a_closed_stream_fails_at_the_call(
    ctx: zmq.Context[Any], loop_thread: LoopThread
) -> None:
    loop_thread.start()
    push = ctx.socket(zmq.PUSH)
    stream = loop_thread.call(lambda: ZMQStream(push, loop_thread.loop))
    loop_thread.call(stream.close)
    for send in (stream.send, stream.send_threadsafe):
        with pytest.raises(StreamClosedError):
            send(b"x")
    with pytest.raises(StreamClosedError):
        stream.send_multipart_threadsafe([b"x"])
    with pytest.raises(TypeError):  # bad input still fails first, on the calling thread
        stream.send_threadsafe("text")


def test_coroutine_callbacks_run_on_the_loop_thread(
    ctx: zmq.Context[Any], loop_thread: LoopThread
) -> None:
    loop_thread.start()
    pull = ctx.socket(zmq.PULL)
    push = ctx.socket(zmq.PUSH)
    pull.bind("inproc://threads-coroutine")
    push.connect("inproc://threads-coroutine")
    stream = loop_thread.call(lambda: ZMQStream(pull, loop_thread.loop))
    threads: list[int] = []
    done = threading.Event()

    async def handler(msg: list[bytes]) -> None:
        threads.append(threading.get_ident())
        await asyncio.sleep(0)
        threads.append(threading.get_ident())
        if len(threads) == 20:
            done.set()

    stream.on_recv(handler)  # set from this thread
    for i in range(10):
        push.send(b"%d" % i)
    assert done.wait(WAIT)
    assert set(threads) == {loop_thread.ident}
    loop_thread.call(stream.close)


def test_closed_asked_from_another_thread_closes_on_the_loop(
    ctx: zmq.Context[Any], loop_thread: LoopThread
) -> None:
    """jupyter_client calls stream.closed() from its own thread.

    Found here: a socket found closed made closed() run close(), with its close
    callback and IOLoop.remove_handler, on the calling thread.
    """
    loop_thread.start()
    pull = ctx.socket(zmq.PULL)
    stream = loop_thread.call(lambda: ZMQStream(pull, loop_thread.loop))
    assert not stream.closed()
    closed_on: list[int] = []
    done = threading.Event()
    stream.set_close_callback(lambda: (closed_on.append(threading.get_ident()), done.set()))
    loop_thread.call(pull.close)  # behind the stream's back
    assert stream.closed()
    assert done.wait(WAIT)
    assert closed_on == [loop_thread.ident]


def test_send_from_another_thread_after_the_socket_was_closed_behind_the_stream(
    ctx: zmq.Context[Any], loop_thread: LoopThread, caplog: pytest.LogCaptureFixture
) -> None:
    """The message is counted and reported like any unsent at close, not logged as an error."""
    loop_thread.start()
    push = ctx.socket(zmq.PUSH)
    stream = loop_thread.call(lambda: ZMQStream(push, loop_thread.loop))
    statuses: list[Any] = []
    done = threading.Event()
    stream.on_send(lambda msg, status: statuses.append(status))
    stream.set_close_callback(done.set)
    loop_thread.call(push.close)  # behind the stream's back
    with caplog.at_level(logging.WARNING):
        stream.send(b"lost")  # the stream cannot know yet: accepted here
        assert done.wait(WAIT)
        loop_thread.call(lambda: None)
    assert len(statuses) == 1 and isinstance(statuses[0], StreamClosedError)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == [
        "ZMQStream closed with 1 queued message(s) not sent"
    ]
