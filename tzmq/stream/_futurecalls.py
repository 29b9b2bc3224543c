"""Pending calls of one future Socket: who waits for what, served in order.

Owns the FIFO queues of pending receives, sends and polls of a future socket,
their deadlines (``RCVTIMEO``/``SNDTIMEO`` read when the call is made),
cancellation, serving them when `tzmq.stream._watch` says the socket is
ready, and the socket's figures (`tzmq.stream.stats`). The rules that keep
messages safe:

* A receive is performed only for a waiter whose future is still pending, and
  its result is set in the same step, so a cancelled or timed-out call never
  consumes a message: the next waiter gets it.
* Deserialising receives (``recv_json``...) decode inside that step and
  report a decode error through their own future: no chained futures, so no
  window in which a message can be dropped between two of them.
* A call completes at once when libzmq can act at once, but at most
  `MAX_BATCH` in a row without the loop turning, so a coroutine reading a
  backlog cannot starve the other handlers.

Cancelled waiters stay in their queue until they reach its head (removing
them eagerly would cost a done-callback per call, and made draining
quadratic in pyzmq); deadlines remove theirs at once.

Thread-safety: IOLoop thread only.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import zmq
from tornado.ioloop import IOLoop

from . import _frames
from ._loopthread import here
from ._watch import EVENTS, IDLE_IN, MORE, POLLIN, POLLOUT, SocketWatch, get_option
from ._wire import NOBLOCK, SNDMORE, SOCKET_GONE, direct_send, recv_message, send_message
from .stats import Counters

__all__ = ["RECV", "RECV_INTO", "RECV_MULTIPART", "FutureCalls"]

_RCVTIMEO = zmq.RCVTIMEO
_SNDTIMEO = zmq.SNDTIMEO
_RCVMORE = zmq.RCVMORE
_Future = asyncio.Future

RECV, RECV_MULTIPART, RECV_INTO = 0, 1, 2


MAX_BATCH = 256
"""Calls completed in a row without the loop turning, and per pass (the batch budget)."""

_SERVED = 4
"""`FutureCalls._serve` completed a call (beside the watch's status bits; never returned to it)."""


class _Recv:
    __slots__ = ("copy", "flags", "future", "kind", "load", "target", "timer", "track")

    def __init__(
        self,
        future: asyncio.Future[Any],
        kind: int,
        flags: int,
        copy: bool,
        track: bool,
        load: Callable[[Any], Any] | None,
        target: tuple[Any, int] | None,
    ) -> None:
        self.future = future
        self.kind = kind
        self.flags = flags
        self.copy = copy
        self.track = track
        self.load = load
        self.target = target
        self.timer: asyncio.TimerHandle | None = None


class _Send:
    # ``data`` is one frame, or a list of frames for a multipart send.
    __slots__ = ("data", "flags", "future", "options", "timer")
    load: ClassVar[None] = None  # sends have nothing to decode (see _serve)

    def __init__(
        self,
        future: asyncio.Future[Any],
        data: Any,
        flags: int,
        options: tuple[bool, bool, dict[str, Any] | None] | None,
    ) -> None:
        self.future = future
        self.data = data
        self.flags = flags
        self.options = options
        self.timer: asyncio.TimerHandle | None = None


class _Poll:
    __slots__ = ("events", "future", "timer")

    def __init__(self, future: asyncio.Future[int], events: int) -> None:
        self.future = future
        self.events = events
        self.timer: asyncio.TimerHandle | None = None


def _settle(
    future: asyncio.Future[Any],
    result: Any,
    load: Callable[[Any], Any] | None,
    counters: Counters,
) -> None:
    if load is not None:
        try:
            result = load(result)
        except Exception as error:
            counters.failed()
            future.set_exception(error)
            return
    future.set_result(result)


def _drop_settled(queue: deque[Any]) -> None:
    """Forget the waiters at the head of ``queue`` that were cancelled: they hold up no call.

    (Those behind a pending one wait for `FutureCalls._serve` to reach them.)
    """
    while queue and queue[0].future.done():
        waiter = queue.popleft()
        if waiter.timer is not None:
            waiter.timer.cancel()


class FutureCalls:
    """The pending calls of one future socket, served on one IOLoop."""

    __slots__ = (
        "_closed",
        "_counters",
        "_hot",
        "_owner",
        "_raw",
        "_raw_recv",
        "_raw_send",
        "_streak",
        "aio_loop",
        "io_loop",
        "polls",
        "recvs",
        "sends",
        "watch",
    )

    def __init__(
        self, owner: zmq.Socket[Any], raw: zmq.Socket[Any], io_loop: IOLoop, counters: Counters
    ) -> None:
        """``owner`` is registered with the loop; ``raw`` (a plain shadow) does the I/O;
        ``counters`` are the socket's, kept across the loops it serves."""
        self._owner = owner
        self._raw = raw
        self._raw_recv = raw.recv
        self._raw_send = direct_send(raw)
        self.io_loop = io_loop
        self.aio_loop: asyncio.AbstractEventLoop = io_loop.asyncio_loop  # type: ignore[attr-defined]
        self.recvs: deque[_Recv] = deque()
        self.sends: deque[_Send] = deque()
        self.polls: list[_Poll] = []
        self._streak = 0
        self._hot = True
        self._closed = False
        self._counters = counters
        counters.queue = self.sends
        self.watch = SocketWatch.get(owner, io_loop)
        self.watch.attach(self)

    def on_loop_thread(self) -> bool:
        """True on the thread running this loop."""
        return here(self.aio_loop)

    @property
    def idle(self) -> bool:
        """True when no call is pending (so the socket may move to another loop)."""
        return not (self.recvs or self.sends or self.polls)

    # -- interest --------------------------------------------------------------

    def _update_interest(self, proven_idle: int = 0) -> None:
        """Tell the watch what we wait for; wake it unless our last op proved it idle.

        ``proven_idle`` holds the events the last socket operation showed not
        ready (EAGAIN on receive: POLLIN). Anything else wanted after touching
        the socket needs a pass, because touching it may have eaten the edge.
        """
        interest = 0
        if self.recvs:
            interest = POLLIN
        if self.sends:
            interest |= POLLOUT
        for poll in self.polls:
            interest |= poll.events
        watch = self.watch
        watch.want(self, interest, proven_idle)
        if watch.interest & ~proven_idle:
            watch.wake()

    # -- receiving -------------------------------------------------------------

    def recv(
        self,
        kind: int,
        flags: int,
        copy: bool,
        track: bool,
        load: Callable[[Any], Any] | None = None,
        target: tuple[Any, int] | None = None,
    ) -> asyncio.Future[Any]:
        """Start a receive; the future completes at once if a message is waiting."""
        future: asyncio.Future[Any] = self.aio_loop.create_future()
        if self._closed:
            future.set_exception(zmq.ZMQError(zmq.ENOTSOCK, "socket is closed"))
            return future
        recvs = self.recvs
        if recvs:
            _drop_settled(recvs)
        if recvs:
            if flags & NOBLOCK:
                future.set_exception(zmq.Again())
                return future
        elif self._streak < MAX_BATCH:
            received = False
            try:
                if self._hot or get_option(self._raw, EVENTS) & POLLIN:
                    if kind == RECV_MULTIPART:
                        result = recv_message(self._raw_recv, copy, flags | NOBLOCK, track)
                        if self._counters.traffic:
                            self._count_in(kind, result)
                    else:
                        result = self._receive(kind, flags, copy, track, target)
                    received = True
            except zmq.Again:
                pass
            except zmq.ZMQError as error:
                future.set_exception(error)
                return future
            if not received:
                self._hot = False
                return self._after_again(future, kind, flags, copy, track, load, target)
            self._hot = True
            self._streak += 1
            if load is None:
                future.set_result(result)
            else:
                _settle(future, result, load, self._counters)
            if self.watch.interest:
                self.watch.recheck()
            return future
        elif flags & NOBLOCK:
            # The streak budget is spent; a DONTWAIT caller still gets an answer now.
            try:
                _settle(
                    future, self._receive(kind, flags, copy, track, target), load, self._counters
                )
            except zmq.ZMQError as error:
                future.set_exception(error)
            return future
        return self._wait_recv(_Recv(future, kind, flags, copy, track, load, target), 0)

    def _after_again(
        self,
        future: asyncio.Future[Any],
        kind: int,
        flags: int,
        copy: bool,
        track: bool,
        load: Callable[[Any], Any] | None,
        target: tuple[Any, int] | None,
    ) -> asyncio.Future[Any]:
        """An immediate receive met EAGAIN: fail a DONTWAIT call, else wait."""
        if flags & NOBLOCK:
            future.set_exception(zmq.Again())
            return future
        # EAGAIN drained the socket's commands: POLLIN is proven idle, no pass needed.
        return self._wait_recv(_Recv(future, kind, flags, copy, track, load, target), POLLIN)

    def _wait_recv(self, waiter: _Recv, proven_idle: int) -> asyncio.Future[Any]:
        timeout = get_option(self._raw, _RCVTIMEO)
        if isinstance(timeout, int) and timeout >= 0:
            waiter.timer = self.aio_loop.call_later(
                timeout / 1000, self._expire, self.recvs, waiter
            )
        self.recvs.append(waiter)
        self._update_interest(proven_idle)
        return waiter.future

    def _receive(
        self, kind: int, flags: int, copy: bool, track: bool, target: tuple[Any, int] | None
    ) -> Any:
        raw = self._raw
        flags |= NOBLOCK
        result: Any
        if kind == RECV_MULTIPART:
            result = recv_message(self._raw_recv, copy, flags, track)
        elif kind == RECV:
            result = raw.recv(flags, copy=copy, track=track)
        else:
            assert target is not None
            result = raw.recv_into(target[0], nbytes=target[1], flags=flags)
        if self._counters.traffic:
            self._count_in(kind, result)
        return result

    def _count_in(self, kind: int, result: Any) -> None:
        """Count a receive: a whole message, or one frame (a message once its last arrived)."""
        counters = self._counters
        if kind == RECV_MULTIPART:
            nbytes = 0
            for part in result:  # bytes, or zmq.Frame: len() is the payload's size
                nbytes += len(part)
            counters.messages_in += 1
            counters.bytes_in += nbytes
            return
        counters.bytes_in += result if kind == RECV_INTO else len(result)
        if not get_option(self._raw, _RCVMORE):
            counters.messages_in += 1

    def _expire(self, queue: deque[Any], waiter: _Recv | _Send) -> None:
        """A call's RCVTIMEO/SNDTIMEO deadline passed: fail it and forget it at once."""
        if waiter.future.done():
            return
        waiter.future.set_exception(zmq.Again())
        try:
            queue.remove(waiter)
        except ValueError:
            return
        self._update_interest(POLLIN | POLLOUT)

    def _serve(
        self,
        queue: deque[Any],
        limit: int,
        perform: Callable[[Any], Any],
        idle_status: int,
    ) -> int:
        """Complete waiters at the head of ``queue`` until EAGAIN, none left or ``limit``.

        Skips (and drops) waiters already cancelled or timed out, so such a
        call never consumes a message. The status holds `_SERVED` when a call
        completed.
        """
        served = 0
        status = 0
        counters = self._counters
        while queue:
            waiter = queue[0]
            if waiter.future.done():
                queue.popleft()
                continue
            if served >= limit:
                status = MORE
                break
            try:
                result = perform(waiter)
            except zmq.Again:
                status = idle_status
                break
            except zmq.ZMQError as error:
                if error.errno in SOCKET_GONE:
                    raise
                queue.popleft()
                waiter.future.set_exception(error)
                continue
            queue.popleft()
            if waiter.timer is not None:
                waiter.timer.cancel()
            _settle(waiter.future, result, waiter.load, counters)
            served += 1
        return (status | _SERVED) if served else status

    def _perform_recv(self, waiter: _Recv) -> Any:
        return self._receive(waiter.kind, waiter.flags, waiter.copy, waiter.track, waiter.target)

    # -- sending ---------------------------------------------------------------

    def send(
        self,
        data: Any,
        flags: int,
        copy: bool,
        track: bool,
        kwargs: dict[str, Any] | None,
    ) -> asyncio.Future[Any]:
        """Start a send of ``data`` (one frame, or a list of frames: multipart)."""
        future: asyncio.Future[Any] = self.aio_loop.create_future()
        if self._closed:
            future.set_exception(zmq.ZMQError(zmq.ENOTSOCK, "socket is closed"))
            return future
        if self.sends:
            _drop_settled(self.sends)
        if not self.sends:
            parts = data if type(data) is list else (data,)
            try:
                result = send_message(self._raw, self._raw_send, parts, flags, copy, track, kwargs)
            except zmq.Again:
                if flags & NOBLOCK:
                    future.set_exception(zmq.Again())
                    return future
            except zmq.ZMQError as error:
                future.set_exception(error)
                return future
            else:
                future.set_result(result)
                if self._counters.traffic:
                    self._count_out(parts, flags)
                if self.watch.interest:
                    self.watch.recheck()
                return future
        elif flags & NOBLOCK:
            future.set_exception(zmq.Again())
            return future
        if copy:
            data = _frames.snapshot(data) if type(data) is list else _frames.snapshot([data])[0]
        elif type(data) is list:
            data = list(data)  # the caller may reuse its list once send returns
        options = None if (copy and not track and kwargs is None) else (copy, track, kwargs)
        return self._queue_send(_Send(future, data, flags, options))

    def send_frame(self, data: bytes) -> asyncio.Future[Any]:
        """`send` of one ``bytes`` frame with default options, on the loop's thread.

        A producer's commonest call, kept to one call from `Socket.send`: the
        general path's option handling is skipped, not its rules.
        """
        if self.sends or self._closed:
            return self.send(data, 0, True, False, None)
        future: asyncio.Future[Any] = self.aio_loop.create_future()
        try:
            self._raw_send(data, NOBLOCK)
        except zmq.Again:
            return self._queue_send(_Send(future, data, 0, None))
        except zmq.ZMQError as error:
            future.set_exception(error)
            return future
        future.set_result(None)
        if self._counters.traffic:
            counters = self._counters
            counters.messages_out += 1
            counters.bytes_out += len(data)
        if self.watch.interest:
            self.watch.recheck()
        return future

    def _count_out(self, parts: Sequence[Any], flags: int) -> None:
        """Count a send libzmq took: its bytes, and a message unless more frames follow."""
        counters = self._counters
        counters.bytes_out += _frames.nbytes(parts)
        if not flags & SNDMORE:
            counters.messages_out += 1

    def _queue_send(self, waiter: _Send) -> asyncio.Future[Any]:
        """Queue a send libzmq refused (or that must wait behind others)."""
        timeout = get_option(self._raw, _SNDTIMEO)
        if isinstance(timeout, int) and timeout >= 0:
            waiter.timer = self.aio_loop.call_later(
                timeout / 1000, self._expire, self.sends, waiter
            )
        sends = self.sends
        sends.append(waiter)
        depth = len(sends)
        self._counters.waited(depth)
        if depth == 1:
            self._update_interest()
        return waiter.future

    def _transmit(
        self, data: Any, flags: int, copy: bool, track: bool, kwargs: dict[str, Any] | None
    ) -> Any:
        """Hand one message (a frame, or a list of frames) to libzmq without blocking."""
        parts = data if type(data) is list else (data,)
        return send_message(self._raw, self._raw_send, parts, flags, copy, track, kwargs)

    def _perform_send(self, waiter: _Send) -> Any:
        if waiter.options is None:
            result = self._transmit(waiter.data, waiter.flags, True, False, None)
        else:
            result = self._transmit(waiter.data, waiter.flags, *waiter.options)
        if self._counters.traffic:
            data = waiter.data
            self._count_out(data if type(data) is list else (data,), waiter.flags)
        return result

    # -- polling ---------------------------------------------------------------

    def poll(self, events: int, timeout: float | None) -> asyncio.Future[int]:
        """A future for the subset of ``events`` ready, or 0 after ``timeout`` seconds."""
        future: asyncio.Future[int] = self.aio_loop.create_future()
        ready = get_option(self._raw, EVENTS) & events
        if ready or timeout == 0:
            future.set_result(ready)
            self.watch.recheck()  # the EVENTS read ate the edge
            return future
        waiter = _Poll(future, events)
        if timeout is not None:
            waiter.timer = self.aio_loop.call_later(timeout, self._expire_poll, waiter)
        self.polls.append(waiter)
        self._update_interest()
        return future

    def _expire_poll(self, waiter: _Poll) -> None:
        if not waiter.future.done():
            waiter.future.set_result(0)
        if waiter in self.polls:
            self.polls.remove(waiter)
            self._update_interest(POLLIN | POLLOUT)

    def _serve_polls(self) -> None:
        ready = get_option(self._raw, EVENTS)
        waiting = []
        for waiter in self.polls:
            if waiter.future.done():
                continue
            if waiter.events & ready:
                if waiter.timer is not None:
                    waiter.timer.cancel()
                waiter.future.set_result(waiter.events & ready)
            else:
                waiting.append(waiter)
        self.polls = waiting

    # -- the watch calls these (see _watch.WatchClient) ------------------------

    def on_ready(self, events: int, bulk: bool) -> int:
        self._streak = 0
        status = 0
        if self.polls:
            self._serve_polls()
        if events & POLLOUT and self.sends:
            status |= self._serve(self.sends, MAX_BATCH, self._perform_send, 0)
        if events & POLLIN and self.recvs:
            limit = MAX_BATCH if bulk else 1
            status |= self._serve(self.recvs, limit, self._perform_recv, IDLE_IN)
        if status & _SERVED:
            self._counters.batches += 1
            status &= ~_SERVED
        if not status & MORE:
            interest = POLLIN if self.recvs else 0
            if self.sends:
                interest |= POLLOUT
            for poll in self.polls:
                interest |= poll.events
            self.watch.want(self, interest)
        return status

    def on_socket_gone(self, error: BaseException) -> None:
        self.fail_all(error)

    # -- ending ----------------------------------------------------------------

    def cancel_all(self) -> None:
        """Cancel every pending call and stop watching (socket closing)."""
        self._end(None)

    def fail_all(self, error: BaseException) -> None:
        """Fail every pending call with ``error`` and stop watching (socket gone)."""
        self._end(error)

    def _end(self, error: BaseException | None) -> None:
        if self._closed:
            return
        self._closed = True
        if error is not None:
            self._counters.retire()  # the socket is gone
        waiters: list[_Recv | _Send | _Poll] = [*self.recvs, *self.sends, *self.polls]
        self.recvs.clear()
        self.sends.clear()
        self.polls = []
        self.watch.detach(self)
        for waiter in waiters:
            if waiter.timer is not None:
                waiter.timer.cancel()
            if waiter.future.done():
                continue
            try:
                if error is None:
                    waiter.future.cancel()
                else:
                    waiter.future.set_exception(error)
            except RuntimeError:
                # A socket closed after IOLoop.close(): the future is settled, but
                # asyncio cannot schedule an awaiting caller's wake-up on a closed
                # loop. Raising here would leave the socket open and term() hanging.
                if not self.aio_loop.is_closed():
                    raise
