"""Running RPC calls on a server: what rpc, pipeline and pubsub servers share.

Owns a call's life on the server side: decoding its arguments, finding the
method, checking the arguments against its signature, running it (plain
code inline; a coroutine, or anything returning an awaitable, as a task),
cancelling it at its deadline, logging its failure if asked, and bounding
the tasks running at once. Each server says how a request is read off the
wire and what to do with the outcome (`Serving._run`'s ``finish``);
`start` is what every ``serve_*`` factory does.

The handler running a call can read `current_call()`: the call's method
name, deadline and the caller's CURVE ``User-Id``.

Thread-safety: everything runs on the server's IOLoop thread.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import reprlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, NamedTuple, TypeVar

import zmq
from tornado.ioloop import IOLoop

from tzmq import ZMQStream

from ._arguments import CallFrames
from ._checks import optional_seconds, pick_codec, positive_int
from ._dispatch import bind_arguments, check_handler, dispatch
from ._sockets import open_stream, user_id_reader
from .codec import Codec, TranslationTable
from .errors import NotFoundError, ParametersError, ServiceClosedError
from .server import ServerStats

__all__ = ["CallInfo", "CallStats", "Finish", "Serving", "SocketArgs", "current_call", "start"]

_log = logging.getLogger("tzmq.rpc")

Finish = Callable[[Any, "BaseException | None"], None]
# Where a server's socket comes from: (context, socket, bind, connect, io_loop).
SocketArgs = tuple[
    "zmq.Context[Any] | None",
    "zmq.Socket[Any] | None",
    "str | Iterable[str] | None",
    "str | Iterable[str] | None",
    "IOLoop | None",
]
S = TypeVar("S", bound="Serving")


class CallInfo(NamedTuple):
    """What a handler may know about the call it is running.

    ``deadline`` is in the IOLoop's time (``IOLoop.current().time()``), None
    when the call has none; ``user_id`` is the ``User-Id`` a `tzmq.auth`
    authenticator gave the caller (None without one).
    """

    name: str
    deadline: float | None
    user_id: str | None


@dataclass
class CallStats(ServerStats):
    """Counters of an RPC, pipeline or pubsub server, for monitoring.

    ``failed`` counts calls that raised (or could not run), ``expired``
    handlers cancelled at their deadline, ``cancelled`` handlers cancelled
    because their caller withdrew the call.
    """

    cancelled: int = 0


_current: contextvars.ContextVar[CallInfo] = contextvars.ContextVar("tzmq.rpc.call")


def current_call() -> CallInfo:
    """The call the running handler serves; `LookupError` outside a handler."""
    return _current.get()


class Serving:
    """Base of the RPC servers: see the module docstring."""

    def __init__(
        self,
        stream: ZMQStream,
        handler: Any,
        codec: Codec,
        log_exceptions: bool,
        exclude_log_exceptions: Iterable[type[BaseException]],
        timeout: float | None,
        max_concurrent: int,
    ) -> None:
        self.stream = stream
        self.io_loop = stream.io_loop
        self.stats = CallStats()
        self._handler = check_handler(handler)
        self._codec = codec
        self._call_frames = CallFrames(codec)
        self._log_exceptions = bool(log_exceptions)
        self._exclude = tuple(exclude_log_exceptions)
        self._timeout = timeout
        self._max_concurrent = max_concurrent
        self._tasks: dict[asyncio.Future[Any], asyncio.TimerHandle | None] = {}
        self._closed = False
        self._loop: asyncio.AbstractEventLoop = self.io_loop.asyncio_loop  # type: ignore[attr-defined]
        self._closed_future: asyncio.Future[None] = self._loop.create_future()
        self._warned = False
        self._user_id = user_id_reader(stream)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} running={len(self._tasks)}>"

    @property
    def transport(self) -> ZMQStream:
        """The stream under the service: bind/unbind/connect/disconnect live on it."""
        if self._closed:
            raise ServiceClosedError(f"{type(self).__name__} is closed")
        return self.stream

    @property
    def active(self) -> int:
        """Coroutine handlers running now."""
        return len(self._tasks)

    def closed(self) -> bool:
        """True once `close` was called."""
        return self._closed

    def close(self, linger: int | None = None) -> None:
        """Stop serving: cancel running handlers, close the socket. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        self.stream.close(linger=linger)
        self._closed_future.set_result(None)

    async def wait_closed(self) -> None:
        """Wait until `close` was called."""
        await asyncio.shield(self._closed_future)

    # -- for subclasses -----------------------------------------------------------

    def _run(
        self,
        bname: bytes,
        bargs: bytes,
        bkwargs: bytes,
        remaining: float | None,
        user_id: str | None,
        finish: Finish,
    ) -> asyncio.Future[Any] | None:
        """Run one call; ``finish(result, error)`` gets its outcome, if it has one.

        Returns the task running a coroutine handler (None for plain code).
        """
        if not bname:
            # A heartbeat probe (see _watchdog): answered, not counted or logged.
            if not self._closed:
                finish(None, NotFoundError(""))
            return None
        self.stats.requests += 1
        name = ""
        args: Any = ()
        kwargs: Any = {}
        try:
            name = bname.decode("utf-8")
            func = dispatch(self._handler, name)
            try:
                args, kwargs = self._call_frames.unpack(bargs, bkwargs)
            except ValueError as error:
                raise ParametersError(f"undecodable arguments: {error}") from None
            args, kwargs = bind_arguments(func, args, kwargs)
        except (UnicodeDecodeError, ParametersError, LookupError) as error:
            self._done(name, args, kwargs, None, error, finish)
            return None
        remaining = remaining if remaining is not None else self._timeout
        deadline = None if remaining is None else self.io_loop.time() + remaining
        token = _current.set(CallInfo(name, deadline, user_id))
        try:
            result = func(*args, **kwargs)
            task = asyncio.ensure_future(result) if inspect.isawaitable(result) else None
        except Exception as error:
            self._done(name, args, kwargs, None, error, finish)
            return None
        finally:
            _current.reset(token)
        if task is None:
            self._done(name, args, kwargs, result, None, finish)
            return None
        # The asyncio loop's own timer (the IOLoop's wraps it in two more
        # calls); the IOLoop's clock, that ``deadline`` is in, may be another.
        timer = None if remaining is None else self._loop.call_later(remaining, self._expire, task)
        self._tasks[task] = timer
        task.add_done_callback(lambda t: self._task_done(t, name, args, kwargs, finish))
        if len(self._tasks) >= self._max_concurrent:
            self.stream.stop_on_recv()
        return task

    def _listen(self) -> None:
        """Start (or resume) receiving requests."""
        self.stream.on_recv(self._receive, copy=self._user_id is None)

    def _receive(self, msg: list[Any]) -> None:
        if self._user_id is None:
            self._on_request(msg, None)
        else:
            user_id, frames = self._user_id(msg)
            self._on_request(frames, user_id)

    def _on_request(self, msg: list[bytes], user_id: str | None) -> None:
        raise NotImplementedError

    def _malformed(self, msg: list[Any], layout: str) -> None:
        self.stats.malformed += 1
        if not self._warned:
            self._warned = True
            _log.warning(
                "%s dropped a message not framed %s: %d frames",
                type(self).__name__,
                layout,
                len(msg),
            )

    # -- internals ----------------------------------------------------------------

    def _expire(self, task: asyncio.Future[Any]) -> None:
        if task in self._tasks:
            self._tasks[task] = None
            self.stats.expired += 1
            task.cancel()

    def _task_done(
        self, task: asyncio.Future[Any], name: str, args: Any, kwargs: Any, finish: Finish
    ) -> None:
        timer = self._tasks.pop(task, None)
        if timer is not None:
            timer.cancel()
        if not self._closed and not self.stream.receiving():
            self._listen()
        if task.cancelled():
            return
        error = task.exception()
        self._done(name, args, kwargs, None if error else task.result(), error, finish)

    def _done(
        self,
        name: str,
        args: Any,
        kwargs: Any,
        result: Any,
        error: BaseException | None,
        finish: Finish,
    ) -> None:
        if error is not None:
            self.stats.failed += 1
            if self._log_exceptions and not isinstance(error, self._exclude):
                _log.error(
                    "An exception %r from method %r call occurred.\nargs = %s\nkwargs = %s",
                    error,
                    name,
                    reprlib.repr(args),
                    reprlib.repr(kwargs),
                    exc_info=(type(error), error, error.__traceback__),
                )
        if not self._closed:
            finish(result, error)


def start(
    cls: type[S],
    kind: int,
    handler: Any,
    sockets: SocketArgs,
    codec: Codec | None,
    translation_table: TranslationTable | None,
    log_exceptions: bool,
    exclude_log_exceptions: Iterable[type[BaseException]],
    timeout: float | timedelta | None,
    max_concurrent: int,
) -> S:
    """A server of class ``cls`` on a socket of type ``kind``: what every ``serve_*`` does."""
    seconds = optional_seconds("timeout", timeout)
    bound = positive_int("max_concurrent", max_concurrent)
    chosen = pick_codec(codec, translation_table)
    exclude = tuple(exclude_log_exceptions)
    stream = open_stream(kind, *sockets)
    try:
        return cls(stream, handler, chosen, log_exceptions, exclude, seconds, bound)
    except BaseException:
        stream.close(linger=0)
        raise
