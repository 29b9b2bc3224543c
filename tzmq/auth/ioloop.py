"""IOLoopAuthenticator: the ZAP policy of `tzmq.auth.zap` served on a Tornado IOLoop.

A drop-in for pyzmq's ``zmq.auth.ioloop.IOLoopAuthenticator`` (same names and
signatures; configuration as in `ZAPPolicy`). The handler is a ROUTER socket
bound to ``inproc://zeromq.zap.01`` in the given context and served by a
`tzmq.ZMQStream`. Each request is answered as soon as its decision is known,
so a credentials callback that awaits (a database, a remote service) holds up
its own handshake only: pyzmq answers one request at a time on a REP socket,
and one slow callback stalls every peer behind it.

Thread-safety: call everything on the IOLoop's thread (or before the loop
runs); decisions are made and replies sent there.
"""

from __future__ import annotations

import asyncio
import functools
from typing import TYPE_CHECKING, Any

import zmq
from tornado.ioloop import IOLoop

from ..stream import StreamClosedError, ZMQStream
from .zap import ZAP_ENDPOINT, Decision, PendingDecision, ZAPPolicy

if TYPE_CHECKING:
    from .zap import Logger

__all__ = ["IOLoopAuthenticator"]


class IOLoopAuthenticator(ZAPPolicy):
    """ZAP authentication for the sockets of one context, served on an IOLoop.

    ``context`` defaults to ``zmq.Context.instance()``; any `zmq.Context`
    (subclasses too) works, and the ZAP socket is always a plain
    `zmq.Socket`. ``io_loop`` defaults to the current IOLoop when `start` is
    called. Until configured, NULL clients are allowed and PLAIN and CURVE
    clients denied (see `ZAPPolicy` for the rules)::

        auth = IOLoopAuthenticator(ctx)
        auth.allow("127.0.0.1")
        auth.configure_curve(domain="*", location="public_keys")
        auth.start()
        server = ctx.socket(zmq.ROUTER)
        server.curve_server = True
        ...
        auth.stop()

    Stop it before terminating the context: an open ZAP socket keeps
    ``context.term()`` waiting, as any open socket does.
    """

    context: zmq.Context[Any]
    zap_socket: zmq.Socket[Any] | None
    io_loop: IOLoop | None

    def __init__(
        self,
        context: zmq.Context[Any] | None = None,
        encoding: str = "utf-8",
        log: Logger | None = None,
        io_loop: IOLoop | None = None,
    ) -> None:
        if context is None:
            context = zmq.Context.instance()
        elif not isinstance(context, zmq.Context):
            raise TypeError(f"context must be a zmq.Context, not {type(context).__name__}")
        if io_loop is not None and not isinstance(io_loop, IOLoop):
            raise TypeError(f"io_loop must be a tornado IOLoop, not {type(io_loop).__name__}")
        super().__init__(encoding, log)
        self.context = context
        self.io_loop = io_loop
        self.zap_socket = None
        self._stream: ZMQStream | None = None
        self._pending: dict[asyncio.Future[object], PendingDecision] = {}

    def __repr__(self) -> str:
        state = "started" if self._running() else "stopped"
        return f"<IOLoopAuthenticator {state} on {self.context!r}>"

    def _running(self) -> bool:
        # The stream closes itself if the context is terminated under it.
        return self._stream is not None and not self._stream.closed()

    def start(self) -> None:
        """Bind the ZAP socket and answer requests on the IOLoop. Idempotent.

        Raises `zmq.ZMQError` (EADDRINUSE) if another ZAP handler is already
        bound in this context.
        """
        if self._running():
            return
        loop = self.io_loop or IOLoop.current()
        socket = self.context.socket(zmq.ROUTER, socket_class=zmq.Socket)
        try:
            # Replies go straight into the inproc pipes, which their readers
            # drain even after we close; a short linger (pyzmq's) is enough
            # and keeps context.term() from waiting on us.
            socket.linger = 1
            socket.bind(ZAP_ENDPOINT)
            stream = ZMQStream(socket, loop)
        except BaseException:
            socket.close(linger=0)
            raise
        stream.on_recv(functools.partial(self._on_request, stream))
        self._stream = stream
        self.zap_socket = socket
        self.log.debug("ZAP handler started on %s", ZAP_ENDPOINT)

    def stop(self) -> None:
        """Close the ZAP socket. Idempotent.

        Credentials callbacks still pending are cancelled and their clients
        denied (500) at once, rather than left to libzmq's handshake timeout.

        Note libzmq's rule: with no ZAP handler bound in a context, CURVE
        servers accept every client key (and NULL servers every client).
        Stop the authenticator only together with the sockets it guards.
        """
        stream = self._stream
        if stream is None:
            return
        self._stream = None
        self.zap_socket = None
        pending, self._pending = self._pending, {}
        for future, decision in pending.items():
            try:
                future.cancel()
            except RuntimeError:
                # stop() after IOLoop.close(): the callback can never run again,
                # and asyncio refuses to schedule its wake-up. The ZAP socket must
                # still close below, or ctx.term() waits for it forever.
                if not future.get_loop().is_closed():
                    raise
            self._reply(stream, decision.abandon())
        if not stream.closed():
            # Unbinding an inproc endpoint is immediate, closing is not: a
            # start() right after stop() (here or in another authenticator)
            # could otherwise find the endpoint still taken.
            try:
                stream.socket.unbind(ZAP_ENDPOINT)
            except zmq.ZMQError as error:
                self.log.debug("ZAP socket unbind: %s", error)
        stream.close()
        self.log.debug("ZAP handler stopped (%d pending decisions abandoned)", len(pending))

    def _on_request(self, stream: ZMQStream, frames: list[bytes]) -> None:
        outcome = self.handle(frames)
        if isinstance(outcome, PendingDecision):
            self._wait(stream, outcome)
        elif outcome is not None:
            self._reply(stream, outcome)

    def _wait(self, stream: ZMQStream, pending: PendingDecision) -> None:
        try:
            loop = stream.io_loop.asyncio_loop  # type: ignore[attr-defined]
            future = asyncio.ensure_future(pending.verdict, loop=loop)
        except Exception as error:  # a future of another loop, say
            self._reply(stream, pending.fail(error))
            return
        self._pending[future] = pending
        future.add_done_callback(functools.partial(self._settled, stream))

    def _settled(self, stream: ZMQStream, future: asyncio.Future[object]) -> None:
        pending = self._pending.pop(future, None)
        if pending is None:
            return  # cancelled by stop(): nobody to answer
        if future.cancelled():
            error: BaseException | None = asyncio.CancelledError("credentials callback cancelled")
        else:
            error = future.exception()
        decision = pending.resolve(future.result()) if error is None else pending.fail(error)
        self._reply(stream, decision)

    def _reply(self, stream: ZMQStream, decision: Decision) -> None:
        if stream.closed():
            return
        try:
            stream.send_multipart(decision.reply)
        except (zmq.ZMQError, StreamClosedError) as error:
            # ROUTER drops replies to vanished peers silently; this is the
            # stream or context going away under us.
            self.log.warning("ZAP reply not sent (%s): %r", error, decision)
