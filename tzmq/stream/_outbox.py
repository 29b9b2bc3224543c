"""The sending half of a ZMQStream: direct sends, the send queue, send callbacks.

Owns the rule "a send with an empty queue goes straight to libzmq with
NOBLOCK; only EAGAIN queues it", the order of queued messages, the per-send
and stream-wide send callbacks, and what happens to queued messages at close.
Frames arrive here already validated (`tzmq.stream._frames`).

Thread-safety: IOLoop thread only; the stream hops calls from other threads.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from time import monotonic
from typing import Any

import zmq
from tornado.ioloop import IOLoop

from . import _frames
from ._callbacks import run_callback
from ._sendqueue import Pending, SendQueue, SendQueueFull

__all__ = ["SOCKET_GONE", "Outbox", "SendCallback"]

_log = logging.getLogger("tzmq.stream")

_NOBLOCK = int(zmq.NOBLOCK)
_SNDMORE = int(zmq.SNDMORE)
_NOBLOCK_MORE = _NOBLOCK | _SNDMORE
_PLAIN_OPTIONS = (0, True, False, None)  # flags, copy, track, kwargs of a plain entry

SOCKET_GONE = (zmq.ENOTSOCK, zmq.ETERM)
"""errnos of a socket closed behind the stream's back or whose context ended."""

SendCallback = Callable[[list[Any], Any], Any]


class Outbox:
    """Sends for one socket, in order, never blocking the loop."""

    __slots__ = (
        "_aio_loop",
        "_io_loop",
        "_notices",
        "_on_backlog",
        "_socket",
        "blocked",
        "direct_send",
        "queue",
        "send_callback",
    )

    def __init__(
        self,
        socket: zmq.Socket[Any],
        io_loop: IOLoop,
        queue: SendQueue,
        on_backlog: Callable[[], None],
    ) -> None:
        """``on_backlog`` is called when the queue turns non-empty or empty."""
        self._socket = socket
        self.direct_send = _frames.direct_send(socket)
        self._io_loop = io_loop
        self._aio_loop: asyncio.AbstractEventLoop = io_loop.asyncio_loop  # type: ignore[attr-defined]
        self.queue = queue
        self.send_callback: SendCallback | None = None
        self.blocked = False
        """The last `send_queued` stopped because libzmq refused a message (EAGAIN)."""
        self._notices: list[tuple[list[Any], Any, SendCallback | None]] = []
        self._on_backlog = on_backlog

    def send(
        self,
        parts: Sequence[Any],
        flags: int,
        copy: bool,
        track: bool,
        callback: SendCallback | None,
        kwargs: dict[str, Any] | None,
        single: Any,
    ) -> None:
        """Send at once if the queue is empty and libzmq takes it, else queue.

        ``single`` is the lone frame of a one-frame message (or None): a lone
        ``bytes`` with default options is queued as itself, with no wrapper.
        Errors other than EAGAIN (EFSM, EHOSTUNREACH, ...) raise to the caller.
        """
        queue = self.queue
        if not queue.entries:
            try:
                status = self.send_now(parts, flags, copy, track, kwargs)
            except zmq.Again:
                pass
            else:
                if callback is not None or self.send_callback is not None:
                    self._notify_sent(list(parts), status, callback)
                return
        self.queue_message(parts, flags, copy, track, callback, kwargs, single)

    def queue_message(
        self,
        parts: Sequence[Any],
        flags: int,
        copy: bool,
        track: bool,
        callback: SendCallback | None,
        kwargs: dict[str, Any] | None,
        single: Any,
    ) -> None:
        """Queue a message libzmq refused (or that must wait behind others)."""
        queue = self.queue
        queue.check_room()
        plain = not flags and callback is None and kwargs is None and not track and copy
        if plain and type(single) is bytes:
            queue.push(single, len(single))
        elif plain and _frames.all_bytes(parts):
            # Its own list: the caller may reuse theirs once send() returns.
            queue.push(list(parts), _frames.nbytes(parts))
        else:
            self.enqueue(  # which tells the stream when the queue turns non-empty
                Pending(
                    # The caller may reuse its list once send() returns.
                    list(parts) if copy is False else _frames.snapshot(parts),
                    flags,
                    copy,
                    track,
                    callback,
                    kwargs,
                )
            )
            return
        if len(queue.entries) == 1:
            self._on_backlog()

    def send_bytes(self, data: bytes) -> None:
        """`send` for the common case: one ``bytes`` frame, default flags, no callback."""
        queue = self.queue
        entries = queue.entries
        if not entries:
            try:
                self.direct_send(data, _NOBLOCK)
            except zmq.Again:
                pass
            else:
                if self.send_callback is not None:
                    self._notify_sent([data], None, None)
                return
        self.queue_bytes(data)

    def queue_bytes(self, data: bytes) -> None:
        """Queue one ``bytes`` frame with default options (libzmq refused it)."""
        queue = self.queue
        entries = queue.entries
        queue.check_room()
        entries.append(data)
        queue.nbytes += len(data)
        queued = len(entries)
        if queued == 1:
            self._on_backlog()
        elif not queued & 255 and self.send_callback is None:
            # A producer in a tight loop never lets the loop drain the queue:
            # every 256 messages, hand libzmq what it takes now, so a bounded
            # queue fills only as fast as the peer falls behind. (An unbounded
            # one skips this: ZMQStream.send appends to it directly, and a
            # tight loop finishes sooner queuing everything, then draining.)
            self.send_queued(queued)

    def send_handed_in(self, entry: Pending) -> bool:
        """Send or queue a message another thread handed in (its room was checked there).

        Errors can only be reported now. Returns False, with the message
        queued, when the socket has gone away: the stream must close.
        """
        if self.queue.entries:
            self.enqueue(entry)
            return True
        try:
            self.send(
                entry.parts,
                entry.flags,
                entry.copy,
                entry.track,
                entry.callback,
                entry.kwargs,
                None,
            )
        except SendQueueFull:
            self.enqueue(entry)
        except zmq.ZMQError as error:
            if error.errno in SOCKET_GONE:
                self.enqueue(entry)
                return False
            self.report_error(list(entry.parts), error, entry.callback)
        return True

    def enqueue(self, entry: Pending) -> None:
        """Queue ``entry`` with no room check (a message already accepted)."""
        self.queue.push(entry, _frames.nbytes(entry.parts))
        if len(self.queue.entries) == 1:
            self._on_backlog()

    def send_now(
        self,
        parts: Sequence[Any],
        flags: int,
        copy: bool,
        track: bool,
        kwargs: dict[str, Any] | None,
    ) -> Any:
        """Hand a message to libzmq without blocking; raise zmq.Again if it won't.

        Only the first frame can meet EAGAIN: once libzmq accepts the first
        frame of a message it accepts the rest.
        """
        if kwargs is not None:
            return self._socket.send_multipart(
                parts, flags | _NOBLOCK, copy=copy, track=track, **kwargs
            )
        send = self.direct_send
        last = len(parts) - 1
        if last == 0:
            if copy and not track:
                return send(parts[0], flags | _NOBLOCK)
            return send(parts[0], flags | _NOBLOCK, copy=copy, track=track)
        more = flags | _NOBLOCK | _SNDMORE
        for index in range(last):
            send(parts[index], more, copy=copy, track=track)
        return send(parts[last], flags | _NOBLOCK, copy=copy, track=track)

    def _notify_sent(self, msg: list[Any], status: Any, callback: SendCallback | None) -> None:
        # Callbacks never run inside send(): batch them into one loop callback.
        if not self._notices:
            self._io_loop.add_callback(self.run_notices)
        self._notices.append((msg, status, callback))

    def run_notices(self) -> None:
        """Run the send callbacks of messages that went out directly."""
        notices, self._notices = self._notices, []
        for msg, status, callback in notices:
            self._report(msg, status, callback)

    def _report(self, msg: list[Any], status: Any, callback: SendCallback | None) -> None:
        if callback is not None:
            run_callback(self._aio_loop, callback, msg, status)
        if self.send_callback is not None:
            run_callback(self._aio_loop, self.send_callback, msg, status)

    def report_error(
        self, msg: list[Any], error: BaseException, callback: SendCallback | None
    ) -> None:
        """A message could not be sent: log it and tell its callbacks."""
        _log.error("ZMQStream send failed: %s", error)
        self._report(msg, error, callback)

    def send_queued(self, limit: int, until: float = 0.0) -> int:
        """Hand queued messages to libzmq until EAGAIN, an empty queue or the budget.

        The budget is ``limit`` messages. With ``until`` (a `time.monotonic`
        deadline), a run of messages with no callback to run is bounded by
        that deadline instead: each costs libzmq's send alone, and a count
        sized for callbacks would yield to the loop every few microseconds.
        Returns how many left the queue; `blocked` tells whether libzmq
        refused one. A message libzmq refuses otherwise is reported to its
        callbacks and dropped; a socket that is gone (`SOCKET_GONE`) raises,
        leaving the queue whole for ``close()`` to count.
        """
        self.blocked = False
        if self._notices:
            # Messages that went out directly earlier are reported first, so
            # send callbacks always run in send order.
            self.run_notices()
        queue = self.queue
        entries = queue.entries
        send = self.direct_send
        plain = count = 0
        if self.send_callback is None:
            plain, spent = self._send_plain_run(limit, until)
            if self.blocked or spent:
                return plain
            if not until:
                count = plain
        while entries and count < limit:
            entry = entries[0]
            if type(entry) is bytes:
                try:
                    status = send(entry, _NOBLOCK)
                except zmq.Again:
                    self.blocked = True
                    break
                except zmq.ZMQError as error:
                    if error.errno in SOCKET_GONE:
                        raise  # the stream closes: the queue is counted, not failed one by one
                    status = error
                    _log.error("ZMQStream send failed: %s", error)
                queue.pop(len(entry))
                count += 1
                if self.send_callback is not None or status is not None:
                    self._report([entry], status, None)
                continue
            if isinstance(entry, Pending):
                parts: Sequence[Any] = entry.parts
                callback = entry.callback
                options = (entry.flags, entry.copy, entry.track, entry.kwargs)
            else:  # a multipart message of plain frames
                parts, callback, options = entry, None, _PLAIN_OPTIONS
            try:
                status = self.send_now(parts, *options)
            except zmq.Again:
                self.blocked = True
                break
            except zmq.ZMQError as error:
                if error.errno in SOCKET_GONE:
                    raise
                status = error
                _log.error("ZMQStream send failed: %s", error)
            queue.pop(_frames.nbytes(parts))
            count += 1
            self._report(list(parts), status, callback)
            if self._socket.closed:
                break
        sent = count if not until else plain + count
        if sent and not entries:
            self._on_backlog()
        return sent

    def _send_plain_run(self, limit: int, until: float) -> tuple[int, bool]:
        """Hand libzmq the run of plain entries at the head of the queue.

        A tight loop for the common case (no callbacks to report): it stops at
        EAGAIN (setting `blocked`), at the budget (see `send_queued`), or at
        anything else (a `Pending` entry, an error), which the general loop in
        `send_queued` then handles. Returns how many it sent, and whether it
        stopped at the deadline.
        """
        entries = self.queue.entries
        send = self.direct_send
        count = sent_bytes = 0
        stop = limit
        spent = False
        try:
            while True:
                while entries and count < stop:
                    entry = entries[0]
                    if type(entry) is bytes:
                        send(entry, _NOBLOCK)
                        sent_bytes += len(entry)
                    elif type(entry) is list:
                        # EAGAIN only on the first frame: libzmq takes the rest
                        # of a message it started.
                        last = len(entry) - 1
                        index = 0
                        while index < last:
                            send(entry[index], _NOBLOCK_MORE)
                            index += 1
                        send(entry[last], _NOBLOCK)
                        sent_bytes += _frames.nbytes(entry)
                    else:
                        break
                    entries.popleft()
                    count += 1
                if count < stop or not until or not entries:
                    break
                # The clock is read once a chunk: it costs as much as a send.
                if monotonic() >= until:
                    spent = True
                    break
                stop += limit
        except zmq.Again:
            self.blocked = True
        except zmq.ZMQError:
            pass  # met again, and reported, by the general loop
        if count:
            self.queue.popped(sent_bytes)
        return count, spent

    def close(self, error: BaseException) -> int:
        """Hand what libzmq will take, report the rest with ``error``; return that count."""
        if self.queue.entries and not self._socket.closed:
            try:
                self.send_queued(len(self.queue))
            except zmq.ZMQError as failure:
                _log.debug("ZMQStream could not hand over queued messages: %s", failure)
        unsent = self.queue.clear()
        self.queue.fail_drainers(error)
        if self._notices:
            self.run_notices()
        if unsent:
            _log.warning("ZMQStream closed with %d queued message(s) not sent", len(unsent))
            for entry in unsent:
                if isinstance(entry, Pending):
                    self._report(list(entry.parts), error, entry.callback)
                elif type(entry) is list:
                    self._report(list(entry), error, None)
                else:
                    self._report([entry], error, None)
        return len(unsent)
