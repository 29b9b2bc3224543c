"""RequestServer: a ROUTER server that answers each request through its own envelope.

Owns the server half of correlated request/reply: splitting a request from
its routing envelope, running the handler (plain, coroutine or callback
code), the bound on handlers running at once, and the expiry of requests
that are never answered.

Wire format (txZMQ's ``ZmqREPConnection``): a request arrives as
``[*envelope, id, b"", *frames]``: the first empty frame ends the header, the
frame before it is the request id, everything before that the routing
envelope (one routing id from a direct DEALER peer, more behind ROUTER/DEALER
proxies). The reply goes out as ``[*envelope, id, b"", *reply_frames]``.

A plain ``zmq.REQ`` client works unchanged: its message arrives as
``[routing_id, b"", *frames]``, so its routing id is taken for the request
id and the reply routes back to it. A message with no empty frame, an empty
frame first, or nothing after the empty frame is dropped and counted in
``stats.malformed`` (logged the first time).

Thread-safety: everything runs on the server's IOLoop thread; `Request.reply`
must be called there too.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from time import monotonic
from typing import Any

import zmq
from tornado.ioloop import IOLoop

from ._checks import frames as check_frames
from ._checks import positive_int, seconds
from ._sockets import open_stream

__all__ = ["Request", "RequestServer", "ServerStats"]

_log = logging.getLogger("tzmq.rpc")

_BYTES = (bytes, bytearray, memoryview, zmq.Frame)


@dataclass
class ServerStats:
    """Counters of a `RequestServer`, for monitoring."""

    requests: int = 0
    replies: int = 0
    failed: int = 0
    expired: int = 0
    late_replies: int = 0
    malformed: int = 0


class Request:
    """One request a `RequestServer` received: its frames and the way to answer it.

    ``frames`` is the request's payload, ``id`` and ``envelope`` say where the
    reply goes. Answer with `reply` once, from any callback or coroutine on
    the server's loop, or by returning the reply frames from the handler.
    """

    __slots__ = ("_done", "_server", "_task", "deadline", "envelope", "frames", "id")

    def __init__(
        self, server: RequestServer, envelope: list[bytes], id: bytes, frames: list[bytes]
    ) -> None:
        self._server = server
        self._done = False
        self._task: asyncio.Future[Any] | None = None
        self.envelope = envelope
        self.id = id
        self.frames = frames
        self.deadline = 0.0

    def __repr__(self) -> str:
        state = "done" if self._done else "open"
        return f"<Request id={self.id!r} frames={len(self.frames)} {state}>"

    @property
    def done(self) -> bool:
        """True once answered, expired, failed or its server closed."""
        return self._done

    def reply(self, *frames: Any) -> bool:
        """Send ``frames`` as the answer; return False if the request is already done.

        A reply that comes too late (after expiry, a second reply, the server
        closed) is dropped and counted in ``stats.late_replies``. Frames that
        are not bytes-like raise `TypeError` here.
        """
        parts = check_frames(frames, "reply")
        server = self._server
        if self._done:
            server.stats.late_replies += 1
            return False
        server._finish(self)
        server.stats.replies += 1
        server.stream.send_multipart([*self.envelope, self.id, b"", *parts])
        return True


Handler = Callable[[Request], Any]


class RequestServer:
    """A ROUTER server calling ``handler(request)`` for every request.

    The handler answers in one of three ways:

    * a plain function returns the reply: a list of frames or one bytes;
    * a coroutine function (or any function returning an awaitable) whose
      result is the reply;
    * callback code returns None and calls ``request.reply(*frames)`` later.

    Example::

        def echo(request):
            return request.frames

        server = RequestServer(echo, bind="tcp://127.0.0.1:5555")

    A handler that raises is logged once and its request gets no reply
    (``stats.failed``). At most ``max_concurrent`` requests are being handled
    at once; beyond that the server stops reading, so requests wait in libzmq
    and its high-water marks push back on clients. A request not answered
    within ``expire`` is dropped (``stats.expired``); its coroutine, if any,
    is cancelled. Give ``socket=`` (a ROUTER) instead of ``context`` to set
    socket options, such as CURVE keys, before it binds.
    """

    def __init__(
        self,
        handler: Handler,
        context: zmq.Context[Any] | None = None,
        *,
        bind: str | Iterable[str] | None = None,
        connect: str | Iterable[str] | None = None,
        socket: zmq.Socket[Any] | None = None,
        max_concurrent: int = 100,
        expire: float | timedelta = 60.0,
        io_loop: IOLoop | None = None,
    ) -> None:
        if not callable(handler):
            raise TypeError(f"handler must be callable, not {type(handler).__name__}")
        self._handler = handler
        self._max_concurrent = positive_int("max_concurrent", max_concurrent)
        self._expire = seconds("expire", expire)
        self.stream = open_stream(zmq.ROUTER, context, socket, bind, connect, io_loop)
        self.io_loop = self.stream.io_loop
        self.stats = ServerStats()
        # Open requests in arrival order: with one expiry time for all, the
        # first is always the next to expire, so one timer serves them all.
        self._open: dict[Request, None] = {}
        self._timer: object | None = None
        self._closed = False
        self._warned = False
        self.stream.on_recv(self._on_request)

    def __repr__(self) -> str:
        return f"<RequestServer open={len(self._open)}>"

    @property
    def active(self) -> int:
        """Requests received and not yet answered, failed or expired."""
        return len(self._open)

    def closed(self) -> bool:
        """True once `close` was called."""
        return self._closed

    def close(self, linger: int | None = None) -> None:
        """Stop serving: cancel running coroutine handlers and close the socket.

        Requests still open are dropped (a later `Request.reply` returns
        False). Idempotent.
        """
        if self._closed:
            return
        self._closed = True
        if self._timer is not None:
            self.io_loop.remove_timeout(self._timer)
            self._timer = None
        for request in list(self._open):
            self._finish(request)
        self.stream.close(linger=linger)

    # -- internals ----------------------------------------------------------------

    def _on_request(self, msg: list[bytes]) -> None:
        try:
            end = msg.index(b"")
        except ValueError:
            end = 0
        if end == 0 or end == len(msg) - 1:
            self._malformed(msg)
            return
        self.stats.requests += 1
        request = Request(self, msg[: end - 1], msg[end - 1], msg[end + 1 :])
        request.deadline = monotonic() + self._expire
        self._open[request] = None
        if len(self._open) >= self._max_concurrent:
            self.stream.stop_on_recv()
        if self._timer is None:
            self._timer = self.io_loop.call_later(self._expire, self._expire_due)
        try:
            result = self._handler(request)
        except Exception:
            self._fail(request, "raised", True)
            return
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            request._task = task
            task.add_done_callback(lambda done: self._task_done(request, done))
        elif result is not None:
            self._reply_with(request, result)

    def _task_done(self, request: Request, task: asyncio.Future[Any]) -> None:
        request._task = None
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            self._fail(request, "raised", (type(error), error, error.__traceback__))
        elif task.result() is not None:
            self._reply_with(request, task.result())

    def _reply_with(self, request: Request, result: Any) -> None:
        parts = [result] if isinstance(result, _BYTES) else result
        try:
            check_frames(parts, "reply")
        except (TypeError, ValueError):
            self._fail(request, "returned a bad reply", True)
            return
        request.reply(*parts)

    def _fail(self, request: Request, what: str, exc_info: Any) -> None:
        _log.error("RequestServer handler %r %s", self._handler, what, exc_info=exc_info)
        if not request._done:
            self.stats.failed += 1
            self._finish(request)

    def _finish(self, request: Request) -> None:
        # The one exit of every request: replied, failed, expired or closed.
        request._done = True
        del self._open[request]
        task = request._task
        if task is not None and not task.done():
            task.cancel()
        paused = not self.stream.receiving()
        if paused and not self._closed and len(self._open) < self._max_concurrent:
            self.stream.on_recv(self._on_request)

    def _expire_due(self) -> None:
        self._timer = None
        now = monotonic()
        while self._open:
            request = next(iter(self._open))
            if request.deadline > now:
                self._timer = self.io_loop.call_later(request.deadline - now, self._expire_due)
                return
            self.stats.expired += 1
            _log.debug("RequestServer request %r expired unanswered", request.id)
            self._finish(request)

    def _malformed(self, msg: list[bytes]) -> None:
        self.stats.malformed += 1
        if not self._warned:
            self._warned = True
            _log.warning(
                "RequestServer dropped a message not framed [*envelope, id, b'', *frames]: "
                "%d frames",
                len(msg),
            )
