"""The send queue of one `ZMQStream`: direct sends, queued messages, water marks.

Owns the rule "a send with an empty queue goes straight to libzmq; only a
refusal (``EAGAIN``, or ``EFSM`` from a REQ/REP state machine) queues it",
the order of queued messages, their accounting (messages and payload bytes),
the optional high/low water marks and ``drain()`` futures, the only loop that
hands queued messages to libzmq, the send callbacks, what happens to queued
messages at close, and the stream's figures for all of that
(`tzmq.stream.stats`: messages and bytes out, sends that waited, the peak
depth, send callbacks that raised). Frames arrive already validated
(`tzmq.stream._frames`); they cross into libzmq through `tzmq.stream._wire`.

A queued entry is a ``bytes`` object (one frame, default options, no
callback: the common case, stored with no wrapper so a deep queue costs
little beyond its payload), a ``list`` of ``bytes`` (a multipart message with
default options and no callback, likewise unwrapped) or a `Pending` record.
Only `SendQueue.push` makes entries and only `_transmit`/`_message_of` read
them.

Messages sent from other threads wait first in an `Inbox`, which the loop
empties into the queue; the inbox counts against the same high marks, so a
bound holds whichever thread sends.

Thread-safety: `SendQueue` is IOLoop thread only. `Inbox.put` is safe from
any thread; the rest of `Inbox` runs on the IOLoop thread.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from collections import deque
from collections.abc import Callable, Sequence
from time import monotonic
from typing import Any

import zmq
from tornado.concurrent import Future, future_set_exception_unless_cancelled
from tornado.ioloop import IOLoop

from . import _frames
from ._callbacks import run_callback
from ._watch import SocketWatch
from ._wire import NOBLOCK, REFUSED, SNDMORE, SOCKET_GONE, direct_send, send_message
from .stats import Counters

__all__ = ["Inbox", "Pending", "SendCallback", "SendQueue", "SendQueueFull"]

_log = logging.getLogger("tzmq.stream")

SendCallback = Callable[[list[Any], Any], Any]

PRODUCER_CHUNK = 256
"""A bounded queue filled from a tight loop hands libzmq what it takes every this many sends."""


class SendQueueFull(zmq.Again):
    """A send found the stream's bounded send queue at its high water mark.

    A subclass of `zmq.Again`, so code written for non-blocking sends already
    handles it. Nothing was queued; ``await stream.drain()`` and send again.
    """

    def __init__(self, messages: int, nbytes: int) -> None:
        super().__init__()
        self.messages = messages
        self.nbytes = nbytes

    def __str__(self) -> str:
        return (
            f"send queue is full ({self.messages} messages, {self.nbytes} bytes queued); "
            "await stream.drain() before sending more"
        )


class Pending:
    """A queued message that is not plain frames with default options."""

    __slots__ = ("callback", "copy", "flags", "kwargs", "parts", "size", "track")

    def __init__(
        self,
        parts: Sequence[Any],
        flags: int,
        copy: bool,
        track: bool,
        callback: SendCallback | None,
        kwargs: dict[str, Any] | None,
    ) -> None:
        self.parts = parts
        self.flags = flags
        self.copy = copy
        self.track = track
        self.callback = callback
        self.kwargs = kwargs
        self.size = _frames.nbytes(parts)


Entry = bytes | list[bytes] | Pending


def _size(entry: Entry) -> int:
    if type(entry) is bytes:
        return len(entry)
    if type(entry) is list:
        return _frames.nbytes(entry)
    assert isinstance(entry, Pending)
    return entry.size


def _message_of(entry: Entry) -> tuple[list[Any], SendCallback | None]:
    """The frames and the per-send callback of ``entry``, for reporting."""
    if type(entry) is bytes:
        return [entry], None
    if type(entry) is list:
        return list(entry), None
    assert isinstance(entry, Pending)
    return list(entry.parts), entry.callback


class SendQueue:
    """Sends for one socket, in order, never blocking the loop, with optional bounds."""

    __slots__ = (
        "_aio_loop",
        "_counters",
        "_drain_bytes",
        "_drain_count",
        "_io_loop",
        "_notices",
        "_on_backlog",
        "_send",
        "_socket",
        "_waiters",
        "_watch",
        "blocked",
        "entries",
        "high",
        "high_bytes",
        "low",
        "low_bytes",
        "nbytes",
        "send_callback",
        "unbounded",
    )

    def __init__(
        self,
        socket: zmq.Socket[Any],
        io_loop: IOLoop,
        watch: SocketWatch,
        on_backlog: Callable[[], None],
        counters: Counters,
    ) -> None:
        """``watch`` is told when libzmq took a message outside its pass;
        ``on_backlog`` is called when the queue turns non-empty or empty;
        ``counters`` are the stream's, for the figures this queue keeps."""
        self._socket = socket
        self._send = direct_send(socket)
        self._io_loop = io_loop
        self._aio_loop: asyncio.AbstractEventLoop = io_loop.asyncio_loop  # type: ignore[attr-defined]
        self._on_backlog = on_backlog
        self._watch = watch
        # Never replaced, only mutated.
        self.entries: deque[Entry] = deque()
        self.nbytes = 0
        self.send_callback: SendCallback | None = None
        self.blocked = False
        """The last `send_queued` stopped because libzmq refused a message."""
        self._notices: list[tuple[list[Any], Any, SendCallback | None]] = []
        self.high = self.high_bytes = self.low = self.low_bytes = 0
        self.unbounded = True
        self._drain_count = self._drain_bytes = 0
        self._waiters: list[Future[None]] = []
        self._counters = counters
        counters.queue = self.entries

    def __len__(self) -> int:
        return len(self.entries)

    # -- water marks -------------------------------------------------------------

    def set_limits(
        self,
        high: int | None = None,
        high_bytes: int | None = None,
        low: int | None = None,
        low_bytes: int | None = None,
    ) -> None:
        """Set the water marks; ``None`` for a high mark means unbounded.

        A low mark defaults to half its high mark. ``drain()`` waits on the
        kinds of mark that are set (messages, bytes, or both); with no mark at
        all, for an empty queue. Invalid marks raise and change nothing.
        """
        for name, value in (
            ("high", high),
            ("high_bytes", high_bytes),
            ("low", low),
            ("low_bytes", low_bytes),
        ):
            if value is not None and (not isinstance(value, int) or value < 0):
                raise ValueError(f"queue {name} mark must be a non-negative int, not {value!r}")
        if high is not None and high < 1:
            raise ValueError("queue high mark must be at least 1 message")
        if high_bytes is not None and high_bytes < 1:
            raise ValueError("queue high_bytes mark must be at least 1 byte")
        new_high = high or 0
        new_high_bytes = high_bytes or 0
        new_low = (new_high // 2) if low is None else low
        new_low_bytes = (new_high_bytes // 2) if low_bytes is None else low_bytes
        if new_high and new_low >= new_high:
            raise ValueError(f"queue low mark {new_low} must be below its high mark {new_high}")
        if new_high_bytes and new_low_bytes >= new_high_bytes:
            raise ValueError(
                f"queue low_bytes mark {new_low_bytes} must be below high_bytes {new_high_bytes}"
            )
        self.high, self.high_bytes = new_high, new_high_bytes
        self.unbounded = not (new_high or new_high_bytes)
        self.low, self.low_bytes = new_low, new_low_bytes
        by_count = high is not None or low is not None
        by_bytes = high_bytes is not None or low_bytes is not None
        # A kind of mark that is not set must not hold drain() back: with only
        # a message bound, queued bytes do not matter, and the other way round.
        self._drain_count = new_low if by_count or not by_bytes else sys.maxsize
        self._drain_bytes = new_low_bytes if by_bytes or not by_count else sys.maxsize
        self._wake_drainers()

    def check_room(self, more: int = 0, more_bytes: int = 0) -> None:
        """Raise `SendQueueFull` if one more message would pass a high mark.

        ``more``/``more_bytes`` count messages accepted but not queued yet
        (an `Inbox`'s).
        """
        messages = len(self.entries) + more
        nbytes = self.nbytes + more_bytes
        if (self.high and messages >= self.high) or (self.high_bytes and nbytes >= self.high_bytes):
            raise SendQueueFull(messages, nbytes)

    def below_low(self) -> bool:
        return len(self.entries) <= self._drain_count and self.nbytes <= self._drain_bytes

    def drain(self) -> Future[None]:
        """A future that resolves once the queue is at or below its low marks."""
        future: Future[None] = Future()
        if self.below_low():
            future.set_result(None)
        else:
            self._waiters.append(future)
        return future

    def _wake_drainers(self) -> None:
        if not self._waiters or not self.below_low():
            return
        waiters, self._waiters = self._waiters, []
        for future in waiters:
            _settle(future, None)

    # -- sending -----------------------------------------------------------------

    def send(
        self,
        parts: Sequence[Any],
        flags: int = 0,
        copy: bool = True,
        track: bool = False,
        callback: SendCallback | None = None,
        kwargs: dict[str, Any] | None = None,
    ) -> None:
        """Send at once if nothing is queued and libzmq takes it, else queue.

        Errors other than a refusal (EHOSTUNREACH, a socket gone, ...) raise
        to the caller, with nothing queued; so does `SendQueueFull`.
        """
        if not self.entries:
            try:
                status = send_message(self._socket, self._send, parts, flags, copy, track, kwargs)
            except zmq.ZMQError as error:
                if error.errno not in REFUSED:
                    raise
            else:
                if self._counters.traffic:
                    self._count_sent(parts, flags)
                watch = self._watch
                if callback or self.send_callback or (watch.interest and not watch.in_pass):
                    self._sent_directly(parts, status, callback)
                return
        self.push(parts, flags, copy, track, callback, kwargs)

    def send_frame(self, data: bytes) -> None:
        """`send` of one ``bytes`` frame with default options: a producer's commonest call."""
        if not self.entries:
            try:
                self._send(data, NOBLOCK)
            except zmq.ZMQError as error:
                if error.errno not in REFUSED:
                    raise
            else:
                if self._counters.traffic:
                    counters = self._counters
                    counters.messages_out += 1
                    counters.bytes_out += len(data)
                watch = self._watch
                if self.send_callback or (watch.interest and not watch.in_pass):
                    self._sent_directly((data,), None, None)
                return
        self.push((data,))

    def _count_sent(self, parts: Sequence[Any], flags: int) -> None:
        """Count a message libzmq took at once (only frames, if more of it follow)."""
        counters = self._counters
        if not flags & SNDMORE:
            counters.messages_out += 1
        counters.bytes_out += _frames.nbytes(parts)

    def _sent_directly(
        self, parts: Sequence[Any], status: Any, callback: SendCallback | None
    ) -> None:
        """After libzmq took a message at once: re-check readiness, schedule its callbacks."""
        # Outside the watch's pass (a timer, a coroutine, another stream's
        # callback), while anything is wanted: the send may have eaten the
        # FD's edge of a message that just arrived.
        self._watch.recheck()
        if callback is not None or self.send_callback is not None:
            self._notify_sent(list(parts), status, callback)

    def push(
        self,
        parts: Sequence[Any],
        flags: int = 0,
        copy: bool = True,
        track: bool = False,
        callback: SendCallback | None = None,
        kwargs: dict[str, Any] | None = None,
    ) -> None:
        """Queue a message (room checked) behind those already waiting."""
        self.check_room()
        entry: Entry
        if not flags and copy and not track and callback is None and kwargs is None:
            if len(parts) == 1 and type(parts[0]) is bytes:
                entry = parts[0]
            elif _frames.all_bytes(parts):
                # Its own list: the caller may reuse theirs once send() returns.
                entry = list(parts)
            else:
                entry = Pending(_frames.snapshot(parts), flags, copy, track, callback, kwargs)
        else:
            # The caller may reuse its list (and its buffers, unless copy=False) at once.
            frames = list(parts) if copy is False else _frames.snapshot(parts)
            entry = Pending(frames, flags, copy, track, callback, kwargs)
        self.put(entry)
        queued = len(self.entries)
        if not queued % PRODUCER_CHUNK and not self.unbounded and self.send_callback is None:
            # A producer in a tight loop never lets the loop drain the queue:
            # hand libzmq what it takes now, so a bounded queue fills only as
            # fast as the peer falls behind.
            self.send_queued(queued)

    def put(self, entry: Entry) -> None:
        """Queue an entry already accepted (no room check): a handed-in message."""
        entries = self.entries
        entries.append(entry)
        self.nbytes += _size(entry)
        depth = len(entries)
        self._counters.waited(depth)
        if depth == 1:
            self._on_backlog()

    def send_accepted(self, entry: Pending) -> bool:
        """Send or queue a message accepted earlier (an `Inbox`'s: its room was checked then).

        Errors can only be reported now. Returns False, with the message
        queued, when the socket has gone away: the stream must close.
        """
        if not self.entries:
            try:
                status = self._transmit(entry)
            except zmq.ZMQError as error:
                if error.errno in SOCKET_GONE:
                    self.put(entry)
                    return False
                if error.errno not in REFUSED:
                    self.report_error(list(entry.parts), error, entry.callback)
                    return True
            else:
                if self._counters.traffic:
                    self._count_sent(entry.parts, entry.flags)
                self._sent_directly(entry.parts, status, entry.callback)
                return True
        self.put(entry)
        return True

    def _transmit(self, entry: Entry) -> Any:
        if type(entry) is bytes:
            return self._send(entry, NOBLOCK)
        if type(entry) is list:
            return send_message(self._socket, self._send, entry)
        assert isinstance(entry, Pending)
        return send_message(
            self._socket,
            self._send,
            entry.parts,
            entry.flags,
            entry.copy,
            entry.track,
            entry.kwargs,
        )

    def send_queued(self, limit: int, until: float = 0.0) -> int:
        """Hand queued messages to libzmq until a refusal, an empty queue or the budget.

        The budget is ``limit`` messages. With ``until`` (a `time.monotonic`
        deadline), a chunk of ``limit`` messages that ran no callback is
        followed by another while time remains: such sends cost libzmq's work
        alone, and a count sized for callbacks would yield to the loop far too
        often. Returns how many left the queue; `blocked` tells whether libzmq
        refused one. A message libzmq refuses for good (EHOSTUNREACH, ...) is
        reported to its callbacks and dropped; a socket that is gone raises,
        leaving the queue whole for ``close()`` to count.
        """
        self.blocked = False
        if self._notices:
            # Messages that went out directly earlier are reported first, so
            # send callbacks always run in send order.
            self.run_notices()
        entries = self.entries
        sent = 0
        chunk_end = limit
        reported = False
        counters = self._counters
        traffic = counters.traffic
        queued_bytes = self.nbytes
        # Left the queue but are no whole message out: failed, or frames sent with SNDMORE.
        uncounted = uncounted_bytes = 0
        try:
            while entries:
                if sent >= chunk_end:
                    if not until or reported or monotonic() >= until:
                        break
                    chunk_end += limit
                entry = entries[0]
                try:
                    status = self._transmit(entry)
                except zmq.ZMQError as error:
                    if error.errno in REFUSED:
                        self.blocked = True
                        break
                    if error.errno in SOCKET_GONE:
                        raise  # the stream closes: the queue is counted, not failed one by one
                    _log.error("ZMQStream send failed: %s", error)
                    status = error
                    uncounted += 1
                    uncounted_bytes += _size(entry)
                entries.popleft()
                self.nbytes -= _size(entry)
                sent += 1
                if type(entry) is Pending or self.send_callback is not None or status is not None:
                    if (
                        type(entry) is Pending
                        and entry.flags & SNDMORE
                        and not isinstance(status, zmq.ZMQError)
                    ):
                        uncounted += 1
                    msg, callback = _message_of(entry)
                    self._report(msg, status, callback)
                    reported = True
                if self._socket.closed:
                    break
        finally:
            # Also when the socket goes away mid-batch: what libzmq took counts.
            if traffic and sent:
                counters.messages_out += sent - uncounted
                counters.bytes_out += queued_bytes - self.nbytes - uncounted_bytes
        if sent:
            if self._waiters:
                self._wake_drainers()
            if not entries:
                self._on_backlog()
            self._watch.recheck()
        return sent

    # -- send callbacks ------------------------------------------------------------

    def _notify_sent(self, msg: list[Any], status: Any, callback: SendCallback | None) -> None:
        # Callbacks never run inside send(): batch them into one loop callback.
        if not self._notices:
            self._io_loop.add_callback(self.run_notices)
        self._notices.append((msg, status, callback))

    def run_notices(self, limit: int = -1) -> int:
        """Run the send callbacks of messages that went out directly; return how many.

        At most ``limit`` of them (-1: all), oldest first.
        """
        notices = self._notices
        if 0 <= limit < len(notices):
            notices, self._notices = notices[:limit], notices[limit:]
        else:
            self._notices = []
        for msg, status, callback in notices:
            self._report(msg, status, callback)
        return len(notices)

    def _report(self, msg: list[Any], status: Any, callback: SendCallback | None) -> None:
        if callback is not None:
            run_callback(self._aio_loop, self._counters, callback, msg, status)
        if self.send_callback is not None:
            run_callback(self._aio_loop, self._counters, self.send_callback, msg, status)

    def report_error(
        self, msg: list[Any], error: BaseException, callback: SendCallback | None
    ) -> None:
        """A message could not be sent: log it and tell its callbacks."""
        _log.error("ZMQStream send failed: %s", error)
        self._report(msg, error, callback)

    # -- closing -------------------------------------------------------------------

    def close(self, error: BaseException) -> int:
        """Hand what libzmq will take, report the rest with ``error``; return that count."""
        if self.entries and not self._socket.closed:
            try:
                self.send_queued(len(self.entries))
            except zmq.ZMQError as failure:
                _log.debug("ZMQStream could not hand over queued messages: %s", failure)
        unsent = list(self.entries)
        self.entries.clear()
        self.nbytes = 0
        waiters, self._waiters = self._waiters, []
        for future in waiters:
            _settle(future, error)
        if self._notices:
            self.run_notices()
        if unsent:
            _log.warning("ZMQStream closed with %d queued message(s) not sent", len(unsent))
            for entry in unsent:
                msg, callback = _message_of(entry)
                self._report(msg, error, callback)
        return len(unsent)


def _settle(future: Future[None], error: BaseException | None) -> None:
    """Resolve (or fail) a ``drain()`` future, even after its IOLoop was closed.

    A stream closed after ``IOLoop.close()`` still settles its drainers; the
    future takes its state, but asyncio refuses to schedule the callbacks of
    an awaited one on a closed loop, and that refusal must not escape
    ``close()`` (the socket would stay open and ``ctx.term()`` hang).
    """
    try:
        if error is not None:
            future_set_exception_unless_cancelled(future, error)
        elif not future.done():
            future.set_result(None)
    except RuntimeError:
        if not future.get_loop().is_closed():
            raise


class Inbox:
    """Messages handed in by other threads, waiting for the loop to take them.

    `put` runs on any thread: it checks the send queue's high marks (counting
    what already waits here), appends, and calls ``wake`` when the inbox turns
    non-empty, so a burst from a thread costs one hop onto the loop, not one
    per message. `take` and `close` run on the IOLoop thread.
    """

    __slots__ = ("_closed", "_entries", "_lock", "_nbytes", "_queue", "_wake")

    def __init__(self, queue: SendQueue, wake: Callable[[], None]) -> None:
        self._queue = queue
        self._wake = wake
        self._lock = threading.Lock()
        self._entries: deque[Pending] = deque()
        self._nbytes = 0
        self._closed = False

    def put(self, entry: Pending) -> bool:
        """Hand in ``entry``; False once closed.

        Raises `SendQueueFull` when the send queue plus this inbox are at a
        high mark; nothing is handed in then.
        """
        with self._lock:
            if self._closed:
                return False
            self._queue.check_room(len(self._entries), self._nbytes)
            self._entries.append(entry)
            self._nbytes += entry.size
            first = len(self._entries) == 1
        if first:
            self._wake()
        return True

    def take(self) -> Pending | None:
        """The oldest entry, or None when empty."""
        with self._lock:
            if not self._entries:
                return None
            entry = self._entries.popleft()
            self._nbytes -= entry.size
            return entry

    def close(self) -> list[Pending]:
        """Refuse further entries; return those still waiting, oldest first."""
        with self._lock:
            self._closed = True
            waiting = list(self._entries)
            self._entries.clear()
            self._nbytes = 0
        return waiting
