"""Pipeline over PUSH/PULL: `connect_pipeline`, `serve_pipeline` (aiozmq.rpc's names).

Owns one-way calls to a pool of workers: ``client.notify.ns.f(*args)``
sends and returns at once; some server runs it; nothing comes back.

Wire format (aiozmq.rpc 1.0's): one message of three frames,
``[name, args, kwargs]``: the dotted method name in UTF-8, then the codec's
encoding of a list and of a map. Anything else is dropped and counted in
``stats.malformed`` (logged once).

Thread-safety: everything runs on the IOLoop thread.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import zmq
from tornado.ioloop import IOLoop

from ._checks import pick_codec
from ._oneway import MethodCall, OneWayClient, OutcomeReporter
from ._serving import Serving, start
from ._sockets import open_stream
from .codec import Codec, TranslationTable

__all__ = ["PipelineClient", "PipelineServer", "connect_pipeline", "serve_pipeline"]


class PipelineClient(OneWayClient):
    """A pipeline client; make it with `connect_pipeline`."""

    @property
    def notify(self) -> Any:
        """``client.notify.ns.f(*args, **kwargs)``: send a call, expect no answer."""
        return MethodCall(self, [], ())


class PipelineServer(Serving):
    """A pipeline server; make it with `serve_pipeline`."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._finish = OutcomeReporter("PipelineServer")
        self._listen()

    def _on_request(self, msg: list[bytes], user_id: str | None) -> None:
        if len(msg) != 3:
            self._malformed(msg, "[name, args, kwargs]")
            return
        self._run(msg[0], msg[1], msg[2], None, user_id, self._finish)


async def connect_pipeline(
    *,
    connect: str | Iterable[str] | None = None,
    bind: str | Iterable[str] | None = None,
    context: zmq.Context[Any] | None = None,
    socket: zmq.Socket[Any] | None = None,
    codec: Codec | None = None,
    translation_table: TranslationTable | None = None,
    io_loop: IOLoop | None = None,
) -> PipelineClient:
    """A pipeline client over a PUSH.

    Example::

        client = await connect_pipeline(connect="tcp://127.0.0.1:5556")
        await client.notify.log("started")
    """
    chosen = pick_codec(codec, translation_table)
    return PipelineClient(open_stream(zmq.PUSH, context, socket, bind, connect, io_loop), chosen)


async def serve_pipeline(
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
) -> PipelineServer:
    """A pipeline server over a PULL, running the methods of ``handler``.

    ``timeout`` cancels a coroutine handler still running after it; at most
    ``max_concurrent`` run at once, then the server stops reading.
    """
    return start(
        PipelineServer,
        zmq.PULL,
        handler,
        (context, socket, bind, connect, io_loop),
        codec,
        translation_table,
        log_exceptions,
        exclude_log_exceptions,
        timeout,
        max_concurrent,
    )
