"""RPC over DEALER/ROUTER: `connect_rpc`, `serve_rpc`, wire-compatible with aiozmq.rpc 1.0.

Owns the RPC request/response framing, the client's call syntax
(``await client.call.ns.f(*args, **kwargs)``) and the server's replies.

Wire format (aiozmq.rpc's; native byte order, no padding):

* request, client to server: ``[header, name, args, kwargs]``, where
  ``header`` is ``struct "=HHLd"``: the client's pid and a random number
  (16 bits each, naming the client), the request id (32 bits), and a float;
  ``name`` is the dotted method name in UTF-8; ``args`` and ``kwargs`` are
  the codec's encoding of a list and a map. The server's ROUTER sees the
  routing envelope before these four frames and sends it back unchanged.
* response: ``[header, body]``, ``header`` being ``struct "=HHLd?"``: the
  server's pid and random number, the request id, a float, and "is an
  error". ``body`` is the encoded result, or the error as
  ``[module.qualname, args, repr]``.

The float: aiozmq puts its send time there and no aiozmq peer reads it.
tzmq uses it, compatibly:

* in a request, minus the seconds left before the caller's deadline; a tzmq
  server reads a negative value as that deadline (a positive one, from an
  aiozmq client, as "none given": the server's own ``timeout`` applies), and
  cancels a handler still running at it, as the caller times out;
* in a response, -1.0 from a tzmq server: "I understand withdrawals".
  A client that has seen one sends, when a caller cancels a call, a
  withdrawal ``[header, b"", b"", b""]`` (the call's id, an empty name),
  and the server cancels that call's handler. aiozmq servers are never sent
  one. With a client connected to several servers the withdrawal may reach
  another one, which ignores it; the deadline still ends the call.

Encoding (`JsonCodec` by default, `MsgpackCodec` for aiozmq peers) must
match on both ends.

Thread-safety: everything runs on the IOLoop thread.
"""

from __future__ import annotations

import asyncio
import os
import random
import struct
import time
from collections.abc import Hashable, Iterable
from datetime import timedelta
from typing import Any

import zmq
from tornado.ioloop import IOLoop

from ._arguments import CallFrames
from ._checks import optional_seconds, pick_codec, positive_int
from ._correlate import Call, Correlator
from ._dispatch import ErrorTable, error_info, error_table, translate_error
from ._serving import Serving, start
from ._sockets import open_stream
from ._watchdog import Watchdog
from .codec import Codec, TranslationTable
from .errors import ServerUnresponsive, ServiceClosedError, TooManyRequests

__all__ = ["RPCClient", "RPCServer", "connect_rpc", "serve_rpc"]

_REQUEST = struct.Struct("=HHLd")
_RESPONSE = struct.Struct("=HHLd?")
_PREFIX = struct.Struct("=HH")
_CALL_SUFFIX = struct.Struct("=Ld")
_REPLY_SUFFIX = struct.Struct("=Ld?")
_ID_SPACE = 0x100000000
_WITHDRAWALS_UNDERSTOOD = -1.0
_WITHDRAWAL = [b"", b"", b""]


def _prefix() -> bytes:
    return _PREFIX.pack(os.getpid() % 0x10000, random.randrange(0x10000))


class _MethodCall:
    """``client.call.ns.f``: collects the dotted name, calls on ``()``."""

    __slots__ = ("_client", "_names", "_timeout")

    def __init__(self, client: RPCClient, timeout: float | None, names: tuple[str, ...]) -> None:
        self._client = client
        self._timeout = timeout
        self._names = names

    def __getattr__(self, name: str) -> _MethodCall:
        return _MethodCall(self._client, self._timeout, (*self._names, name))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not self._names:
            raise ValueError("RPC method name is empty")
        return self._client._call(".".join(self._names), args, kwargs, self._timeout)


class _WithTimeout:
    """What `RPCClient.with_timeout` returns: the same client, another timeout."""

    def __init__(self, client: RPCClient, timeout: float | None) -> None:
        self._client = client
        self._timeout = timeout

    @property
    def call(self) -> Any:
        return _MethodCall(self._client, self._timeout, ())

    def __enter__(self) -> _WithTimeout:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None


class RPCClient(Correlator):
    """An RPC client; make it with `connect_rpc`.

    ``await client.call.ns.f(1, x=2)`` returns the result or raises the
    remote error (translated by ``error_table``), `RequestTimeout` past the
    deadline. The call returns a future: callback code may add a done
    callback instead of awaiting. Arguments the codec cannot encode raise
    `TypeError` at the call.
    """

    def __init__(
        self,
        stream: Any,
        codec: Codec,
        errors: ErrorTable | None,
        timeout: float | None,
        max_in_flight: int,
        heartbeat: float | None,
    ) -> None:
        super().__init__(stream, timeout, max_in_flight)
        self._codec = codec
        self._call_frames = CallFrames(codec)
        self._errors = error_table(errors)
        self._prefix = _prefix()
        self._counter = 0
        self._closed_future: asyncio.Future[None] = self._loop.create_future()
        self._withdraw = False  # set once a server said it understands withdrawals
        self._heartbeat = heartbeat
        self._watchdog: Watchdog | None = None
        if heartbeat is not None:
            self._watchdog = Watchdog(
                self.io_loop, heartbeat, lambda: len(self._calls), self._probe, self._give_up
            )

    @property
    def call(self) -> Any:
        """``client.call.ns.f(*args, **kwargs)``: call a remote method."""
        return _MethodCall(self, None, ())

    def with_timeout(self, timeout: float | timedelta | None) -> _WithTimeout:
        """This client with another deadline: ``client.with_timeout(1).call.f()``."""
        return _WithTimeout(self, optional_seconds("timeout", timeout))

    @property
    def transport(self) -> Any:
        """The stream under the client: bind/unbind/connect/disconnect live on it."""
        if self._closed:
            raise ServiceClosedError("RPCClient is closed")
        return self.stream

    def close(self, linger: int | None = None) -> None:
        if self._watchdog is not None:
            self._watchdog.stop()
        super().close(linger)
        if not self._closed_future.done():
            self._closed_future.set_result(None)

    async def wait_closed(self) -> None:
        """Wait until `close` was called."""
        await asyncio.shield(self._closed_future)

    def _call(self, name: str, args: Any, kwargs: Any, timeout: float | None) -> Any:
        return self._start(self._call_frames.pack(name, args, kwargs), timeout, None, False)

    def _new_id(self) -> Hashable:
        counter = self._counter
        while True:
            counter = (counter + 1) % _ID_SPACE
            if counter not in self._calls:
                self._counter = counter
                return counter

    def _probe(self) -> None:
        try:
            probe = self._call("", (), {}, self._heartbeat)
        except TooManyRequests:
            return  # the window is full: the calls in it will answer, or not
        probe.add_done_callback(lambda done: done.cancelled() or done.exception())

    def _give_up(self) -> None:
        for call in list(self._calls.values()):
            if not call.future.done():
                self.stats.timeouts += 1
                call.future.set_exception(ServerUnresponsive("the server stopped answering"))

    def _frames(self, call: Call) -> list[Any]:
        if self._watchdog is not None and len(self._calls) == 1:
            self._watchdog.busy()
        if call.deadline is None:
            stamp = time.time()
        else:
            stamp = -max(call.deadline - self._loop.time(), 1e-6)
        return [self._prefix + _CALL_SUFFIX.pack(call.id, stamp), *call.payload]

    def _withdrawn(self, call: Call) -> None:
        if self._withdraw:
            self.stream.send_multipart(
                [self._prefix + _CALL_SUFFIX.pack(call.id, 0.0), *_WITHDRAWAL]
            )

    def _on_reply(self, msg: list[bytes]) -> None:
        try:
            header, body = msg
            _, _, req_id, stamp, is_error = _RESPONSE.unpack(header)
            answer = self._codec.unpackb(body)
        except (ValueError, struct.error):
            self._malformed(msg, "[header, body]")
            return
        if stamp == _WITHDRAWALS_UNDERSTOOD:
            self._withdraw = True
        if self._watchdog is not None:
            self._watchdog.heard()
        if is_error:
            self._settle(req_id, error=translate_error(answer, self._errors))
        else:
            self._settle(req_id, answer)


class RPCServer(Serving):
    """An RPC server; make it with `serve_rpc`."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._prefix = _prefix()
        self._running: dict[tuple[bytes, ...], asyncio.Future[Any]] = {}
        self._listen()

    def _on_request(self, msg: list[bytes], user_id: str | None) -> None:
        if len(msg) < 5:
            self._malformed(msg, "[*envelope, header, name, args, kwargs]")
            return
        envelope = msg[:-4]
        header, bname, bargs, bkwargs = msg[-4:]
        try:
            _, _, req_id, stamp = _REQUEST.unpack(header)
        except struct.error:
            self._malformed(msg, "[*envelope, header, name, args, kwargs]")
            return
        key = (*envelope, header[4:8])  # the call, as a withdrawal names it
        if [bname, bargs, bkwargs] == _WITHDRAWAL:
            withdrawn = self._running.get(key)
            if withdrawn is not None:
                self.stats.cancelled += 1
                withdrawn.cancel()
            return
        remaining = -stamp if stamp < 0 else None

        def finish(result: Any, error: BaseException | None) -> None:
            self._reply(envelope, req_id, result, error)

        task = self._run(bname, bargs, bkwargs, remaining, user_id, finish)
        if task is not None:
            self._running[key] = task
            task.add_done_callback(lambda _: self._running.pop(key, None))

    def _reply(
        self, envelope: list[bytes], req_id: int, result: Any, error: BaseException | None
    ) -> None:
        try:
            body = self._codec.packb(result if error is None else error_info(error))
        except (TypeError, ValueError) as failure:
            # Text alone always encodes: the error's type and repr, or why the
            # result could not be sent.
            if error is None:
                error = TypeError(f"cannot encode the result: {failure}")
            kind, _, text = error_info(error)
            body = self._codec.packb([kind, [str(a) for a in error.args], text])
        header = self._prefix + _REPLY_SUFFIX.pack(
            req_id, _WITHDRAWALS_UNDERSTOOD, error is not None
        )
        self.stats.replies += 1
        self.stream.send_multipart([*envelope, header, body])


async def connect_rpc(
    *,
    connect: str | Iterable[str] | None = None,
    bind: str | Iterable[str] | None = None,
    context: zmq.Context[Any] | None = None,
    socket: zmq.Socket[Any] | None = None,
    codec: Codec | None = None,
    translation_table: TranslationTable | None = None,
    error_table: ErrorTable | None = None,
    timeout: float | timedelta | None = None,
    max_in_flight: int = 1000,
    heartbeat: float | timedelta | None = None,
    io_loop: IOLoop | None = None,
) -> RPCClient:
    """An RPC client over a DEALER.

    Example::

        client = await connect_rpc(connect="tcp://127.0.0.1:5555", timeout=2)
        assert await client.call.add(1, 2) == 3
        client.close()

    ``timeout`` is each call's deadline (None: none); it travels to the
    server, which cancels the handler once it passes. ``codec`` defaults to
    `JsonCodec(translation_table)`; use `MsgpackCodec` to talk to aiozmq.
    With ``heartbeat``, a server that answers nothing (not even a probe) for
    two heartbeats fails the calls in flight with `ServerUnresponsive`
    (see `tzmq.rpc._watchdog`).
    """
    seconds = optional_seconds("timeout", timeout)
    window = positive_int("max_in_flight", max_in_flight)
    beat = optional_seconds("heartbeat", heartbeat)
    chosen = pick_codec(codec, translation_table)
    stream = open_stream(zmq.DEALER, context, socket, bind, connect, io_loop)
    return RPCClient(stream, chosen, error_table, seconds, window, beat)


async def serve_rpc(
    handler: Any,
    *,
    bind: str | Iterable[str] | None = None,
    connect: str | Iterable[str] | None = None,
    context: zmq.Context[Any] | None = None,
    socket: zmq.Socket[Any] | None = None,
    codec: Codec | None = None,
    translation_table: TranslationTable | None = None,
    log_exceptions: bool = False,
    exclude_log_exceptions: Iterable[type[BaseException]] = (),
    timeout: float | timedelta | None = None,
    max_concurrent: int = 1000,
    io_loop: IOLoop | None = None,
) -> RPCServer:
    """An RPC server over a ROUTER, calling the methods of ``handler``.

    Example::

        class Service(AttrHandler):
            @method
            def add(self, a: int, b: int) -> int:
                return a + b

        server = await serve_rpc(Service(), bind="tcp://127.0.0.1:5555")

    ``timeout`` bounds coroutine handlers of calls that bring no deadline
    (aiozmq clients); a call's own deadline wins. At most
    ``max_concurrent`` coroutine handlers run at once; beyond that the
    server stops reading and requests wait in libzmq.
    """
    return start(
        RPCServer,
        zmq.ROUTER,
        handler,
        (context, socket, bind, connect, io_loop),
        codec,
        translation_table,
        log_exceptions,
        exclude_log_exceptions,
        timeout,
        max_concurrent,
    )
