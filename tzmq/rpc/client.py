"""RequestClient: many requests in flight over one DEALER, each matched to its reply.

Owns the framing of txZMQ-style requests and replies and their ids; the
table of calls in flight, deadlines and the window are `tzmq.rpc._correlate`'s.

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
from collections.abc import Hashable, Iterable
from datetime import timedelta
from typing import Any

import zmq
from tornado.ioloop import IOLoop

from ._checks import frames as check_frames
from ._checks import optional_seconds, positive_int
from ._correlate import Call, ClientStats, Correlator, ReplyCallback
from ._sockets import open_stream

__all__ = ["ClientStats", "RequestClient"]


class RequestClient(Correlator):
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
        seconds = optional_seconds("timeout", timeout)
        window = positive_int("max_in_flight", max_in_flight)
        stream = open_stream(zmq.DEALER, context, socket, bind, connect, io_loop)
        super().__init__(stream, seconds, window)
        self._counter = 0

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
        return self._start(parts, optional_seconds("timeout", timeout), callback, nowait)

    def _new_id(self) -> Hashable:
        self._counter += 1
        return self._counter.to_bytes(8, "big")

    def _frames(self, call: Call) -> list[Any]:
        return [call.id, b"", *call.payload]

    def _on_reply(self, msg: list[bytes]) -> None:
        if len(msg) < 3 or msg[1]:
            self._malformed(msg, "[id, b'', *frames]")
        else:
            self._settle(msg[0], msg[2:])
