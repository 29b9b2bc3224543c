"""Faults: a peer process killed and restarted mid-stream, a socket closed behind the
stream's back, the context terminated under pending work, callbacks that raise, and the
IOLoop closed with streams still open.

What "survives" means in each case is asserted, and so is the absence of
noise: nothing at WARNING or above is logged (apart from the documented
count of unsent messages at a close), and no traceback at all.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import zmq
from tornado.ioloop import IOLoop, PeriodicCallback

import tzmq
from tzmq import ZMQStream
from tzmq.auth import IOLoopAuthenticator
from tzmq.log import LogWatcher
from tzmq.stream import SocketMonitor

from .conftest import Complaints
from .figures import FIGURES, scaled
from .procs import Children, free_port
from .sockets import stuck_pair
from .traffic import Checker, messages

RETRY = 0.5
"""Seconds before the client re-sends a request nobody acknowledged."""


class AckClient:
    """Numbered requests with an application-level ack and retry.

    Every request ``[id, body]`` is re-sent every `RETRY` seconds until the peer
    answers ``[id]``: a killed peer loses what it held, and the retry makes
    "nothing lost" provable (every id is acknowledged in the end).
    """

    def __init__(self, name: str, send: Callable[[list[bytes]], Any], total: int, window: int):
        self.name = name
        self._send = send
        self.total = total
        self.window = window
        self.outstanding: dict[int, float] = {}
        self.acked: set[int] = set()
        self.duplicates = 0
        self.resent = 0
        self.send_errors: list[BaseException] = []
        self._changed = asyncio.Event()
        self._retry_timer = PeriodicCallback(self._retry, 50)

    def request(self, rid: int) -> None:
        outcome = self._send([b"%d" % rid, b"body %d" % rid + b"." * (rid % 300)])
        if isinstance(outcome, asyncio.Future):
            outcome.add_done_callback(self._sent)

    def _sent(self, future: asyncio.Future[Any]) -> None:
        if not future.cancelled() and future.exception() is not None:
            self.send_errors.append(future.exception())  # type: ignore[arg-type]

    def on_reply(self, msg: list[bytes]) -> None:
        rid = int(msg[0])
        if rid in self.acked:
            self.duplicates += 1
        else:
            self.acked.add(rid)
            self.outstanding.pop(rid, None)
        self._changed.set()

    def _retry(self) -> None:
        now = time.monotonic()
        for rid, when in list(self.outstanding.items()):
            if now - when >= RETRY:
                self.outstanding[rid] = now
                self.resent += 1
                self.request(rid)

    async def until(self, condition: Callable[[], bool], what: str, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            self._changed.clear()
            left = deadline - time.monotonic()
            try:
                await asyncio.wait_for(self._changed.wait(), max(left, 0))
            except TimeoutError:
                raise AssertionError(
                    f"{self.name}: {what} not reached: {len(self.acked)}/{self.total} acked, "
                    f"{len(self.outstanding)} outstanding, {self.resent} re-sent"
                ) from None

    async def run(self) -> None:
        self._retry_timer.start()
        try:
            for rid in range(self.total):
                await self.until(lambda: len(self.outstanding) < self.window, "room")
                self.outstanding[rid] = time.monotonic()
                self.request(rid)
            await self.until(lambda: len(self.acked) == self.total, "every ack")
        finally:
            self._retry_timer.stop()


@pytest.mark.gen_test(timeout=scaled(40, 300))
async def test_peer_killed_and_restarted_mid_stream(
    io_loop: IOLoop, complaints: Complaints
) -> None:
    """A stream client and a future-socket client keep going through two SIGKILLs."""
    total, kills = scaled(1500, 20000), scaled(2, 10)
    children = Children()
    ctx = tzmq.Context()
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    stream_sock = ctx.socket(zmq.DEALER, socket_class=zmq.Socket)
    future_sock = ctx.socket(zmq.DEALER)
    for sock in (stream_sock, future_sock):
        sock.linger = 0
        sock.connect(address)
    stream = ZMQStream(stream_sock)
    by_stream = AckClient("stream", stream.send_multipart, total, 100)
    by_future = AckClient("future", future_sock.send_multipart, total, 100)
    stream.on_recv(by_stream.on_reply)

    async def receive_future() -> None:
        async for msg in future_sock:
            by_future.on_reply(msg)

    receiver = asyncio.ensure_future(receive_future())
    peers = []
    try:
        peers.append(await children.start_service("ack", address))
        running = [asyncio.ensure_future(c.run()) for c in (by_stream, by_future)]
        for k in range(1, kills + 1):
            mark = total * k // (kills + 1)
            await by_stream.until(lambda m=mark: len(by_stream.acked) >= m, f"{mark} acks")
            assert await peers[-1].stop(kill=True) == -signal.SIGKILL
            FIGURES.fault("peer process SIGKILLed mid-stream, restarted on its port")
            peers.append(await children.start_service("ack", address))
        await asyncio.gather(*running)
        # Still working after the last restart: one more round trip each.
        by_stream.total = by_future.total = total + 1
        for client in (by_stream, by_future):
            client.outstanding[total] = time.monotonic()
            client.request(total)
            await client.until(lambda c=client: total in c.acked, "the round trip after")
        assert await peers[-1].stop() == 0
    finally:
        receiver.cancel()
        stream.close(linger=0)
        future_sock.close()
        ctx.destroy(linger=0)
        await children.close()
    for client in (by_stream, by_future):
        assert client.acked == set(range(total + 1)), client.name
        assert not client.send_errors, client.send_errors
        FIGURES.messages(f"peer kill/restart via {client.name}", total + 1, len(client.acked))
    assert not stream.socket.closed or stream.closed()
    assert all(not peer.stderr for peer in peers), [p.stderr.decode() for p in peers]
    complaints.assert_clean()
    FIGURES.note(
        f"peer kill/restart: {len(peers) - 1} kills; re-sent stream {by_stream.resent} / "
        f"future {by_future.resent}, duplicate acks stream {by_stream.duplicates} / "
        f"future {by_future.duplicates} (dropped by id)"
    )


class Traffic:
    """A bystander: a PUSH/PULL stream pair on the same loop, with checked messages flowing.

    Faults elsewhere must not touch it: `finish` sends the rest and checks all arrived.
    """

    def __init__(self, ctx: zmq.Context[Any], count: int) -> None:
        pull = ctx.socket(zmq.PULL, socket_class=zmq.Socket)
        push = ctx.socket(zmq.PUSH, socket_class=zmq.Socket)
        for sock in (pull, push):
            sock.linger = 0
        port = pull.bind_to_random_port("tcp://127.0.0.1")
        push.connect(f"tcp://127.0.0.1:{port}")
        self.tx = ZMQStream(push)
        self.rx = ZMQStream(pull)
        self.checker = Checker(count)
        self.rx.on_recv(self.checker)
        self._messages = messages(count, seed=5, max_frame=4096)
        self.sent = 0

    def send(self, n: int) -> None:
        for msg in itertools.islice(self._messages, n):
            self.tx.send_multipart(msg)
            self.sent += 1

    async def finish(self) -> None:
        self.send(self.checker.expected)
        await self.checker.wait(stall=5)
        self.checker.verify()
        self.tx.close()
        self.rx.close()


UNSENT = r"^ZMQStream closed with \d+ queued message\(s\) not sent$"


async def _outcome(future: Any) -> Any:
    """What a future ended with (result or exception), within a bound."""
    try:
        return await asyncio.wait_for(asyncio.shield(future), 5)
    except TimeoutError:
        raise AssertionError(f"{future!r} still pending") from None
    except BaseException as error:
        return error


@pytest.mark.gen_test(timeout=20)
async def test_socket_closed_behind_the_streams_back_under_load(
    io_loop: IOLoop, complaints: Complaints
) -> None:
    """``sock.close()`` under a busy stream and a busy future socket.

    The stream closes itself (close callback, drain fails, each queued send is
    reported to its callback, the count logged once); the future socket's
    pending calls fail with ENOTSOCK and its ``async for`` ends; traffic on
    another pair of the same loop goes on untouched.
    """
    ctx = tzmq.Context()
    bystander = Traffic(ctx, 3000)
    router_a, dealer_a = stuck_pair(ctx, "behind-a")
    router_b, dealer_b = stuck_pair(ctx, "behind-b")
    stream = ZMQStream(dealer_a, queue_hwm=100)
    statuses: list[Any] = []
    stream.on_send(lambda msg, status: statuses.append(status))
    stream.on_recv(lambda msg: None)
    closed = asyncio.get_running_loop().create_future()
    stream.set_close_callback(lambda: closed.set_result(None))
    for i in range(100):
        stream.send(b"%d" % i)
    drain = stream.drain()
    future_sock = tzmq.Socket.from_socket(dealer_b)
    sends = [future_sock.send(b"%d" % i) for i in range(10)]
    recv, poll = future_sock.recv_multipart(), future_sock.poll(10_000)

    async def iterate() -> int:
        return sum([1 async for _ in tzmq.Socket.from_socket(dealer_b).messages()])

    iterating = asyncio.ensure_future(iterate())
    try:
        bystander.send(1000)
        await bystander.checker.wait(500)
        queued = stream.queue_size
        assert queued > 90 and not drain.done()
        held = [s for s in sends if not s.done()]
        assert len(held) >= 5  # stuck at the HWM
        dealer_a.close()  # behind the stream's back
        dealer_b.close()  # behind the future socket's back
        FIGURES.fault("socket closed behind a stream / a future socket", 2)
        await asyncio.wait_for(closed, 5)
        assert stream.closed()
        assert isinstance(await _outcome(drain), tzmq.StreamClosedError)
        for pending in (recv, poll, *held):
            error = await _outcome(pending)
            assert isinstance(error, zmq.ZMQError) and error.errno == zmq.ENOTSOCK, error
        assert await asyncio.wait_for(iterating, 5) == 0  # ended cleanly, nothing received
        with pytest.raises(tzmq.StreamClosedError):
            stream.send(b"late")
        late = await _outcome(future_sock.recv())
        assert isinstance(late, zmq.ZMQError) and late.errno == zmq.ENOTSOCK, late
        await bystander.finish()
    finally:
        stream.close()
        for sock in (router_a, router_b, future_sock):
            sock.close()
        ctx.destroy(linger=0)
    # Each queued send was reported once, as not sent; the two handed to libzmq as sent.
    unsent = [s for s in statuses if isinstance(s, tzmq.StreamClosedError)]
    assert len(unsent) == queued and len(statuses) == 100
    complaints.assert_clean(UNSENT)
    warnings = [r.getMessage() for r in complaints.records]
    assert warnings == [f"ZMQStream closed with {queued} queued message(s) not sent"]
    FIGURES.messages("bystander during socket close", 3000, bystander.checker.count)


@pytest.mark.gen_test(timeout=20)
async def test_context_terminated_with_streams_and_futures_pending(
    io_loop: IOLoop, complaints: Complaints
) -> None:
    """``ctx.term()`` from another thread while everything on the loop is mid-flight.

    Streams (sending, receiving, queued, paused), future sockets with pending
    sends, receives and polls, an ``async for``, two socket monitors, the ZAP
    authenticator and a log watcher, all in one context. Every pending thing
    ends with a clear error or a clean end, within the bound; term() returns
    as soon as the code that got ETERM closes its future sockets (the zmq
    contract); nothing but the count of unsent messages is logged.
    """
    ctx = tzmq.Context()
    loop = asyncio.get_running_loop()
    auth = IOLoopAuthenticator(ctx)
    auth.start()
    watcher = LogWatcher(context=ctx)
    watcher.bind("tcp://127.0.0.1:*")
    bystander = Traffic(ctx, 100_000)
    router, dealer = stuck_pair(ctx, "term-stream")
    paused = ZMQStream(router)  # no callback: paused, its messages wait
    sender = ZMQStream(dealer, queue_hwm=100)
    statuses: list[Any] = []
    sender.on_send(lambda msg, status: statuses.append(status))
    for i in range(100):
        sender.send(b"%d" % i)
    drain = sender.drain()
    streams = [paused, sender, bystander.tx, bystander.rx]
    closes: list[ZMQStream] = []
    for stream in streams:
        stream.set_close_callback(lambda s=stream: closes.append(s))
    events: list[str] = []
    SocketMonitor(bystander.rx).on_event(lambda e: events.append(e.name))
    f_router = ctx.socket(zmq.ROUTER)
    f_dealer = ctx.socket(zmq.DEALER)
    f_pull = ctx.socket(zmq.PULL)
    for sock in (f_router, f_dealer, f_pull):
        sock.linger = 0
        sock.sndhwm = sock.rcvhwm = 1
    f_router.bind("inproc://term-future")
    f_dealer.connect("inproc://term-future")
    f_pull.bind("inproc://term-nobody")
    sends = [f_dealer.send(b"%d" % i) for i in range(10)]
    held = [s for s in sends if not s.done()]
    recv, poll = f_pull.recv_multipart(), f_dealer.poll(10_000)
    assert len(held) >= 5 and not recv.done() and not poll.done()

    async def consume(sock: tzmq.Socket) -> int:
        return sum([1 async for _ in sock])

    async def monitor(sock: tzmq.Socket) -> list[str]:
        return [event.name async for event in SocketMonitor(sock)]

    consuming = asyncio.ensure_future(consume(f_pull))  # waits behind the pending recv
    monitoring = asyncio.ensure_future(monitor(f_router))
    termed = loop.create_future()

    def term() -> None:
        ctx.term()
        loop.call_soon_threadsafe(termed.set_result, None)

    bystander.send(20_000)
    await bystander.checker.wait(1000)
    terminator = threading.Thread(target=term, daemon=True)
    terminator.start()
    FIGURES.fault("context terminated under pending streams and futures")
    try:
        for pending in (recv, poll, *held):
            error = await _outcome(pending)
            assert isinstance(error, zmq.ContextTerminated), error
        assert await asyncio.wait_for(consuming, 5) == 0
        assert isinstance(await asyncio.wait_for(monitoring, 5), list)  # ended, no error
        assert isinstance(await _outcome(drain), tzmq.StreamClosedError)
        # What got ETERM closes its sockets, and term() returns.
        for sock in (f_router, f_dealer, f_pull):
            sock.close()
        await asyncio.wait_for(termed, 5)
    finally:
        for sock in (f_router, f_dealer, f_pull):
            sock.close()
        if not termed.done():
            ctx.destroy(linger=0)
    assert all(stream.closed() for stream in streams)
    assert sorted(map(id, closes)) == sorted(map(id, streams))  # each close callback once
    assert auth.zap_socket is not None and auth.zap_socket.closed
    with pytest.raises(tzmq.StreamClosedError):
        watcher.connect("tcp://127.0.0.1:1")
    auth.stop()
    watcher.close()
    unsent = [s for s in statuses if isinstance(s, tzmq.StreamClosedError)]
    assert len(unsent) >= 95 and len(statuses) == 100
    assert bystander.checker.problems == []  # what arrived before the end arrived intact
    complaints.assert_clean(UNSENT)
    FIGURES.messages(
        "bystander until context term", bystander.checker.count, bystander.checker.count
    )


@pytest.mark.parametrize("kind", ["on_recv", "coroutine on_recv", "on_send"])
@pytest.mark.gen_test(timeout=20)
async def test_callback_raising_on_every_tenth_message(
    io_loop: IOLoop, kind: str, complaints: Complaints
) -> None:
    """Every 10th call raises: each failure is logged once with its traceback, and every
    other message is still delivered, in order."""
    count = scaled(5000, 50_000)
    ctx: zmq.Context[Any] = zmq.Context()
    pull = ctx.socket(zmq.PULL)
    push = ctx.socket(zmq.PUSH)
    port = pull.bind_to_random_port("tcp://127.0.0.1")
    push.connect(f"tcp://127.0.0.1:{port}")
    tx, rx = ZMQStream(push), ZMQStream(pull)
    checker = Checker(count)
    calls = 0
    seen: list[int] = []
    every_call_made = asyncio.get_running_loop().create_future()

    def maybe_raise() -> None:
        nonlocal calls
        calls += 1
        if calls == count:
            every_call_made.set_result(None)
        if calls % 10 == 0:
            raise RuntimeError(f"callback failure #{calls // 10}")

    def record(msg: list[bytes]) -> None:
        seen.append(calls)

    def on_recv(msg: list[bytes]) -> None:
        checker(msg)
        maybe_raise()
        record(msg)

    async def on_recv_coroutine(msg: list[bytes]) -> None:
        checker(msg)
        await asyncio.sleep(0)
        maybe_raise()
        record(msg)

    def on_send(msg: list[bytes], status: Any) -> None:
        maybe_raise()

    if kind == "on_recv":
        rx.on_recv(on_recv)
    elif kind == "coroutine on_recv":
        rx.on_recv(on_recv_coroutine)
    else:
        tx.on_send(on_send)
        rx.on_recv(checker)
    try:
        for msg in messages(count, seed=3, max_frame=2048):
            tx.send_multipart(msg)
        await checker.wait(stall=5)
        await asyncio.wait_for(every_call_made, 5)
    finally:
        tx.close(linger=0)
        rx.close(linger=0)
        ctx.term()
    checker.verify()  # every message reached the callback, once, in order
    failures = count // 10
    if kind != "on_send":
        # All the others got past the raise, in order.
        assert seen == [n for n in range(1, count + 1) if n % 10]
    errors = [r for r in complaints.records if r.name == "tzmq.stream"]
    assert len(errors) == failures  # once each
    assert all(r.levelno == logging.ERROR and r.exc_info for r in errors)
    assert [str(r.exc_info[1]) for r in errors if r.exc_info] == [
        f"callback failure #{i}" for i in range(1, failures + 1)
    ]
    assert len(complaints.records) == failures  # and nothing else
    FIGURES.fault(f"{kind} callback raised", failures)
    FIGURES.messages(f"raising {kind} callback", count, checker.count)


def _term_within(ctx: zmq.Context[Any], seconds: float = 5) -> bool:
    """Terminate ``ctx`` in a thread; True if it returned within ``seconds``."""
    thread = threading.Thread(target=ctx.term, daemon=True)
    thread.start()
    thread.join(seconds)
    return not thread.is_alive()


@pytest.mark.parametrize("all_fds", [True, False], ids=["close(all_fds=True)", "close()"])
def test_ioloop_stopped_and_closed_with_everything_open(
    all_fds: bool, complaints: Complaints
) -> None:
    """The loop stops mid-flow and is closed with streams (one with sends queued and a
    drain() awaited), future sockets (receives, sends and polls pending and awaited), a
    monitor, the authenticator and a log watcher still open.

    ``close(all_fds=True)`` closes every socket the loop watched; plain ``close()``
    leaves them to their owners. Either way the owners' close calls then work with
    no loop (the awaited calls end cancelled or failed), the context terminates at
    once, and nothing is logged but the count of unsent messages.
    """
    loop = IOLoop(make_current=False)
    ctx = tzmq.Context()
    kept: dict[str, Any] = {}
    woken: list[Any] = []

    async def start() -> None:
        bystander = Traffic(ctx, 100_000)
        bystander.send(5000)
        auth = IOLoopAuthenticator(ctx)
        auth.start()
        watcher = LogWatcher(context=ctx)
        watcher.bind("tcp://127.0.0.1:*")
        monitor = SocketMonitor(bystander.rx)
        monitor.on_event(lambda event: None)
        router, dealer = stuck_pair(ctx, "closed-loop-stream")
        stream = ZMQStream(dealer, queue_hwm=20)
        for i in range(20):
            stream.send(b"%d" % i)
        f_router, f_dealer = stuck_pair(ctx, "closed-loop-future")
        sender = tzmq.Socket.from_socket(f_dealer)
        lonely = ctx.socket(zmq.PULL)
        lonely.bind("inproc://closed-loop-nobody")
        sends = [sender.send(b"%d" % i) for i in range(5)]
        pending = [stream.drain(), lonely.recv_multipart(), lonely.poll(10_000), sends[-1]]
        for future in pending:
            assert not future.done()
            future.add_done_callback(woken.append)  # as an awaiting coroutine would
        kept.update(locals())
        await bystander.checker.wait(1000)  # stop mid-flow: the rest is in flight

    try:
        loop.run_sync(start, timeout=10)
        loop.close(all_fds=all_fds)
        FIGURES.fault(f"IOLoop stopped and {'closed with all_fds' if all_fds else 'closed'}")
        bystander, stream = kept["bystander"], kept["stream"]
        watched = [
            bystander.tx.socket,
            bystander.rx.socket,
            kept["auth"].zap_socket,
            stream.socket,
            kept["sender"],
            kept["lonely"],
        ]
        assert (
            all(sock.closed for sock in watched)
            if all_fds
            else not any(sock.closed for sock in watched)
        )
        drain, recv, poll, send = kept["pending"]
        # Closing a future socket cancels its calls: all_fds did it, or its owner will.
        assert [f.done() for f in (drain, recv, poll, send)] == [False] + [all_fds] * 3
        # Owners close what they own, with no loop running any more.
        for close in (
            bystander.tx.close,
            bystander.rx.close,
            stream.close,
            kept["monitor"].close,
            kept["auth"].stop,
            kept["watcher"].close,
            kept["sender"].close,
            kept["lonely"].close,
            kept["router"].close,
            kept["f_router"].close,
        ):
            close()
        assert isinstance(drain.exception(), tzmq.StreamClosedError)
        assert recv.cancelled() and poll.cancelled() and send.cancelled()
        assert woken == []  # no loop to run their callbacks, and no error for it
        assert _term_within(ctx)
    finally:
        if not ctx.closed:
            ctx.destroy(linger=0)
        if not loop.asyncio_loop.is_closed():  # type: ignore[attr-defined]
            loop.close(all_fds=True)
    complaints.assert_clean(UNSENT)
