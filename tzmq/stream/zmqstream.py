"""ZMQStream: a zmq socket driven by callbacks on a Tornado IOLoop.

Owns the callback API of one socket: ``on_recv``/``on_send``, the ``send*``
methods and their thread doors, ``flush``, ``close``, the receive loop that
feeds the callbacks, and the figures of what it receives and dispatches
(`tzmq.stream.stats`: messages and bytes in, batches, receive and close
callbacks that raised). What happens to a message after a send accepts it
belongs to `tzmq.stream._sendqueue`; readiness comes from
`tzmq.stream._watch`, which owns the FD; messages cross into libzmq through
`tzmq.stream._wire`.

Drop-in for ``zmq.eventloop.zmqstream.ZMQStream`` (same names and signatures),
with these differences, all on purpose:

* Receiving drains up to ``max_batch`` messages per wake-up (and at most
  ``max_batch_time``), then yields to the loop and comes back: pyzmq handles
  one message per loop iteration. A send with an empty queue goes straight to
  libzmq with ``NOBLOCK``; only a refusal queues it: ``EAGAIN``, or
  ``EFSM`` from a REQ/REP socket whose turn it is not (sent when the socket
  can take it, as pyzmq's stream does). Queued sends go out the same way,
  except that those with no callback to run (most) count against
  ``max_batch_time`` alone.
* A callback that raises is logged once on the ``tzmq.stream`` logger and the
  following messages are still delivered.
* The send queue can be bounded (``queue_hwm``/``queue_hwm_bytes``): a send
  over the mark raises `SendQueueFull` (a `zmq.Again`) and queues nothing;
  ``await stream.drain()`` waits for room.
* ``callback=`` given to one send applies to that send only.
* ``close()`` hands queued messages to libzmq (so ``LINGER`` applies) and
  reports any it could not, with a count, to their callbacks and the log.
* Bad input (a frame that is not bytes-like, an object JSON cannot encode, a
  closed stream) raises at the call, before anything is queued.

Thread-safety: every method runs on the stream's IOLoop thread, except two
doors. Sends made from another thread (`send_threadsafe` and
`send_multipart_threadsafe` name that door explicitly; the other ``send*``
methods take it too) are checked at the call (bad input, a closed stream, a
full bounded queue raise there), wait in an inbox that the loop empties in
order, and never touch the socket from the calling thread. ``on_recv`` and
``on_send`` changes from another thread take effect at once and the loop
re-checks readiness. ``closed()``, ``receiving()``, ``sending()`` and
``stats`` may be asked from any thread. Before the loop runs, the thread that
calls is taken to be the loop's. Callbacks always run on the loop thread.
"""

from __future__ import annotations

import asyncio
import logging
import pickle
from asyncio import get_running_loop
from collections.abc import Callable, Sequence
from datetime import timedelta
from time import monotonic
from typing import Any, NoReturn

import zmq
from tornado.concurrent import Future
from tornado.ioloop import IOLoop

from .. import _jsonapi
from .._duration import seconds
from . import _frames
from ._callbacks import follow_result, log_failure, run_callback
from ._errors import StreamClosedError
from ._loopthread import here_or_idle
from ._passthrough import SocketPassThrough, forward_names_of
from ._sendqueue import Inbox, Pending, SendCallback, SendQueue, SendQueueFull
from ._watch import IDLE_IN, MORE, POLLIN, POLLOUT, SocketWatch
from ._wire import SOCKET_GONE, recv_message
from .stats import Counters, SocketStats

__all__ = ["SendQueueFull", "StreamClosedError", "ZMQStream"]

_log = logging.getLogger("tzmq.stream")

_BOTH = POLLIN | POLLOUT
_EFSM = zmq.EFSM

# Socket types whose recv() fails with ENOTSUP: a stream on one never receives
# (flush() and on_recv() are then no-ops for receiving, as with pyzmq's poll).
_SEND_ONLY = frozenset(
    int(getattr(zmq, name)) for name in ("PUSH", "PUB", "RADIO", "SCATTER") if hasattr(zmq, name)
)

RecvCallback = Callable[[list[Any]], Any]
_NO_HANDLER: tuple[RecvCallback | None, bool] = (None, True)


def _plain_socket(socket: zmq.Socket[Any]) -> zmq.Socket[Any]:
    # A socket class whose recv/send return futures would hand futures to
    # callbacks: work on a plain shadow of the same libzmq socket instead.
    cls = type(socket)
    if cls is zmq.Socket or (cls.recv is zmq.Socket.recv and cls.send is zmq.Socket.send):
        return socket
    return zmq.Socket.shadow(socket.underlying)


class ZMQStream(SocketPassThrough):
    """A socket wrapped with receive/send callbacks on a Tornado IOLoop.

    Example: an echo service::

        stream = ZMQStream(ctx.socket(zmq.ROUTER))
        stream.bind("tcp://127.0.0.1:5555")
        stream.on_recv(stream.send_multipart)   # echo every message back
        IOLoop.current().start()

    ``max_batch``/``max_batch_time`` bound the work done per wake-up before
    other handlers get a turn (queued sends with no callback to run are
    bounded by ``max_batch_time`` alone: each costs only libzmq's send).
    ``queue_hwm``/``queue_hwm_bytes`` bound the send queue (default
    unbounded, as pyzmq); the low marks default to half.
    """

    socket: zmq.Socket[Any]
    io_loop: IOLoop

    def __init__(
        self,
        socket: zmq.Socket[Any],
        io_loop: IOLoop | None = None,
        *,
        max_batch: int = 256,
        max_batch_time: float | timedelta = 0.01,
        queue_hwm: int | None = None,
        queue_hwm_bytes: int | None = None,
        queue_lwm: int | None = None,
        queue_lwm_bytes: int | None = None,
    ) -> None:
        if not isinstance(socket, zmq.Socket):
            raise TypeError(f"ZMQStream needs a zmq.Socket, not {type(socket).__name__}")
        if socket.closed:
            raise StreamClosedError("cannot make a ZMQStream on a closed socket")
        if io_loop is not None and not isinstance(io_loop, IOLoop):
            raise TypeError(f"io_loop must be a tornado IOLoop, not {type(io_loop).__name__}")
        if not isinstance(max_batch, int) or max_batch < 1:
            raise ValueError(f"max_batch must be a positive int, not {max_batch!r}")
        forward_names_of(type(socket))
        plain = _plain_socket(socket)
        self.socket = plain
        # The object that owns the libzmq socket when we work on a shadow of it.
        # Held: its __del__ would close the socket under the stream once the
        # caller dropped it (ZMQStream(ctx.socket(...)) on a future context).
        # Closed through: it must not keep an open handle to a socket libzmq
        # has freed (its __del__ would close whatever lives there next).
        self._owner: zmq.Socket[Any] | None = socket if plain is not socket else None
        self.io_loop = io_loop or IOLoop.current()
        self.max_batch = max_batch
        self.max_batch_time = seconds("max_batch_time", max_batch_time, zero=True)
        self._aio_loop: asyncio.AbstractEventLoop = self.io_loop.asyncio_loop  # type: ignore[attr-defined]
        self._recv = plain.recv
        socket_type = int(plain.type)
        self._receives = socket_type not in _SEND_ONLY
        # (callback, copy) in one attribute: on_recv from another thread
        # replaces both at once, so a callback never sees the other's copy mode.
        self._recv_handler: tuple[RecvCallback | None, bool] = _NO_HANDLER
        self._close_callback: Callable[[], Any] | None = None
        self._closing = False
        self._watch = SocketWatch.get(plain, self.io_loop)
        self._counters = Counters("ZMQStream", socket_type)
        self._queue = SendQueue(
            plain, self.io_loop, self._watch, self._update_interest, self._counters
        )
        self._queue.set_limits(queue_hwm, queue_hwm_bytes, queue_lwm, queue_lwm_bytes)
        self._inbox = Inbox(self._queue, lambda: self.io_loop.add_callback(self._take_inbox))
        if self._on_loop_thread():
            self._watch.attach(self)
        else:
            # Registering the FD touches the running loop: do it on its thread.
            self.io_loop.add_callback(self._attach)

    def __repr__(self) -> str:
        state = "closed" if self.__dict__.get("_closing") else repr(self.__dict__.get("socket"))
        return f"<ZMQStream {state}>"

    # -- threads ------------------------------------------------------------------

    def _on_loop_thread(self) -> bool:
        """On the loop's thread, or the loop is not running yet: asked by every send."""
        return here_or_idle(self._aio_loop)

    def _attach(self) -> None:
        # A stream made on another thread may be closed (there) before the
        # loop gets here, or while it registers the FD.
        if self._closing:
            return
        try:
            self._watch.attach(self)
        except zmq.ZMQError as error:
            if error.errno not in SOCKET_GONE:
                raise
            self._watch.detach(self)
            return
        self._update_interest()

    def _set_interest(self) -> None:
        if self._on_loop_thread():
            self._update_interest()
        else:
            self.io_loop.add_callback(self._update_interest)

    def _update_interest(self) -> None:
        if self._closing:
            return
        interest = 0
        if self._recv_handler[0] is not None and self._receives:
            interest = POLLIN
        if self._queue.entries:
            interest |= POLLOUT
        self._watch.want(self, interest)

    def _check_closed(self) -> None:
        if self._closing:
            raise StreamClosedError()

    # -- callbacks ----------------------------------------------------------------

    def on_recv(self, callback: RecvCallback | None, copy: bool = True) -> None:
        """Call ``callback(msg)`` with every multipart message received.

        ``msg`` is a list of ``bytes`` (``copy=True``) or of `zmq.Frame`
        (``copy=False``). ``on_recv(None)`` pauses receiving: messages wait in
        libzmq (and its HWM pushes back on peers) until a callback is set again.
        The callback may be a coroutine function; it is then run as a task.
        """
        self._check_closed()
        if callback is not None and not callable(callback):
            raise TypeError(f"on_recv callback must be callable, not {type(callback).__name__}")
        self._recv_handler = (callback, bool(copy))
        self._set_interest()

    def on_recv_stream(
        self, callback: Callable[[ZMQStream, list[Any]], Any] | None, copy: bool = True
    ) -> None:
        """Like `on_recv`, with this stream as the callback's first argument."""
        if callback is None:
            self.stop_on_recv()
            return
        if not callable(callback):
            raise TypeError(f"on_recv callback must be callable, not {type(callback).__name__}")
        self.on_recv(lambda msg: callback(self, msg), copy=copy)

    def on_send(self, callback: SendCallback | None) -> None:
        """Call ``callback(msg, status)`` after every message handed to libzmq.

        ``status`` is the `zmq.MessageTracker` for ``track=True`` sends, None
        otherwise, or the exception that kept the message from being sent.
        """
        self._check_closed()
        if callback is not None and not callable(callback):
            raise TypeError(f"on_send callback must be callable, not {type(callback).__name__}")
        self._queue.send_callback = callback

    def on_send_stream(self, callback: Callable[[ZMQStream, list[Any], Any], Any] | None) -> None:
        """Like `on_send`, with this stream as the callback's first argument."""
        if callback is None:
            self.stop_on_send()
            return
        if not callable(callback):
            raise TypeError(f"on_send callback must be callable, not {type(callback).__name__}")
        self.on_send(lambda msg, status: callback(self, msg, status))

    def stop_on_recv(self) -> None:
        """Stop receiving (same as ``on_recv(None)``)."""
        self.on_recv(None)

    def stop_on_send(self) -> None:
        """Stop calling the send callback (same as ``on_send(None)``)."""
        self.on_send(None)

    def set_close_callback(self, callback: Callable[[], Any] | None) -> None:
        """Call ``callback()`` once, when the stream closes."""
        if callback is not None and not callable(callback):
            raise TypeError(f"close callback must be callable, not {type(callback).__name__}")
        self._close_callback = callback

    def receiving(self) -> bool:
        """True while a receive callback is set."""
        return self._recv_handler[0] is not None

    def sending(self) -> bool:
        """True while messages wait in the send queue."""
        return bool(self._queue.entries)

    @property
    def stats(self) -> SocketStats:
        """This stream's figures now (a `tzmq.stream.SocketStats`); they stay readable after close.

        Safe from any thread: from another one they may be slightly stale.
        """
        return self._counters.snapshot()

    # -- sending ------------------------------------------------------------------

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
            and not self._closing
        ):
            # A producer's tight loop: the general path's option checks skipped.
            try:
                if get_running_loop() is self._aio_loop:
                    self._queue.send_frame(msg)
                    return
            except RuntimeError:
                pass  # no loop runs in this thread: the general path decides
            except zmq.ZMQError as error:
                self._send_failed(error)
        if type(msg) is not bytes:
            _frames.check_frame(msg)
        options = None if routing_id is None and group is None else (routing_id, group)
        self._send_message([msg], flags, copy, track, callback, options)

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
            not flags
            and copy is True
            and callback is None
            and not track
            and routing_id is None
            and group is None
            and not self._closing
        ):
            # An echo's reply, a request: the general path's option checks skipped.
            try:
                if get_running_loop() is self._aio_loop:
                    self._queue.send(parts)
                    return
            except RuntimeError:
                pass  # no loop runs in this thread: the general path decides
            except zmq.ZMQError as error:
                self._send_failed(error)
        options = None if routing_id is None and group is None else (routing_id, group)
        self._send_message(parts, flags, copy, track, callback, options)

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
        self.send(u.encode(encoding), flags, True, False, callback, routing_id, group)

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
        self.send(_jsonapi.dumps(obj), flags, True, False, callback, routing_id, group)

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
        self.send(pickle.dumps(obj, protocol), flags, True, False, callback, routing_id, group)

    def send_threadsafe(self, msg: Any, flags: int = 0, copy: bool = True) -> None:
        """Send one frame from any thread; see `send_multipart_threadsafe`."""
        _frames.check_frame(msg)
        self._send_message([msg], flags, copy, False, None, None)

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
        self._send_message(_frames.check_message(msg), flags, copy, False, None, None)

    def _send_message(
        self,
        parts: Sequence[Any],
        flags: int,
        copy: bool,
        track: bool,
        callback: SendCallback | None,
        options: tuple[int | None, str | bytes | None] | None,
    ) -> None:
        """Every send ends here: checks at the call, then the queue or the inbox."""
        if self._closing:
            raise StreamClosedError("cannot send on a closed ZMQStream")
        if callback is not None and not callable(callback):
            raise TypeError(f"send callback must be callable, not {type(callback).__name__}")
        kwargs = None if options is None else _frames.draft_options(*options)
        flags = int(flags)
        if self._on_loop_thread():
            try:
                self._queue.send(parts, flags, copy, track, callback, kwargs)
            except zmq.ZMQError as error:
                self._send_failed(error)
            return
        entry = Pending(_frames.snapshot(parts), flags, copy, track, callback, kwargs)
        if not self._inbox.put(entry):
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
        take, send = self._inbox.take, self._queue.send_accepted
        while (entry := take()) is not None:
            if not send(entry):
                self.close()  # the socket went away: close() counts the entry
                return

    # -- receiving ----------------------------------------------------------------

    def _receive(self, limit: int, deadline: float = 0.0, drop: bool = False) -> tuple[int, int]:
        """Receive and dispatch up to ``limit`` messages; return the watch status and the count.

        The status is `IDLE_IN` when a receive met EAGAIN, `MORE` when
        ``limit`` or ``deadline`` ended the run, 0 when receiving stopped (no
        callback, closing, or a REQ/REP socket whose turn it is not: EFSM).
        With ``drop``
        (flush), a message that arrives with no callback set is received and
        discarded.
        """
        recv = self._recv
        count = 0
        status = MORE
        counters = self._counters
        traffic = counters.traffic
        nbytes = 0
        try:
            while count < limit:
                callback, copy = self._recv_handler
                if (callback is None and not drop) or self._closing:
                    status = 0
                    break
                try:
                    msg = recv_message(recv, copy)
                except zmq.Again:
                    status = IDLE_IN
                    break
                except zmq.ZMQError as error:
                    if error.errno != _EFSM:
                        raise
                    # A REQ that has not sent, a REP that has not replied: not an
                    # error, nothing to receive until a send changes its state.
                    status = 0
                    break
                count += 1
                if traffic:
                    for part in msg:  # bytes, or zmq.Frame: len() is the payload's size
                        nbytes += len(part)
                if callback is not None:
                    # Inline, with run_callback's rules: the stream's hottest loop.
                    try:
                        result = callback(msg)
                    except Exception:
                        log_failure(counters, callback)
                    else:
                        if result is not None:
                            follow_result(self._aio_loop, counters, callback, result)
                if deadline and monotonic() > deadline:
                    break
        finally:
            # Also when the socket goes away mid-batch: what was delivered counts.
            if traffic and count:
                counters.messages_in += count
                counters.bytes_in += nbytes
        return status, count

    # The watch calls these (see _watch.WatchClient).

    def on_ready(self, events: int, bulk: bool) -> int:
        status = 0
        sent = 0
        deadline = 0.0  # one max_batch_time for sending and receiving together
        queue = self._queue
        if events & POLLOUT and queue.entries:
            deadline = monotonic() + self.max_batch_time
            sent = queue.send_queued(self.max_batch, deadline)
            if queue.entries and not queue.blocked:
                status = MORE  # the budget ran out, not libzmq's room
        if not events & POLLIN or self._recv_handler[0] is None or self._closing:
            if sent:
                self._counters.batches += 1
            return status
        if bulk:
            deadline = deadline or monotonic() + self.max_batch_time
            received_status, received = self._receive(self.max_batch, deadline)
        else:
            # One message, then the watch reads EVENTS: MORE would mean "yield".
            received_status, received = self._receive(1)
            received_status &= IDLE_IN
        if sent or received:
            self._counters.batches += 1
        return status | received_status

    def on_socket_gone(self, error: BaseException) -> None:
        _log.debug("ZMQStream socket went away (%s); closing the stream", error)
        self.close()

    # -- flush and close ----------------------------------------------------------

    def flush(self, flag: int = _BOTH, limit: int | None = None) -> int:
        """Handle pending messages now, synchronously; return how many.

        With ``POLLOUT``: runs the send callbacks of messages already handed
        to libzmq and sends queued ones. With ``POLLIN``: receives waiting
        messages. Stops when libzmq has nothing more or ``limit`` messages,
        sends and receives together, are handled (``None`` or 0: no limit,
        as in pyzmq). Received messages go to the receive callback, or are
        dropped when none is set (so ``flush`` can discard incoming messages,
        as in pyzmq). Never blocks; raises `StreamClosedError` once closed.
        """
        self._check_closed()
        if limit is not None and limit < 0:
            raise ValueError(f"flush limit must be >= 0 or None, not {limit}")
        flag = int(flag)
        budget = limit or -1
        count = 0
        queue = self._queue
        try:
            if flag & POLLOUT:
                # Sends that went out directly: report them now, and count them.
                count = queue.run_notices(budget)
                if budget > 0:
                    budget -= count
            while budget != 0 and not self._closing:
                progressed = 0
                if flag & POLLOUT and queue.entries:
                    progressed += queue.send_queued(budget if budget > 0 else len(queue))
                if flag & POLLIN and self._receives and not self._closing:
                    allowed = budget - progressed if budget > 0 else self.max_batch
                    if allowed > 0:
                        progressed += self._receive(allowed, 0.0, True)[1]
                if not progressed:
                    break
                count += progressed
                if budget > 0:
                    budget -= progressed
        except zmq.ZMQError as error:
            if error.errno not in SOCKET_GONE and not self.socket.closed:
                raise
            _log.debug("ZMQStream flush stopped: socket went away (%s)", error)
            self.close()
        if not self._closing:
            # flush touched the socket: whatever it left pending needs a pass.
            self._watch.wake()
        return count

    def closed(self) -> bool:
        """True once the stream, or its socket behind its back, was closed.

        Safe from any thread (jupyter_client asks from its own): a socket found
        closed closes the stream on the loop thread.
        """
        if self._closing:
            return True
        if self.socket.closed:
            if self._on_loop_thread():
                self.close()
            else:
                self.io_loop.add_callback(self.close)
            return True
        return False

    def close(self, linger: int | None = None) -> int:
        """Close the stream and its socket; return how many messages were not sent.

        Queued messages are handed to libzmq first (so ``LINGER`` decides
        their fate, as for any socket). Those it would not take are reported:
        their send callbacks get a `StreamClosedError` status and a warning
        with the count is logged. Idempotent; never raises for a socket or
        context already gone. Unlike pyzmq's stream, ``stream.socket`` stays
        the (closed) socket, so ``stream.socket.closed`` keeps working.

        From another thread the stream is closed at once for every caller
        (sends are refused) and the rest happens on the loop's thread, which
        owns the FD's registration and the send queue; it returns 0 then.
        """
        if self._closing:
            return 0
        self._closing = True
        if not self._on_loop_thread():
            self.io_loop.add_callback(self._finish_close, linger)
            return 0
        return self._finish_close(linger)

    def _finish_close(self, linger: int | None) -> int:
        socket = self.socket
        # Sends other threads handed in before now go out (or are counted)
        # with the rest; later ones fail at their call.
        for entry in self._inbox.close():
            self._queue.put(entry)
        unsent = self._queue.close(StreamClosedError())
        self._counters.retire()
        self._watch.detach(self)
        if not socket.closed:
            owner = socket if self._owner is None else self._owner
            try:
                owner.close(linger=linger)
            except zmq.ZMQError as error:
                _log.debug("ZMQStream socket close: %s", error)
            # Our shadow learns it now, while libzmq still marks the socket
            # closed: stream.socket.closed never probes a freed socket later.
            _ = socket.closed
            # Other clients of the same socket (a second stream, a future
            # socket) learn it is gone, and the FD is released, right now.
            self._watch.socket_closed()
        self._recv_handler = _NO_HANDLER
        close_callback, self._close_callback = self._close_callback, None
        if close_callback is not None:
            run_callback(self._aio_loop, self._counters, close_callback)
        return unsent
