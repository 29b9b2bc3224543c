"""RequestClient: many requests in flight over one DEALER, each matched to its reply.

Owns the client half of correlated request/reply: request ids, the table of
requests waiting for a reply, their deadlines, and the bound on how many are
in flight.

Wire format (txZMQ's ``ZmqREQConnection``, so any of its peers answer us):

* request: ``[id, b"", *frames]``; ``id`` is opaque to the server (here an
  8-byte big-endian counter, unique for the life of the client's socket);
* reply: ``[id, b"", *frames]``, with the request's ``id``.

A plain ``zmq.REP`` server answers this as is: REP treats ``[id]`` as the
envelope and hands the application ``frames``. A reply whose id is not in the
table (it came after its request timed out or was cancelled) is dropped and
counted in ``stats.late_replies``; a reply that is not framed as above is
dropped and counted in ``stats.malformed_replies`` (logged the first time).

Thread-safety: everything runs on the client's IOLoop thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import zmq
from tornado.ioloop import IOLoop

from ._checks import frames as check_frames
from ._checks import optional_seconds, positive_int
from ._sockets import open_stream
from .errors import ClientClosedError, RequestTimeout, TooManyRequests

__all__ = ["ClientStats", "RequestClient"]

_log = logging.getLogger("tzmq.rpc")

ReplyCallback = Callable[["asyncio.Future[list[bytes]]"], Any]


@dataclass
class ClientStats:
    """Counters of a `RequestClient` (or `LazyPirateClient`), for monitoring."""

    requests: int = 0
    replies: int = 0
    timeouts: int = 0
    cancelled: int = 0
    late_replies: int = 0
    malformed_replies: int = 0
    retries: int = 0


class _Call:
    """One request: its future, frames, and the handle of its deadline."""

    __slots__ = ("frames", "future", "id", "timer")

    def __init__(self, future: asyncio.Future[list[bytes]], frames: list[Any]) -> None:
        self.future = future
        self.frames = frames
        self.id = b""
        self.timer: object | None = None


class RequestClient:
    """A DEALER client that keeps many requests in flight and matches their replies.

    Example::

        client = RequestClient(connect="tcp://127.0.0.1:5555", timeout=2.0)
        reply = await client.request(b"hello")          # a list of frames
        client.request(b"x", callback=lambda f: print(f.result()))

    ``timeout`` is the default deadline of each request (None: no deadline),
    counted from the call, so time spent waiting for a free slot counts too.
    ``max_in_flight`` bounds the requests sent and not yet answered; beyond
    it `request` waits for a slot, or raises `TooManyRequests` with
    ``nowait=True``. Give ``socket=`` (a DEALER) instead of ``context`` to set
    socket options, such as CURVE keys, before it connects.
    """

    def __init__(
        self,
        context: zmq.Context[Any] | None = None,
        *,
        connect: str | Iterable[str] | None = None,
        bind: str | Iterable[str] | None = None,
        socket: zmq.Socket[Any] | None = None,
        timeout: float | timedelta | None = None,
        max_in_flight: int = 1000,
        io_loop: IOLoop | None = None,
    ) -> None:
        self._timeout = optional_seconds("timeout", timeout)
        self._max_in_flight = positive_int("max_in_flight", max_in_flight)
        self.stream = open_stream(zmq.DEALER, context, socket, bind, connect, io_loop)
        self.io_loop = self.stream.io_loop
        self.stats = ClientStats()
        self._calls: dict[bytes, _Call] = {}
        self._waiting: deque[_Call] = deque()
        self._counter = 0
        self._closed = False
        self._warned = False
        self.stream.on_recv(self._on_reply)

    def __repr__(self) -> str:
        return f"<RequestClient in_flight={len(self._calls)} waiting={len(self._waiting)}>"

    @property
    def in_flight(self) -> int:
        """Requests sent and not yet answered, timed out or cancelled."""
        return len(self._calls)

    @property
    def waiting(self) -> int:
        """Requests waiting for a slot under ``max_in_flight``."""
        return len(self._waiting)

    def closed(self) -> bool:
        """True once `close` was called."""
        return self._closed

    def request(
        self,
        *frames: Any,
        timeout: float | timedelta | None = None,
        callback: ReplyCallback | None = None,
        nowait: bool = False,
    ) -> asyncio.Future[list[bytes]]:
        """Send ``frames`` as one request; return a future of the reply's frames.

        The future fails with `RequestTimeout` past the deadline (``timeout``,
        else the client's), with `ClientClosedError` if the client closes
        first. Cancelling it withdraws the request. ``callback(future)`` is
        run on the loop once the future is done. Bad frames, a closed client
        and (with ``nowait``) a full window raise here, sending nothing.
        """
        parts = check_frames(frames, "request")
        deadline = optional_seconds("timeout", timeout) or self._timeout
        if callback is not None and not callable(callback):
            raise TypeError(f"callback must be callable, not {type(callback).__name__}")
        if self._closed:
            raise ClientClosedError("request on a closed RequestClient")
        full = len(self._calls) >= self._max_in_flight
        if full and nowait:
            raise TooManyRequests(f"{len(self._calls)} requests in flight (max_in_flight)")
        future: asyncio.Future[list[bytes]] = self.io_loop.asyncio_loop.create_future()  # type: ignore[attr-defined]
        call = _Call(future, parts)
        self.stats.requests += 1
        if deadline is not None:
            call.timer = self.io_loop.call_later(deadline, self._expire, call)
        future.add_done_callback(lambda _: self._forget(call))
        if callback is not None:
            self.io_loop.add_future(future, callback)
        if full or self._waiting:
            self._waiting.append(call)
        else:
            self._send(call)
        return future

    def close(self, linger: int | None = None) -> None:
        """Fail every pending request with `ClientClosedError` and close the socket.

        Idempotent. ``linger`` is passed to the socket's close.
        """
        if self._closed:
            return
        self._closed = True
        # Each future's done callback (_forget) then takes it out of the tables.
        for call in [*self._calls.values(), *self._waiting]:
            if not call.future.done():
                call.future.set_exception(ClientClosedError("RequestClient closed"))
        self.stream.close(linger=linger)

    # -- internals ----------------------------------------------------------------

    def _send(self, call: _Call) -> None:
        self._counter += 1
        call.id = self._counter.to_bytes(8, "big")
        self._calls[call.id] = call
        self.stream.send_multipart([call.id, b"", *call.frames])
        call.frames = []  # sent: do not keep the payload alive until the reply

    def _expire(self, call: _Call) -> None:
        call.timer = None
        if not call.future.done():
            self.stats.timeouts += 1
            call.future.set_exception(RequestTimeout("no reply before the request's deadline"))

    def _forget(self, call: _Call) -> None:
        # The one exit of every request: replied, timed out, cancelled or closed.
        if call.future.cancelled():
            self.stats.cancelled += 1
        if call.timer is not None:
            self.io_loop.remove_timeout(call.timer)
            call.timer = None
        if call.id:
            del self._calls[call.id]
        else:
            self._waiting.remove(call)
        while self._waiting and len(self._calls) < self._max_in_flight and not self._closed:
            self._send(self._waiting.popleft())

    def _on_reply(self, msg: list[bytes]) -> None:
        if len(msg) < 3 or msg[1]:
            self.stats.malformed_replies += 1
            if not self._warned:
                self._warned = True
                _log.warning(
                    "RequestClient dropped a reply not framed [id, b'', *frames]: %d frames",
                    len(msg),
                )
            return
        call = self._calls.get(msg[0])
        if call is None or call.future.done():
            self.stats.late_replies += 1
            return
        self.stats.replies += 1
        call.future.set_result(msg[2:])
