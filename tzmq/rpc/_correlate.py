"""The table of calls in flight that every correlating client keeps.

Owns what `RequestClient` and `RPCClient` share: giving each call an id,
its deadline, the bound on calls in flight (and the queue of calls waiting
for a slot, or for a socket that takes no messages now), cancellation, late
and malformed replies, and closing. A subclass says how a call is framed on
the wire (`_frames`), how ids are made (`_new_id`), and reads replies,
settling calls with `_settle`.

Every call leaves the table through one door (`_forget`, its future's done
callback), whether it was answered, timed out, cancelled or failed by
`close`, so nothing stays behind.

Thread-safety: everything runs on the client's IOLoop thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from tzmq import ZMQStream

from ._deadlines import Deadline, Deadlines
from .errors import ClientClosedError, RequestTimeout, TooManyRequests

__all__ = ["Call", "ClientStats", "Correlator", "ReplyCallback"]

_log = logging.getLogger("tzmq.rpc")

ReplyCallback = Callable[["asyncio.Future[Any]"], Any]


@dataclass
class ClientStats:
    """Counters of a client, for monitoring."""

    requests: int = 0
    replies: int = 0
    timeouts: int = 0
    cancelled: int = 0
    late_replies: int = 0
    malformed_replies: int = 0
    retries: int = 0


class Call:
    """One call: its future, what to send, its id once sent, and its deadline."""

    __slots__ = ("deadline", "future", "id", "payload", "timer")

    def __init__(self, future: asyncio.Future[Any], payload: list[Any]) -> None:
        self.future = future
        self.payload = payload
        self.id: Hashable | None = None
        self.deadline: float | None = None
        self.timer: Deadline | None = None


class Correlator:
    """Base of the correlating clients: see the module docstring."""

    def __init__(self, stream: ZMQStream, timeout: float | None, max_in_flight: int) -> None:
        self.stream = stream
        self.io_loop = stream.io_loop
        self.stats = ClientStats()
        self._timeout = timeout
        self._max_in_flight = max_in_flight
        self._calls: dict[Hashable, Call] = {}
        self._waiting: deque[Call] = deque()
        self._closed = False
        self._warned = False
        self._awaiting_socket = False  # a drain() of the stream is pending
        self._loop: asyncio.AbstractEventLoop = self.io_loop.asyncio_loop  # type: ignore[attr-defined]
        self._deadlines = Deadlines(self._loop, self._expire)
        stream.on_recv(self._on_reply)

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"<{name} in_flight={len(self._calls)} waiting={len(self._waiting)}>"

    @property
    def in_flight(self) -> int:
        """Calls sent and not yet answered, timed out or cancelled."""
        return len(self._calls)

    @property
    def waiting(self) -> int:
        """Calls not sent yet: waiting for a slot under ``max_in_flight``, or for
        the socket to take messages again (no server reachable, or its queue full).
        A waiting call still leaves at its deadline, and is never sent then."""
        return len(self._waiting)

    def closed(self) -> bool:
        """True once `close` was called."""
        return self._closed

    def close(self, linger: int | None = None) -> None:
        """Fail every pending call with `ClientClosedError` and close the socket.

        Idempotent. ``linger`` is passed to the socket's close.
        """
        if self._closed:
            return
        self._closed = True
        # Each future's done callback (_forget) then takes it out of the tables.
        for call in [*self._calls.values(), *self._waiting]:
            if not call.future.done():
                call.future.set_exception(ClientClosedError(f"{type(self).__name__} closed"))
        self._deadlines.close()
        self.stream.close(linger=linger)

    # -- for subclasses -----------------------------------------------------------

    def _start(
        self,
        payload: list[Any],
        timeout: float | None,
        callback: ReplyCallback | None,
        nowait: bool,
    ) -> asyncio.Future[Any]:
        """Send (or queue) a call whose ``payload`` was checked; return its future."""
        if callback is not None and not callable(callback):
            raise TypeError(f"callback must be callable, not {type(callback).__name__}")
        if self._closed:
            raise ClientClosedError(f"call on a closed {type(self).__name__}")
        full = len(self._calls) >= self._max_in_flight
        if full and nowait:
            raise TooManyRequests(f"{len(self._calls)} calls in flight (max_in_flight)")
        future: asyncio.Future[Any] = self._loop.create_future()
        call = Call(future, payload)
        self.stats.requests += 1
        timeout = timeout or self._timeout
        if timeout is not None:
            call.deadline = self._loop.time() + timeout
            call.timer = self._deadlines.add(call.deadline, call)
        future.add_done_callback(lambda _: self._forget(call))
        if callback is not None:
            self.io_loop.add_future(future, callback)
        if full or self._waiting or self.stream.queue_size:
            self._waiting.append(call)
            self._pump()
        else:
            self._send(call)
        return future

    def _new_id(self) -> Hashable:
        raise NotImplementedError

    def _frames(self, call: Call) -> list[Any]:
        raise NotImplementedError

    def _on_reply(self, msg: list[bytes]) -> None:
        raise NotImplementedError

    def _withdrawn(self, call: Call) -> None:
        """A sent call was cancelled by its caller: subclasses may tell the server."""

    def _settle(self, id: Hashable, result: Any = None, error: Exception | None = None) -> None:
        """Complete the call ``id`` with a reply; count it as late if it is gone."""
        call = self._calls.get(id)
        if call is None or call.future.done():
            self.stats.late_replies += 1
            return
        self.stats.replies += 1
        if error is not None:
            call.future.set_exception(error)
        else:
            call.future.set_result(result)

    def _malformed(self, msg: list[bytes], layout: str) -> None:
        self.stats.malformed_replies += 1
        if not self._warned:
            self._warned = True
            _log.warning(
                "%s dropped a reply not framed %s: %d frames", type(self).__name__, layout, len(msg)
            )

    # -- internals ----------------------------------------------------------------

    def _send(self, call: Call) -> None:
        call.id = self._new_id()
        self._calls[call.id] = call
        self.stream.send_multipart(self._frames(call))
        call.payload = []  # sent: do not keep it alive until the reply

    def _expire(self, call: Call) -> None:
        call.timer = None
        if not call.future.done():
            self.stats.timeouts += 1
            call.future.set_exception(RequestTimeout("no reply before the call's deadline"))

    def _forget(self, call: Call) -> None:
        # The one exit of every call: replied, timed out, cancelled or closed.
        if call.timer is not None:
            self._deadlines.drop(call.timer)
            call.timer = None
        if call.id is None:
            self._waiting.remove(call)
        else:
            del self._calls[call.id]
        if call.future.cancelled():
            self.stats.cancelled += 1
            if call.id is not None and not self._closed:
                self._withdrawn(call)
        self._pump()

    def _pump(self) -> None:
        # A call goes to the stream only while the socket takes messages: one
        # that waits here can still leave at its deadline, while one in the
        # stream's queue would reach the server however late (and with the
        # server gone, such messages would pile up there without bound).
        while self._waiting and len(self._calls) < self._max_in_flight and not self._closed:
            if self.stream.queue_size:
                if not self._awaiting_socket:
                    self._awaiting_socket = True
                    self.stream.drain().add_done_callback(self._socket_took)
                return
            self._send(self._waiting.popleft())

    def _socket_took(self, drained: asyncio.Future[None]) -> None:
        self._awaiting_socket = False
        if not drained.cancelled() and drained.exception() is None:
            # (else the stream closed, and close() failed every call)
            self._pump()
