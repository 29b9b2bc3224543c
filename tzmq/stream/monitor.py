"""Socket monitor events as typed records, delivered by callback or ``async for``.

Owns the parsing of libzmq's monitor messages (two frames: 16-bit event and
32-bit value, then the endpoint) into `MonitorEvent`, and a `SocketMonitor`
that attaches ``zmq_socket_monitor`` to a socket and delivers its events.
Malformed monitor frames raise `MonitorMessageError` (a ``ValueError``) from
`parse_monitor_message` and from the async iterator; in callback mode they
are logged and skipped, so one bad message does not end the monitoring.

Example::

    monitor = SocketMonitor(stream)                  # a ZMQStream or a zmq socket
    monitor.on_event(lambda e: print(e.name, e.endpoint))

    async for event in SocketMonitor(sock):          # ends when monitoring stops
        if event.event == zmq.Event.HANDSHAKE_SUCCEEDED:
            ...

Thread-safety: IOLoop thread only.
"""

from __future__ import annotations

import itertools
import logging
import struct
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import zmq
from tornado.ioloop import IOLoop

from .future import Socket
from .zmqstream import ZMQStream

__all__ = ["MonitorEvent", "MonitorMessageError", "SocketMonitor", "parse_monitor_message"]

_log = logging.getLogger("tzmq.stream")
_HEADER = struct.Struct("=HI")
_KNOWN = {int(e) for e in zmq.Event}
_addresses = itertools.count()


class MonitorMessageError(ValueError):
    """A message on a monitor socket is not a libzmq monitor event."""


@dataclass(frozen=True)
class MonitorEvent:
    """One socket event: what happened (`zmq.Event`), its value, and the endpoint."""

    event: zmq.Event
    value: int
    endpoint: str

    @property
    def name(self) -> str:
        """The event's name, e.g. ``"CONNECTED"``."""
        return self.event.name or str(int(self.event))


def parse_monitor_message(frames: Sequence[bytes | zmq.Frame]) -> MonitorEvent:
    """Parse the two frames of a monitor message; raise `MonitorMessageError` if malformed."""
    if len(frames) != 2:
        raise MonitorMessageError(f"a monitor message has 2 frames, not {len(frames)}")
    head, tail = (f.bytes if isinstance(f, zmq.Frame) else f for f in frames)
    if not isinstance(head, bytes) or len(head) != _HEADER.size:
        raise MonitorMessageError(
            f"a monitor event frame is {_HEADER.size} bytes, not {len(head)}: {head[:16]!r}"
        )
    event, value = _HEADER.unpack(head)
    if event not in _KNOWN:
        raise MonitorMessageError(f"unknown monitor event {event:#x}")
    try:
        endpoint = tail.decode("utf-8")
    except UnicodeDecodeError as error:
        raise MonitorMessageError(f"monitor endpoint is not UTF-8: {tail[:40]!r}") from error
    return MonitorEvent(zmq.Event(event), value, endpoint)


class SocketMonitor:
    """Monitor one socket's events (connects, handshakes, disconnects...).

    ``target`` is a zmq socket or a `ZMQStream`; ``events`` a mask of
    `zmq.Event` values. Use either `on_event` or ``async for``, not both.
    Monitoring stops at `close`, or when the monitored socket closes (after
    a final ``MONITOR_STOPPED`` event).
    """

    def __init__(
        self,
        target: zmq.Socket[Any] | ZMQStream,
        events: int = zmq.EVENT_ALL,
        io_loop: IOLoop | None = None,
    ) -> None:
        socket = target.socket if isinstance(target, ZMQStream) else target
        if not isinstance(socket, zmq.Socket):
            raise TypeError(f"can monitor a zmq socket or a ZMQStream, not {type(target).__name__}")
        if socket.closed:
            raise zmq.ZMQError(zmq.ENOTSOCK, "cannot monitor a closed socket")
        self.io_loop = io_loop or (
            target.io_loop if isinstance(target, ZMQStream) else IOLoop.current()
        )
        self._socket = socket
        address = f"inproc://tzmq.monitor.{id(socket):x}.{next(_addresses)}"
        socket.monitor(address, int(events))
        self._pair: zmq.Socket[Any] = zmq.Socket(socket.context, zmq.PAIR)
        self._pair.linger = 0
        self._pair.connect(address)
        self._stream: ZMQStream | None = None
        self._reader: Socket | None = None
        self._iterating = False
        self._closed = False

    def on_event(self, callback: Callable[[MonitorEvent], Any]) -> None:
        """Call ``callback(event)`` for every event, on the loop thread."""
        if not callable(callback):
            raise TypeError(f"on_event callback must be callable, not {type(callback).__name__}")
        if self._iterating:
            raise RuntimeError("this monitor is already read with async for")
        if self._closed:
            raise zmq.ZMQError(zmq.ENOTSOCK, "monitor is closed")

        def deliver(frames: list[bytes]) -> None:
            try:
                event = parse_monitor_message(frames)
            except MonitorMessageError as error:
                _log.warning("skipped a malformed monitor message: %s", error)
                return
            callback(event)
            if event.event == zmq.Event.MONITOR_STOPPED:
                self.close()

        if self._stream is None:
            self._stream = ZMQStream(self._pair, self.io_loop)
        self._stream.on_recv(deliver)

    def __aiter__(self) -> AsyncIterator[MonitorEvent]:
        return self.events()

    async def events(self) -> AsyncIterator[MonitorEvent]:
        """Yield events until monitoring stops; malformed ones raise `MonitorMessageError`."""
        if self._stream is not None:
            raise RuntimeError("this monitor already delivers to a callback")
        if self._iterating:
            raise RuntimeError("this monitor is already being iterated")
        self._iterating = True
        reader = self._reader = Socket.from_socket(self._pair, io_loop=self.io_loop)
        try:
            async for frames in reader:
                event = parse_monitor_message(frames)
                yield event
                if event.event == zmq.Event.MONITOR_STOPPED:
                    return
        finally:
            self.close()

    def close(self) -> None:
        """Stop monitoring and close the monitor's own socket (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if not self._socket.closed:
            try:
                self._socket.disable_monitor()
            except zmq.ZMQError as error:
                _log.debug("disable_monitor: %s", error)
        # Close through whichever object reads the pair, so its pending
        # receive ends (cancelled) instead of waiting on a dead socket.
        if self._stream is not None:
            self._stream.close(linger=0)
        elif self._reader is not None:
            self._reader.close(linger=0)
        if not self._pair.closed:
            self._pair.close(linger=0)

    def __enter__(self) -> SocketMonitor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
