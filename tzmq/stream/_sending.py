"""The sending half of `ZMQStream`'s API, as a base class of it.

Owns ``send``/``send_multipart`` and their encoded forms (``send_string``,
``send_json``, ``send_pyobj``), the explicit thread doors
(``send_threadsafe``, ``send_multipart_threadsafe``), the send queue's
controls (``queue_size``, ``queue_bytes``, ``set_queue_limits``, ``drain``)
and the two hot paths that skip the general one: a lone ``bytes`` frame and
a default-option multipart message sent on the loop's thread with no send
callback. The state it works on (outbox, queue, inbox, loop, socket) is
made by `ZMQStream.__init__`; what happens to a message after it is
accepted belongs to `tzmq.stream._outbox`.

Thread-safety: as `ZMQStream` (see its module): loop thread, except the sends,
which hop from any other thread through the inbox.
"""

from __future__ import annotations

import asyncio
import pickle
from collections import deque
from collections.abc import Callable, Sequence
from threading import get_ident
from typing import TYPE_CHECKING, Any, NoReturn

import zmq
from tornado.concurrent import Future
from tornado.ioloop import IOLoop

from .. import _jsonapi
from . import _frames
from ._errors import StreamClosedError
from ._loopthread import NO_RECORD
from ._outbox import SOCKET_GONE, Outbox, SendCallback
from ._sendqueue import Inbox, Pending, SendQueue

__all__ = ["StreamSending"]

_NOBLOCK = int(zmq.NOBLOCK)
_NOBLOCK_MORE = _NOBLOCK | int(zmq.SNDMORE)


class StreamSending:
    """``send*``, the thread doors and the queue controls of a `ZMQStream`."""

    io_loop: IOLoop
    _aio_loop: asyncio.AbstractEventLoop
    _closing: bool
    _inbox: Inbox
    _on_loop_thread: Callable[[], bool]
    _outbox: Outbox
    _queue: SendQueue
    _thread_record: Any
    _plain_record: Any
    _entries: deque[Any]
    _direct_send: Callable[..., Any]

    if TYPE_CHECKING:

        def close(self, linger: int | None = None) -> int: ...

    def _plain_gate(self) -> None:
        """Open or shut the plain send paths (call after a send callback or closing changes).

        Those paths need the loop's thread, no `on_send` callback and an open
        stream: one attribute, the loop's thread record or a record that
        matches no thread, answers all three with one comparison per send.
        """
        plain = self._outbox.send_callback is None and not self._closing
        self._plain_record = self._thread_record if plain else NO_RECORD

    def _check_closed(self) -> None:
        if self._closing:
            raise StreamClosedError()

    @property
    def queue_size(self) -> int:
        """Messages waiting in the send queue."""
        return len(self._queue.entries)

    @property
    def queue_bytes(self) -> int:
        """Payload bytes waiting in the send queue."""
        return self._queue.nbytes

    def set_queue_limits(
        self,
        hwm: int | None = None,
        hwm_bytes: int | None = None,
        lwm: int | None = None,
        lwm_bytes: int | None = None,
    ) -> None:
        """Bound the send queue (None: unbounded); low marks default to half."""
        self._queue.set_limits(hwm, hwm_bytes, lwm, lwm_bytes)

    def drain(self) -> Future[None]:
        """A future that resolves when the send queue is at or below its low marks.

        With no bound set, that is when the queue is empty. Fails with
        `StreamClosedError` if the stream closes first. Loop thread only.
        """
        self._check_closed()
        return self._queue.drain()

    def send(
        self,
        msg: Any,
        flags: int = 0,
        copy: bool = True,
        track: bool = False,
        callback: SendCallback | None = None,
        routing_id: int | None = None,
        group: str | bytes | None = None,
    ) -> None:
        """Send one frame; see `send_multipart`."""
        if (
            type(msg) is bytes
            and not flags
            and callback is None
            and not track
            and routing_id is None
            and group is None
        ):
            if self._plain_record._thread_id == get_ident():
                # The hottest path of all (a producer's tight loop), kept to one
                # Python call: straight to libzmq, or, behind queued messages,
                # onto an unbounded queue.
                entries = self._entries
                if entries:
                    queue = self._queue
                    if queue.unbounded:
                        entries.append(msg)
                        queue.nbytes += len(msg)
                    else:
                        self._outbox.queue_bytes(msg)
                    return
                try:
                    self._direct_send(msg, _NOBLOCK)
                except zmq.Again:
                    self._outbox.queue_bytes(msg)
                except zmq.ZMQError as error:
                    self._send_failed(error)
                return
            if not self._closing and self._on_loop_thread():
                try:
                    self._outbox.send_bytes(msg)
                except zmq.ZMQError as error:
                    self._send_failed(error)
                return
        _frames.check_frame(msg)
        options = _frames.draft_options(routing_id, group)
        self._send_message([msg], int(flags), copy, track, callback, options, msg)

    def send_multipart(
        self,
        msg: Sequence[Any],
        flags: int = 0,
        copy: bool = True,
        track: bool = False,
        callback: SendCallback | None = None,
        routing_id: int | None = None,
        group: str | bytes | None = None,
    ) -> None:
        """Send a multipart message, at once if libzmq takes it, else queued.

        ``callback(msg, status)``, if given, is called once for this message
        after libzmq has taken it (as is the `on_send` callback). Raises
        ``TypeError``/``ValueError`` for a malformed message,
        `StreamClosedError` on a closed stream and `SendQueueFull` when a
        bounded queue is full; nothing is sent or queued then. ``routing_id``
        and ``group`` are libzmq's DRAFT options (the only keywords
        ``zmq.Socket.send`` takes beyond these), checked at the call.
        """
        parts = _frames.check_message(msg)
        if (
            self._plain_record._thread_id == get_ident()
            and not flags
            and copy is True
            and callback is None
            and not track
            and routing_id is None
            and group is None
        ):
            entries = self._entries
            if entries:
                # Behind queued messages: onto the queue, in order. A producer's
                # tight loop of plain frames appends its own copy of the list
                # (the caller may reuse theirs) to an unbounded queue here.
                queue = self._queue
                if queue.unbounded:
                    size = 0
                    for part in parts:
                        if type(part) is not bytes:
                            break
                        size += len(part)
                    else:
                        entries.append(list(parts))
                        queue.nbytes += size
                        return
                self._outbox.queue_message(parts, 0, True, False, None, None, None)
                return
            # An echo's reply, a request: the other hot path, kept to one call.
            send = self._direct_send
            last = len(parts) - 1
            try:
                index = 0
                while index < last:
                    send(parts[index], _NOBLOCK_MORE)
                    index += 1
                send(parts[last], _NOBLOCK)
            except zmq.Again:
                # Only a first frame meets EAGAIN: libzmq takes the rest of a
                # message it started, so nothing of this one went out.
                self._outbox.queue_message(parts, 0, True, False, None, None, None)
            except zmq.ZMQError as error:
                self._send_failed(error)
            return
        options = _frames.draft_options(routing_id, group)
        self._send_message(parts, int(flags), copy, track, callback, options, None)

    def send_string(
        self,
        u: str,
        flags: int = 0,
        encoding: str = "utf-8",
        callback: SendCallback | None = None,
        routing_id: int | None = None,
        group: str | bytes | None = None,
    ) -> None:
        """Send a str encoded with ``encoding``."""
        if not isinstance(u, str):
            raise TypeError(f"send_string() takes a str, not {type(u).__name__}")
        self._send_encoded(u.encode(encoding), flags, callback, routing_id, group)

    send_unicode = send_string

    def send_json(
        self,
        obj: Any,
        flags: int = 0,
        callback: SendCallback | None = None,
        routing_id: int | None = None,
        group: str | bytes | None = None,
    ) -> None:
        """Send ``obj`` as JSON (simplejson); unencodable objects raise here."""
        self._send_encoded(_jsonapi.dumps(obj), flags, callback, routing_id, group)

    def send_pyobj(
        self,
        obj: Any,
        flags: int = 0,
        protocol: int = pickle.HIGHEST_PROTOCOL,
        callback: SendCallback | None = None,
        routing_id: int | None = None,
        group: str | bytes | None = None,
    ) -> None:
        """Send ``obj`` pickled. Unpickling runs code: use only between trusted peers."""
        self._send_encoded(pickle.dumps(obj, protocol), flags, callback, routing_id, group)

    def _send_encoded(
        self,
        data: bytes,
        flags: int,
        callback: SendCallback | None,
        routing_id: int | None,
        group: str | bytes | None,
    ) -> None:
        options = _frames.draft_options(routing_id, group)
        self._send_message([data], int(flags), True, False, callback, options, data)

    def send_threadsafe(self, msg: Any, flags: int = 0, copy: bool = True) -> None:
        """Send one frame from any thread; see `send_multipart_threadsafe`."""
        _frames.check_frame(msg)
        self._send_message([msg], int(flags), copy, False, None, None, msg)

    def send_multipart_threadsafe(
        self, msg: Sequence[Any], flags: int = 0, copy: bool = True
    ) -> None:
        """Send a message from any thread: validated here, sent on the loop.

        The explicit door for other threads. From another thread the message
        is checked (bad input, a closed stream, a full bounded queue raise
        here), its mutable frames are copied so the caller may reuse its
        buffers at once, and it hops onto the loop; the socket is never
        touched from the calling thread. On the loop thread it is the same as
        `send_multipart`, so it keeps its place among the loop's own sends.
        """
        parts = _frames.check_message(msg)
        self._send_message(parts, int(flags), copy, False, None, None, None)

    def _send_message(
        self,
        parts: Sequence[Any],
        flags: int,
        copy: bool,
        track: bool,
        callback: SendCallback | None,
        kwargs: dict[str, Any] | None,
        single: Any,
    ) -> None:
        if self._closing:
            raise StreamClosedError("cannot send on a closed ZMQStream")
        if callback is not None and not callable(callback):
            raise TypeError(f"send callback must be callable, not {type(callback).__name__}")
        if self._on_loop_thread():
            try:
                self._outbox.send(parts, flags, copy, track, callback, kwargs, single)
            except zmq.ZMQError as error:
                self._send_failed(error)
            return
        copied = _frames.snapshot(parts)
        entry = Pending(copied, flags, copy, track, callback, kwargs)
        if not self._inbox.put(entry, _frames.nbytes(copied)):
            raise StreamClosedError("cannot send on a closed ZMQStream")

    def _send_failed(self, error: zmq.ZMQError) -> NoReturn:
        try:
            if error.errno in SOCKET_GONE:
                # Closed behind our back, or its context terminated.
                self.close()
                raise StreamClosedError(f"the stream's socket is gone ({error})") from error
            raise error
        finally:
            # The traceback holds this frame: without this, error -> traceback ->
            # frame -> error is a cycle, and every SendQueueFull (with the frames
            # and the refused message it pins) waits for the cyclic GC.
            del error

    def _take_inbox(self) -> None:
        """Send, in order, what other threads handed in (on the loop thread)."""
        take, send = self._inbox.take, self._outbox.send_handed_in
        while (entry := take()) is not None:
            if not send(entry):
                self.close()  # the socket went away: close() counts the entry
