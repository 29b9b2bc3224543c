"""What pipeline and pubsub share: clients that send calls and expect no answer.

Owns the client side of one-way calls (encoding ``[name, args, kwargs]``,
closing) and the server side's handling of their outcome: nobody waits for
it, so a result is dropped and a failure is logged (a call the server
could not run, once per server; a handler's own exception when
``log_exceptions`` is on).

Thread-safety: everything runs on the IOLoop thread.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from tzmq import ZMQStream

from ._arguments import CallFrames
from .codec import Codec
from .errors import NotFoundError, ParametersError, ServiceClosedError

__all__ = ["MethodCall", "OneWayClient", "OutcomeReporter"]

_log = logging.getLogger("tzmq.rpc")


class OneWayClient:
    """Base of `PipelineClient` and `PubSubClient`."""

    def __init__(self, stream: ZMQStream, codec: Codec) -> None:
        self.stream = stream
        self.io_loop = stream.io_loop
        self._frames = CallFrames(codec)
        self._loop: asyncio.AbstractEventLoop = self.io_loop.asyncio_loop  # type: ignore[attr-defined]
        self._closed_future: asyncio.Future[None] = self._loop.create_future()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {'closed' if self.closed() else 'open'}>"

    @property
    def transport(self) -> ZMQStream:
        """The stream under the client: bind/unbind/connect/disconnect live on it."""
        if self.closed():
            raise ServiceClosedError(f"{type(self).__name__} is closed")
        return self.stream

    def closed(self) -> bool:
        """True once `close` was called."""
        return self._closed_future.done()

    def close(self, linger: int | None = None) -> None:
        """Close the socket; calls still queued go to libzmq (``linger`` applies)."""
        if self.closed():
            return
        self._closed_future.set_result(None)
        self.stream.close(linger=linger)

    async def wait_closed(self) -> None:
        """Wait until `close` was called."""
        await asyncio.shield(self._closed_future)

    def _send(self, head: list[bytes], name: str, args: Any, kwargs: Any) -> asyncio.Future[None]:
        """Send ``[*head, name, args, kwargs]``; a done future, as aiozmq returns."""
        if self.closed():
            raise ServiceClosedError(f"{type(self).__name__} is closed")
        if not name:
            raise ValueError("method name is empty")
        self.stream.send_multipart([*head, *self._frames.pack(name, args, kwargs)])
        future: asyncio.Future[None] = self._loop.create_future()
        future.set_result(None)
        return future


class MethodCall:
    """``client.notify.ns.f``: collects the dotted name, sends on ``()``."""

    __slots__ = ("_client", "_head", "_names")

    def __init__(self, client: OneWayClient, head: list[bytes], names: tuple[str, ...]) -> None:
        self._client = client
        self._head = head
        self._names = names

    def __getattr__(self, name: str) -> MethodCall:
        return MethodCall(self._client, self._head, (*self._names, name))

    def __call__(self, *args: Any, **kwargs: Any) -> asyncio.Future[None]:
        return self._client._send(self._head, ".".join(self._names), args, kwargs)


class OutcomeReporter:
    """The ``finish`` of one-way servers: drop results, report failures."""

    def __init__(self, owner: str) -> None:
        self._owner = owner
        self._warned = False

    def __call__(self, result: Any, error: BaseException | None) -> None:
        if isinstance(error, (NotFoundError, ParametersError)) and not self._warned:
            self._warned = True
            _log.warning("%s could not run a call: %r (reported once)", self._owner, error)
