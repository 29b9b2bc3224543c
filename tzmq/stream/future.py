"""Future-returning Context and Socket for ``async def`` and ``gen.coroutine`` code.

Owns the public face of the coroutine API: `Context`, whose sockets are
`Socket`, whose ``recv*``/``send*``/``poll`` return futures, and each
socket's figures (``socket.stats``, counted by its pending calls). The pending
calls live in `tzmq.stream._futurecalls`; readiness comes from
`tzmq.stream._watch`, the same engine `ZMQStream` runs on.

Drop-in for ``zmq.eventloop.future`` (same names and signatures), and better:

* Calls complete at once when libzmq can act at once; pending ones are served
  in FIFO order, many per wake-up; a backlog is read at socket speed.
* Queued sends drain in linear time (pyzmq's future socket is quadratic).
* ``future.cancel()`` raises ``asyncio.CancelledError`` in the awaiting
  coroutine and never consumes a message; ``RCVTIMEO``/``SNDTIMEO`` (read
  when a call is made) fail that call with `zmq.Again` at the deadline.
* ``async for msg in socket`` yields multipart messages until the socket is
  closed, then ends cleanly.

Example::

    ctx = tzmq.Context()
    pull = ctx.socket(zmq.PULL)
    pull.bind("tcp://127.0.0.1:5555")

    async def consume():
        async for msg in pull:          # ends when pull.close() is called
            print(msg)

Thread-safety: a future socket belongs to the IOLoop it is first used on (or
the ``io_loop`` given); call it only from that loop's thread. ``stats`` may be
read from any thread (slightly stale there).
"""

from __future__ import annotations

import asyncio
import pickle
from asyncio import get_running_loop
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import zmq
from tornado.ioloop import IOLoop

from .. import _jsonapi
from . import _frames
from ._futurecalls import RECV, RECV_INTO, RECV_MULTIPART, FutureCalls
from .stats import Counters, SocketStats

__all__ = ["CancelledError", "Context", "Socket"]

CancelledError = asyncio.CancelledError
"""What awaiting a cancelled call raises (pyzmq's tornado layer had its own class)."""

_EVENTS = int(zmq.EVENTS)


def _decode(encoding: str) -> Callable[[bytes], str]:
    def decode(data: bytes) -> str:
        return data.decode(encoding)

    return decode


class Socket(zmq.Socket[Any]):
    """A zmq socket whose receives, sends and polls return futures.

    Make one with ``tzmq.Context().socket(zmq.PULL)``, or wrap an existing
    socket with ``Socket(sock)`` / ``Socket.from_socket(sock)``.
    """

    _calls: FutureCalls | None = None
    _counters: Counters
    _raw: zmq.Socket[Any]
    _wrapped: zmq.Socket[Any] | None = None
    _io_loop: IOLoop | None = None

    def __init__(
        self,
        context: zmq.Context[Any] | zmq.Socket[Any] | None = None,
        socket_type: int = -1,
        io_loop: IOLoop | None = None,
        _from_socket: zmq.Socket[Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if isinstance(context, zmq.Socket):
            context, _from_socket = None, context
        if io_loop is not None and not isinstance(io_loop, IOLoop):
            raise TypeError(f"io_loop must be a tornado IOLoop, not {type(io_loop).__name__}")
        if _from_socket is not None:
            super().__init__(shadow=_from_socket.underlying, **kwargs)
        elif "shadow" in kwargs:
            super().__init__(**kwargs)
        elif context is None:
            raise TypeError("Socket needs a zmq.Context (or a socket to wrap)")
        else:
            super().__init__(context, socket_type, **kwargs)
        # Plain attributes, set past zmq.Socket's option-mapping __setattr__.
        object.__setattr__(self, "_raw", zmq.Socket.shadow(self.underlying))
        # Held so it lives as long as we do: its __del__ would close the libzmq
        # socket under us once the caller dropped it (pyzmq holds it too).
        object.__setattr__(self, "_wrapped", _from_socket)
        object.__setattr__(self, "_io_loop", io_loop)
        object.__setattr__(self, "_counters", Counters("Socket", int(self.type)))

    @classmethod
    def from_socket(cls, socket: zmq.Socket[Any], io_loop: IOLoop | None = None) -> Socket:
        """A future socket on the same libzmq socket as ``socket``."""
        return cls(_from_socket=socket, io_loop=io_loop)

    # -- which loop ------------------------------------------------------------

    def _pending(self) -> FutureCalls:
        """The calls of the loop running in this thread (binding the socket to it)."""
        calls = self._calls
        if calls is not None:
            try:
                if get_running_loop() is calls.aio_loop:
                    return calls
            except RuntimeError:
                return calls  # no loop runs here: set-up code, before the loop starts
        if self.closed:
            raise zmq.ZMQError(zmq.ENOTSOCK, "socket is closed")
        return self._bind(self._io_loop or IOLoop.current())

    def _bind(self, io_loop: IOLoop) -> FutureCalls:
        calls = self._calls
        if calls is not None:
            if calls.io_loop is io_loop:
                return calls
            if not calls.idle:
                raise RuntimeError(
                    "this future socket has calls pending on another IOLoop; "
                    "a socket serves one loop at a time"
                )
            calls.cancel_all()
        calls = FutureCalls(self, self._raw, io_loop, self._counters)
        object.__setattr__(self, "_calls", calls)
        return calls

    # -- receiving -------------------------------------------------------------

    def recv(  # type: ignore[override]
        self, flags: int = 0, copy: bool = True, track: bool = False
    ) -> asyncio.Future[Any]:
        """Receive one frame: ``bytes``, or a `zmq.Frame` with ``copy=False``."""
        return self._pending().recv(RECV, int(flags), copy, track)

    def recv_multipart(  # type: ignore[override]
        self, flags: int = 0, copy: bool = True, track: bool = False
    ) -> asyncio.Future[list[Any]]:
        """Receive a whole multipart message as a list of frames."""
        calls = self._calls
        if calls is not None:
            # The commonest call (``async for``): `_pending`'s check, inline.
            try:
                if get_running_loop() is calls.aio_loop:
                    return calls.recv(RECV_MULTIPART, int(flags), copy, track)
            except RuntimeError:
                pass  # no loop runs in this thread: `_pending` decides
        return self._pending().recv(RECV_MULTIPART, int(flags), copy, track)

    def recv_into(  # type: ignore[override]
        self, buf: Any, /, *, nbytes: int = 0, flags: int = 0
    ) -> asyncio.Future[int]:
        """Receive one frame into ``buf``; the result is the frame's full size."""
        # Fail here, not inside the loop, for a buffer libzmq cannot write.
        if memoryview(buf).readonly:
            raise TypeError(f"recv_into() needs a writable buffer, not {type(buf).__name__}")
        return self._pending().recv(RECV_INTO, int(flags), True, False, None, (buf, nbytes))

    def recv_string(  # type: ignore[override]
        self, flags: int = 0, encoding: str = "utf-8"
    ) -> asyncio.Future[str]:
        """Receive one frame decoded as text; a decode error fails the future."""
        return self._pending().recv(RECV, int(flags), True, False, _decode(encoding))

    def recv_json(self, flags: int = 0, **kwargs: Any) -> asyncio.Future[Any]:  # type: ignore[override]
        """Receive one frame of JSON (simplejson); a decode error fails the future."""

        def load(data: bytes) -> Any:
            return _jsonapi.loads(data, **kwargs)

        return self._pending().recv(RECV, int(flags), True, False, load)

    def recv_pyobj(self, flags: int = 0) -> asyncio.Future[Any]:
        """Receive a pickled object. Unpickling runs code: trusted peers only."""
        return self._pending().recv(RECV, int(flags), True, False, pickle.loads)

    def recv_serialized(  # type: ignore[override]
        self, deserialize: Callable[[list[Any]], Any], flags: int = 0, copy: bool = True
    ) -> asyncio.Future[Any]:
        """Receive a multipart message and return ``deserialize(frames)``."""
        if not callable(deserialize):
            raise TypeError("deserialize must be callable")
        return self._pending().recv(RECV_MULTIPART, int(flags), copy, False, deserialize)

    # -- sending ---------------------------------------------------------------

    def send(  # type: ignore[override]
        self,
        data: Any,
        flags: int = 0,
        copy: bool = True,
        track: bool = False,
        routing_id: int | None = None,
        group: str | bytes | None = None,
    ) -> asyncio.Future[Any]:
        """Send one frame; the result is a `zmq.MessageTracker` with ``track=True``.

        ``routing_id``/``group`` (libzmq's DRAFT options) are checked here.
        """
        calls = self._calls
        if (
            type(data) is bytes
            and not flags
            and copy is True
            and not track
            and routing_id is None
            and group is None
            and calls is not None
        ):
            try:
                if get_running_loop() is calls.aio_loop:
                    return calls.send_frame(data)
            except RuntimeError:
                pass  # no loop runs in this thread: the general path decides
        if type(data) is not bytes:
            _frames.check_frame(data)
        options = _frames.draft_options(routing_id, group)
        return self._pending().send(data, int(flags), copy, track, options)

    def send_multipart(  # type: ignore[override]
        self,
        msg_parts: Sequence[Any],
        flags: int = 0,
        copy: bool = True,
        track: bool = False,
        routing_id: int | None = None,
        group: str | bytes | None = None,
    ) -> asyncio.Future[Any]:
        """Send a multipart message; malformed ones raise here, nothing sent."""
        parts = _frames.check_message(msg_parts)
        options = _frames.draft_options(routing_id, group)
        return self._pending().send(
            parts if type(parts) is list else list(parts), int(flags), copy, track, options
        )

    def send_string(  # type: ignore[override]
        self,
        u: str,
        flags: int = 0,
        copy: bool = True,
        encoding: str = "utf-8",
        **kwargs: Any,
    ) -> asyncio.Future[Any]:
        """Send a str encoded with ``encoding``."""
        if not isinstance(u, str):
            raise TypeError(f"send_string() takes a str, not {type(u).__name__}")
        return self.send(u.encode(encoding), flags, copy, **kwargs)

    def send_json(self, obj: Any, flags: int = 0, **kwargs: Any) -> asyncio.Future[Any]:  # type: ignore[override]
        """Send ``obj`` as JSON (simplejson); unencodable objects raise here."""
        send_kwargs = {key: kwargs.pop(key) for key in ("routing_id", "group") if key in kwargs}
        return self.send(_jsonapi.dumps(obj, **kwargs), flags, **send_kwargs)

    def send_pyobj(  # type: ignore[override]
        self, obj: Any, flags: int = 0, protocol: int = pickle.DEFAULT_PROTOCOL, **kwargs: Any
    ) -> asyncio.Future[Any]:
        """Send ``obj`` pickled. Unpickling runs code: trusted peers only."""
        return self.send(pickle.dumps(obj, protocol), flags, **kwargs)

    def send_serialized(  # type: ignore[override]
        self,
        msg: Any,
        serialize: Callable[[Any], Sequence[Any]],
        flags: int = 0,
        copy: bool = True,
        **kwargs: Any,
    ) -> asyncio.Future[Any]:
        """Send ``serialize(msg)`` as a multipart message."""
        return self.send_multipart(serialize(msg), flags, copy, **kwargs)

    # -- polling, options, closing, figures -------------------------------------

    def poll(  # type: ignore[override]
        self, timeout: float | None = None, flags: int = zmq.POLLIN
    ) -> asyncio.Future[int]:
        """A future for the events in ``flags`` that are ready (0 on timeout, in ms)."""
        if self.closed:
            raise zmq.ZMQError(zmq.ENOTSUP, "poll on a closed socket")
        seconds = None if timeout is None or timeout < 0 else timeout / 1000
        return self._pending().poll(int(flags), seconds)

    def get(self, option: int) -> Any:
        result = super().get(option)
        if option == _EVENTS and self._calls is not None:
            # Reading EVENTS eats the FD's edge: have the watch look again.
            self._calls.watch.wake()
        return result

    getsockopt = get

    def close(self, linger: int | None = None) -> None:
        """Cancel every pending call, then close the socket."""
        calls = self._calls
        if calls is not None:
            calls.cancel_all()
        self._counters.retire()
        was_open = not self.closed
        super().close(linger=linger)
        if was_open and self._wrapped is not None:
            # The wrapped object owns the libzmq socket. Asking it now, while
            # libzmq still marks that socket closed, latches its own closed flag:
            # neither its __del__ nor ctx.destroy() will later close whatever
            # socket libzmq has put at that address since.
            _ = self._wrapped.closed
        if calls is not None and was_open:
            # A ZMQStream sharing this socket learns it is gone, and the FD is released.
            calls.watch.socket_closed()

    @property
    def stats(self) -> SocketStats:
        """This socket's figures now (a `tzmq.stream.SocketStats`); they stay readable after close.

        Safe from any thread: from another one they may be slightly stale.
        """
        return self._counters.snapshot()

    # -- iteration -------------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[list[Any]]:
        return self.messages()

    async def messages(self, copy: bool = True) -> AsyncIterator[list[Any]]:
        """Yield multipart messages until the socket is closed.

        ``async for msg in socket`` is the same with ``copy=True``.
        """
        while not self.closed:
            try:
                yield await self.recv_multipart(copy=copy)
            except CancelledError:
                if self.closed:
                    return
                raise
            except zmq.ZMQError as error:
                if error.errno in (zmq.ENOTSOCK, zmq.ETERM) or self.closed:
                    return
                raise


class Context(zmq.Context[Socket]):
    """A zmq Context whose ``socket()`` makes future `Socket` objects.

    ``Context.instance()`` is its own, independent of ``zmq.Context.instance()``.
    ``ctx.socket(t, socket_class=zmq.Socket)`` still gives a plain socket.
    ``Context(io_loop=loop)`` makes its sockets serve ``loop`` (otherwise the
    loop current at their first call).
    """

    _instance: Any = None
    _socket_class = Socket
    _io_loop: IOLoop | None = None

    def __init__(self, *args: Any, io_loop: IOLoop | None = None, **kwargs: Any) -> None:
        if io_loop is not None and not isinstance(io_loop, IOLoop):
            raise TypeError(f"io_loop must be a tornado IOLoop, not {type(io_loop).__name__}")
        super().__init__(*args, **kwargs)
        object.__setattr__(self, "_io_loop", io_loop)

    def socket(
        self,
        socket_type: int,
        socket_class: Callable[[Context, int], Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        if socket_class is None and self._io_loop is not None:
            kwargs.setdefault("io_loop", self._io_loop)
        return super().socket(socket_type, socket_class, **kwargs)
