"""Steerable proxies on the IOLoop: `Proxy` and `MonitoredQueue`.

Owns a proxy's sockets and its life: which directions it forwards (from the
socket types), the control socket, pausing and resuming, statistics, and a
close that accounts for every message the proxy had read. Forwarding itself,
with back-pressure, belongs to `tzmq.devices._pump`; the control protocol to
`tzmq.devices._control`.

The three classic shapes work as with ``zmq.proxy``: ROUTER/DEALER (a queue),
XSUB/XPUB (a forwarder; subscriptions flow back from XPUB to XSUB) and
PULL/PUSH (a streamer). A direction is forwarded when its source can receive
and its target can send.

Thread-safety: IOLoop thread only (construct it there, or before the loop
runs). To steer a proxy from another thread use its control socket, or run it
as a `tzmq.devices.ThreadProxy`.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import zmq
from tornado import gen
from tornado.concurrent import Future
from tornado.ioloop import IOLoop

from .._duration import seconds
from ..stream import StreamClosedError, ZMQStream
from ._control import CONTROL_TYPES, Control
from ._pump import Pump
from ._stats import ProxyStatistics, Traffic

__all__ = ["MonitoredQueue", "Proxy"]

_log = logging.getLogger("tzmq.devices")

_SEND_ONLY = frozenset(
    int(getattr(zmq, name)) for name in ("PUSH", "PUB", "RADIO", "SCATTER") if hasattr(zmq, name)
)
_RECEIVE_ONLY = frozenset(
    int(getattr(zmq, name)) for name in ("PULL", "SUB", "DISH", "GATHER") if hasattr(zmq, name)
)

SocketLike = zmq.Socket[Any] | ZMQStream


def _socket_of(role: str, value: object) -> zmq.Socket[Any]:
    if isinstance(value, ZMQStream):
        if value.closed():
            raise StreamClosedError(f"the {role} stream is closed")
        return value.socket
    if isinstance(value, zmq.Socket):
        if value.closed:
            raise StreamClosedError(f"the {role} socket is closed")
        return value
    raise TypeError(f"{role} must be a zmq.Socket or a ZMQStream, not {type(value).__name__}")


def check_prefixes(in_prefix: bytes, out_prefix: bytes) -> tuple[bytes, bytes]:
    """A monitored queue's prefixes, or a TypeError at the call that gave them."""
    for name, prefix in (("in_prefix", in_prefix), ("out_prefix", out_prefix)):
        if not isinstance(prefix, bytes):
            raise TypeError(f"{name} must be bytes, not {type(prefix).__name__}")
    return in_prefix, out_prefix


class Proxy:
    """Forward messages between ``frontend`` and ``backend`` on the IOLoop.

    The steerable ``zmq_proxy_steerable`` of libzmq, served on the loop
    instead of blocking a thread: it starts forwarding at once, in batches
    (the streams' ``max_batch``), and stops reading a side while the other
    side cannot take more (its high-water mark), so messages wait in libzmq
    rather than being lost or piling up in memory. Socket types that drop at
    their mark (PUB, XPUB without ``XPUB_NODROP``, ROUTER without
    ``ROUTER_MANDATORY``) still drop there, as with libzmq's proxy.

    Example: a queue between clients and workers, steerable over REP::

        ctx = zmq.Context()
        frontend, backend = ctx.socket(zmq.ROUTER), ctx.socket(zmq.DEALER)
        frontend.bind("tcp://127.0.0.1:5559")
        backend.bind("tcp://127.0.0.1:5560")
        control = ctx.socket(zmq.REP)
        control.bind("tcp://127.0.0.1:5561")
        proxy = Proxy(frontend, backend, control=control)
        ...
        stats = await proxy.join()      # after close(), TERMINATE, or a socket gone

    Each side may be a `zmq.Socket` (a `tzmq.Socket` too) or a `ZMQStream`.
    The proxy owns them from then on: it sets their receive callbacks,
    lifts a stream's send-queue limits (it queues at most one message per
    direction itself) and closes them all when it closes. ``capture`` gets a
    copy of every message, both ways. ``control`` (REP or PAIR) takes
    libzmq's commands, one frame each: ``PAUSE``, ``RESUME``, ``TERMINATE``
    and ``STATISTICS`` (answered with libzmq's eight ``uint64`` frames, see
    `ProxyStatistics.to_frames`); on REP the others are answered with an
    empty frame, and on either a bad command gets ``[b"ERROR", reason]``.
    """

    def __init__(
        self,
        frontend: SocketLike,
        backend: SocketLike,
        capture: SocketLike | None = None,
        *,
        control: SocketLike | None = None,
        io_loop: IOLoop | None = None,
    ) -> None:
        front = _socket_of("frontend", frontend)
        back = _socket_of("backend", backend)
        sockets = [front, back]
        if capture is not None:
            captured = _socket_of("capture", capture)
            if int(captured.type) in _RECEIVE_ONLY:
                raise ValueError(f"capture cannot send on a {captured.type!r} socket")
            sockets.append(captured)
        if control is not None:
            controlling = _socket_of("control", control)
            if int(controlling.type) not in CONTROL_TYPES:
                raise ValueError(f"control must be a REP or PAIR socket, not {controlling.type!r}")
            sockets.append(controlling)
        if len({sock.underlying for sock in sockets}) != len(sockets):
            raise ValueError("frontend, backend, capture and control must be different sockets")
        forward = int(front.type) not in _SEND_ONLY and int(back.type) not in _RECEIVE_ONLY
        backward = int(back.type) not in _SEND_ONLY and int(front.type) not in _RECEIVE_ONLY
        if not (forward or backward):
            raise ValueError(
                f"nothing to forward between a {front.type!r} frontend and a {back.type!r} backend"
            )
        if io_loop is not None and not isinstance(io_loop, IOLoop):
            raise TypeError(f"io_loop must be a tornado IOLoop, not {type(io_loop).__name__}")
        for given in (frontend, backend, capture, control):
            if isinstance(given, ZMQStream):
                if io_loop is not None and given.io_loop is not io_loop:
                    raise ValueError("every ZMQStream given must run on the proxy's io_loop")
                io_loop = given.io_loop
        self.io_loop = io_loop or IOLoop.current()
        self._closed = False
        self._done: Future[ProxyStatistics] = Future()
        self._final: ProxyStatistics | None = None
        self.frontend = self._stream(frontend)
        self.backend = self._stream(backend)
        self.capture = None if capture is None else self._stream(capture)
        self._pumps: list[Pump] = []
        self._forward: Pump | None = None
        self._backward: Pump | None = None
        if forward:
            prefix, swap = self._pump_options(True)
            self._forward = self._pump(self.frontend, self.backend, prefix, swap)
        if backward:
            prefix, swap = self._pump_options(False)
            self._backward = self._pump(self.backend, self.frontend, prefix, swap)
        self._control = None if control is None else Control(self._stream(control), self)
        for pump in self._pumps:
            pump.start()

    def _stream(self, given: SocketLike) -> ZMQStream:
        if isinstance(given, ZMQStream):
            stream = given
            stream.set_queue_limits()
        else:
            stream = ZMQStream(given, self.io_loop)
        stream.set_close_callback(self._stream_closed)
        return stream

    def _pump(self, source: ZMQStream, target: ZMQStream, prefix: bytes | None, swap: bool) -> Pump:
        pump = Pump(source, target, self.capture, prefix, swap, self._socket_gone)
        self._pumps.append(pump)
        return pump

    def _pump_options(self, forward: bool) -> tuple[bytes | None, bool]:
        """The capture prefix and id swap of one direction (overridden by `MonitoredQueue`)."""
        return None, False

    # -- steering -----------------------------------------------------------------

    @property
    def paused(self) -> bool:
        """True between `pause` and `resume`."""
        return any(pump.paused for pump in self._pumps)

    def pause(self) -> None:
        """Stop forwarding; messages wait in libzmq (``PAUSE``). No-op once closed."""
        if not self._closed:
            for pump in self._pumps:
                pump.pause()

    def resume(self) -> None:
        """Forward again after `pause` (``RESUME``). No-op once closed."""
        if not self._closed:
            for pump in self._pumps:
                pump.resume()

    def statistics(self) -> ProxyStatistics:
        """Counters so far (``STATISTICS``); after close, the final ones."""
        if self._final is not None:
            return self._final
        return self._snapshot(0)

    def _snapshot(self, unsent: int) -> ProxyStatistics:
        nothing = Traffic()
        forward, backward = self._forward, self._backward
        return ProxyStatistics(
            frontend_received=forward.received.snapshot() if forward else nothing,
            frontend_sent=backward.sent.snapshot() if backward else nothing,
            backend_received=backward.received.snapshot() if backward else nothing,
            backend_sent=forward.sent.snapshot() if forward else nothing,
            captured=sum(pump.captured for pump in self._pumps),
            dropped=sum(pump.dropped for pump in self._pumps),
            unsent=unsent,
        )

    # -- closing ------------------------------------------------------------------

    def closed(self) -> bool:
        """True once the proxy closed (`close`, ``TERMINATE``, or a socket gone)."""
        return self._closed

    def close(self, linger: int | None = None) -> int:
        """Stop forwarding and close every socket; return how many messages were not sent.

        Messages the proxy had read and queued are handed to libzmq first (so
        ``LINGER``, or ``linger`` here, decides their fate, as for any
        socket); those libzmq would not take are counted in the return value
        and ``statistics().unsent`` and logged. Messages never read stay
        libzmq's. Idempotent (``TERMINATE`` calls it).
        """
        if self._closed:
            return 0
        self._closed = True
        streams = [self.frontend, self.backend, self.capture]
        if self._control is not None:
            streams.append(self._control.stream)
        unsent_of: dict[int, int] = {}
        for stream in streams:
            if stream is not None:
                stream.set_close_callback(None)
                unsent_of[id(stream)] = stream.close(linger)
        unsent = sum(pump.stop(unsent_of[id(pump.target)]) for pump in self._pumps)
        if self.capture is not None:
            unsent += unsent_of[id(self.capture)]
        self._final = self._snapshot(unsent)
        if unsent:
            _log.warning("proxy closed: %d message(s) could not be handed to libzmq", unsent)
        self._done.set_result(self._final)
        return unsent

    def join(self, timeout: float | timedelta | None = None) -> Future[ProxyStatistics]:
        """A future of the final statistics, resolved when the proxy closes.

        With ``timeout``, it fails with `TimeoutError` if the proxy is still
        running then (the proxy itself is left alone).
        """
        if timeout is None:
            return self._done
        return gen.with_timeout(
            timedelta(seconds=seconds("timeout", timeout, zero=True)), self._done
        )

    def _stream_closed(self) -> None:
        _log.info("proxy: one of its sockets closed or went away; closing the proxy")
        self.close()

    def _socket_gone(self) -> None:
        self.close()


class MonitoredQueue(Proxy):
    """pyzmq's ``monitored_queue`` on the IOLoop: a `Proxy` that reports to ``monitor``.

    Every message is forwarded and also sent to ``monitor`` (usually a PUB)
    with one frame in front: ``in_prefix`` for messages from ``in_socket``,
    ``out_prefix`` for those from ``out_socket``. Between two ROUTER sockets
    the first two frames (sender and addressee ids) are swapped on the way
    through, as pyzmq does, so replies find their way back; the monitor sees
    the message as forwarded.

    Example::

        queue = MonitoredQueue(router_in, dealer_out, pub, in_prefix=b"in", out_prefix=b"out")
    """

    def __init__(
        self,
        in_socket: SocketLike,
        out_socket: SocketLike,
        monitor: SocketLike,
        in_prefix: bytes = b"in",
        out_prefix: bytes = b"out",
        *,
        control: SocketLike | None = None,
        io_loop: IOLoop | None = None,
    ) -> None:
        self._prefixes = check_prefixes(in_prefix, out_prefix)
        self._swap_ids = all(
            int(_socket_of(role, given).type) == zmq.ROUTER
            for role, given in (("in_socket", in_socket), ("out_socket", out_socket))
        )
        super().__init__(in_socket, out_socket, monitor, control=control, io_loop=io_loop)

    def _pump_options(self, forward: bool) -> tuple[bytes | None, bool]:
        return self._prefixes[0 if forward else 1], self._swap_ids
