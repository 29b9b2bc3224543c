"""LazyPirateClient: client-side reliability over a list of servers ("lazy pirate").

Owns retrying: which server a request goes to, what happens when one does
not answer in time, and when to give up. Correlation and framing are
`RequestClient`'s (see tzmq.rpc.client for the wire format), so any server
that answers a `RequestClient` answers this one.

Each endpoint gets its own `RequestClient` (one DEALER connected to that
endpoint alone), and requests start round-robin over them, each retry going to the endpoint
after the one that failed it. When a request times
out on an endpoint, that endpoint's socket is closed and replaced by a fresh
one (its queued messages and late replies go with it), the requests that were
in flight on it are retried elsewhere at once, and the timed-out request is
retried on the next endpoint. So a dead server costs each request at most one
timeout, instead of swallowing its share of all requests for good. A request
is sent at most ``retries + 1`` times: servers must treat requests as
idempotent.

Thread-safety: everything runs on the client's IOLoop thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import zmq
from tornado.ioloop import IOLoop

from ._checks import endpoints as check_endpoints
from ._checks import frames as check_frames
from ._checks import optional_seconds, positive_int, seconds
from .client import ClientStats, RequestClient
from .errors import ClientClosedError, RequestTimeout

__all__ = ["LazyPirateClient"]


class LazyPirateClient:
    """Requests with retries on timeout, over one or more server endpoints.

    Example::

        client = LazyPirateClient(
            ["tcp://127.0.0.1:5555", "tcp://127.0.0.1:5556"], timeout=1.0, retries=2
        )
        reply = await client.request(b"work")   # RequestTimeout after 3 tries

    ``timeout`` is the deadline of each try; ``max_in_flight`` bounds each
    endpoint's socket as in `RequestClient`.
    """

    def __init__(
        self,
        endpoints: str | Sequence[str],
        context: zmq.Context[Any] | None = None,
        *,
        timeout: float | timedelta = 2.5,
        retries: int = 3,
        max_in_flight: int = 1000,
        io_loop: IOLoop | None = None,
    ) -> None:
        self._endpoints = check_endpoints("endpoints", endpoints)
        if not self._endpoints:
            raise ValueError("LazyPirateClient needs at least one endpoint")
        if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
            raise ValueError(f"retries must be an int >= 0, not {retries!r}")
        if context is not None and not isinstance(context, zmq.Context):
            raise TypeError(f"context must be a zmq.Context, not {type(context).__name__}")
        self._context = context or zmq.Context.instance()
        self._timeout = seconds("timeout", timeout)
        self._retries = retries
        self._max_in_flight = positive_int("max_in_flight", max_in_flight)
        self.io_loop = io_loop or IOLoop.current()
        self.stats = ClientStats()
        self._clients = [self._fresh(endpoint) for endpoint in self._endpoints]
        self._next = 0
        self._closed = False

    def __repr__(self) -> str:
        return f"<LazyPirateClient endpoints={self._endpoints}>"

    def closed(self) -> bool:
        """True once `close` was called."""
        return self._closed

    async def request(
        self,
        *frames: Any,
        timeout: float | timedelta | None = None,
        retries: int | None = None,
    ) -> list[bytes]:
        """Send ``frames`` until a server answers; return the reply's frames.

        Raises `RequestTimeout` once ``retries + 1`` tries (the client's
        numbers unless given here) went unanswered, `ClientClosedError` if
        the client closes meanwhile. Cancelling withdraws the request.
        """
        parts = check_frames(frames, "request")
        deadline = optional_seconds("timeout", timeout) or self._timeout
        if retries is not None and (not isinstance(retries, int) or retries < 0):
            raise ValueError(f"retries must be an int >= 0, not {retries!r}")
        tries = 1 + (self._retries if retries is None else retries)
        left = tries
        if self._closed:
            raise ClientClosedError("request on a closed LazyPirateClient")
        self.stats.requests += 1
        index = self._next
        self._next = (index + 1) % len(self._clients)
        while True:
            client = self._clients[index]
            try:
                reply = await client.request(*parts, timeout=deadline)
            except RequestTimeout:
                self.stats.timeouts += 1
                if self._clients[index] is client:
                    self._replace(index)
            except ClientClosedError:
                if self._closed:
                    raise
                # Another request's timeout replaced this socket before this
                # one had its full time: not a try of its own, go elsewhere.
                self.stats.retries += 1
                index = (index + 1) % len(self._clients)
                continue
            else:
                self.stats.replies += 1
                return reply
            left -= 1
            if left <= 0:
                raise RequestTimeout(f"no reply after {tries} tries")
            self.stats.retries += 1
            index = (index + 1) % len(self._clients)

    def close(self, linger: int | None = None) -> None:
        """Fail pending requests with `ClientClosedError` and close every socket."""
        if self._closed:
            return
        self._closed = True
        for client in self._clients:
            client.close(linger=linger)

    def _fresh(self, endpoint: str) -> RequestClient:
        return RequestClient(
            self._context,
            connect=endpoint,
            max_in_flight=self._max_in_flight,
            io_loop=self.io_loop,
        )

    def _replace(self, index: int) -> None:
        old = self._clients[index]
        self._clients[index] = self._fresh(self._endpoints[index])
        old.close(linger=0)
