"""The queue of messages waiting for a socket to accept them, with water marks.

Owns ordering, size accounting (messages and payload bytes), the optional
high/low water marks, and the futures returned by ``drain()``. It never touches
a socket: the stream pops entries when libzmq takes them.

An entry is a ``bytes`` object (one frame, default flags, no callback: the
common case, stored with no wrapper so 200k queued messages cost little
beyond their payload), a ``list`` of ``bytes`` (a multipart message with
default options and no callback, likewise unwrapped) or a `Pending` record.

Messages sent from other threads wait first in an `Inbox`, which the loop
empties into the stream; the inbox counts against the same high marks, so a
bound holds whichever thread sends.

Thread-safety: `SendQueue` is IOLoop thread only. `Inbox.put` is safe from
any thread; the rest of `Inbox` runs on the IOLoop thread.
"""

from __future__ import annotations

import sys
import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import zmq
from tornado.concurrent import Future, future_set_exception_unless_cancelled

__all__ = ["Inbox", "Pending", "SendQueue", "SendQueueFull"]


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
    """A queued message that is not a lone ``bytes`` frame with default options."""

    __slots__ = ("callback", "copy", "flags", "kwargs", "parts", "track")

    def __init__(
        self,
        parts: Sequence[Any],
        flags: int,
        copy: bool,
        track: bool,
        callback: Callable[..., Any] | None,
        kwargs: dict[str, Any] | None,
    ) -> None:
        self.parts = parts
        self.flags = flags
        self.copy = copy
        self.track = track
        self.callback = callback
        self.kwargs = kwargs


Entry = bytes | list[bytes] | Pending


class SendQueue:
    """FIFO of `Entry` with message and byte counts and optional water marks."""

    __slots__ = (
        "_drain_bytes",
        "_drain_count",
        "_waiters",
        "entries",
        "high",
        "high_bytes",
        "low",
        "low_bytes",
        "nbytes",
        "unbounded",
    )

    def __init__(
        self,
        high: int | None = None,
        high_bytes: int | None = None,
        low: int | None = None,
        low_bytes: int | None = None,
    ) -> None:
        # Never replaced, only mutated: the stream's send fast path holds it.
        self.entries: deque[Entry] = deque()
        self.nbytes = 0
        self.high = self.high_bytes = self.low = self.low_bytes = 0
        self.unbounded = True
        self._drain_count = self._drain_bytes = 0
        self._waiters: list[Future[None]] = []
        self.set_limits(high, high_bytes, low, low_bytes)

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

    def __len__(self) -> int:
        return len(self.entries)

    def check_room(self, more: int = 0, more_bytes: int = 0) -> None:
        """Raise `SendQueueFull` if one more message would pass a high mark.

        ``more``/``more_bytes`` count messages accepted but not queued yet
        (an `Inbox`'s).
        """
        messages = len(self.entries) + more
        nbytes = self.nbytes + more_bytes
        if (self.high and messages >= self.high) or (self.high_bytes and nbytes >= self.high_bytes):
            raise SendQueueFull(messages, nbytes)

    def push(self, entry: Entry, size: int) -> None:
        self.entries.append(entry)
        self.nbytes += size

    def pop(self, size: int) -> None:
        """Drop the head entry once libzmq has taken it (``size`` its bytes)."""
        self.entries.popleft()
        self.popped(size)

    def popped(self, nbytes: int) -> None:
        """Account for head entries the caller removed itself (``nbytes`` in all)."""
        self.nbytes -= nbytes
        if self._waiters and self.below_low():
            self._wake_drainers()

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

    def fail_drainers(self, error: BaseException) -> None:
        waiters, self._waiters = self._waiters, []
        for future in waiters:
            _settle(future, error)

    def clear(self) -> list[Entry]:
        entries = list(self.entries)
        self.entries.clear()
        self.nbytes = 0
        return entries


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
        self._entries: deque[tuple[Pending, int]] = deque()
        self._nbytes = 0
        self._closed = False

    def put(self, entry: Pending, size: int) -> bool:
        """Hand in ``entry`` (``size`` payload bytes); False once closed.

        Raises `SendQueueFull` when the send queue plus this inbox are at a
        high mark; nothing is handed in then.
        """
        with self._lock:
            if self._closed:
                return False
            self._queue.check_room(len(self._entries), self._nbytes)
            self._entries.append((entry, size))
            self._nbytes += size
            first = len(self._entries) == 1
        if first:
            self._wake()
        return True

    def take(self) -> Pending | None:
        """The oldest entry, or None when empty."""
        with self._lock:
            if not self._entries:
                return None
            entry, size = self._entries.popleft()
            self._nbytes -= size
            return entry

    def close(self) -> list[tuple[Pending, int]]:
        """Refuse further entries; return those still waiting, oldest first."""
        with self._lock:
            self._closed = True
            waiting = list(self._entries)
            self._entries.clear()
            self._nbytes = 0
        return waiting
