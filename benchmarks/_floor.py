"""Floors: the least a ZMQ layer can spend, measured beside tzmq.

Owns `BareStream` (a callback stream) and `BareContext`/`BareSocket` (a future
socket): each written straight on ``asyncio``'s ``add_reader`` with pyzmq's
Cython calls, doing per message only what any such layer must: one loop
dispatch per wake-up, a receive, the callback or the future, an ``EVENTS``
read to re-arm the FD; for sends, a non-blocking send and a plain deque when
libzmq is full, and, after a send made outside its own dispatch while a
receive is wanted, one ``EVENTS`` read (the send may have made a message
receivable without the FD saying so). They keep none of tzmq's promises (one
pending receive at a time, no timeouts, cancellation, thread doors, bounds,
error reporting or teardown rules), so they are not usable code, only a
yardstick: a target that the floor of the same run misses cannot be met by a
layer that dispatches through the asyncio loop this way. The echo and send
cases run them (see `benchmarks._cases`).

Also owns `FramesContext`/`FramesSocket`, the "frames floor" under raw
blocking pyzmq: ``recv(copy=False)`` and ``Frame.more`` instead of reading
``RCVMORE`` per frame, and the Cython send without pyzmq's Python wrapper.

Thread-safety: the loop's thread only, like what they stand in for.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any

import zmq
from zmq.backend import Socket as _Backend

__all__ = ["BareContext", "BareSocket", "BareStream", "FramesContext", "FramesSocket"]

_recv = _Backend.recv
_send = _Backend.send
_get: Callable[[Any, int], int] = _Backend.get  # type: ignore[assignment]
_NOBLOCK = int(zmq.NOBLOCK)
_SNDMORE = int(zmq.SNDMORE)
_POLLIN = int(zmq.POLLIN)
_POLLOUT = int(zmq.POLLOUT)
_EVENTS = zmq.EVENTS


def _frames(sock: Any, flags: int) -> list[bytes]:
    """One whole message; zmq.Again only before its first frame."""
    frame = _recv(sock, flags, False)
    msg = [frame.bytes]
    while frame.more:
        frame = _recv(sock, flags, False)
        msg.append(frame.bytes)
    return msg


def _take(sock: Any) -> list[bytes] | None:
    """One whole message, or None when nothing is waiting (the FD is re-armed)."""
    try:
        return _frames(sock, _NOBLOCK)
    except zmq.Again:
        return None


def _put(sock: Any, msg: Any, flags: int = _NOBLOCK) -> None:
    """Send one message (a frame or a list of frames); zmq.Again only before its first frame."""
    if type(msg) is not list:
        _send(sock, msg, flags)
        return
    last = len(msg) - 1
    for index in range(last):
        _send(sock, msg[index], flags | _SNDMORE)
    _send(sock, msg[last], flags)


class BareStream:
    """``on_recv``, ``stop_on_recv``, ``send``, ``send_multipart``, ``close``; nothing else."""

    def __init__(self, socket: zmq.Socket[Any]) -> None:
        self._socket = socket
        self._loop = asyncio.get_running_loop()
        self._fd = socket.FD
        self._callback: Callable[[list[bytes]], Any] | None = None
        self._queue: deque[Any] = deque()
        self._dispatching = False
        self._loop.add_reader(self._fd, self._on_fd)

    def on_recv(self, callback: Callable[[list[bytes]], Any]) -> None:
        self._callback = callback
        self._loop.call_soon(self._on_fd)

    def stop_on_recv(self) -> None:
        self._callback = None

    def send_multipart(self, msg: Any) -> None:
        """Send ``msg``: one frame (``bytes``) or a list of frames."""
        if self._queue:
            self._queue.append(msg)
            return
        try:
            _put(self._socket, msg)
        except zmq.Again:
            self._queue.append(msg)
            self._loop.call_soon(self._on_fd)
            return
        # Inside `_on_fd` its own EVENTS read follows; from anywhere else the
        # send may have left a message receivable with the FD already drained.
        if (
            not self._dispatching
            and self._callback is not None
            and _get(self._socket, _EVENTS) & _POLLIN
        ):
            self._loop.call_soon(self._on_fd)

    send = send_multipart

    def _on_fd(self) -> None:
        sock, queue, callback = self._socket, self._queue, self._callback
        if sock.closed:
            return
        # A callback that raises leaves this set: the run is broken anyway.
        self._dispatching = True
        while True:
            while queue:
                try:
                    _put(sock, queue[0])
                except zmq.Again:
                    break
                queue.popleft()
            # EVENTS before the receive: a REP or REQ that must send first
            # would refuse it (EFSM), and a send may just have made it possible.
            events = _get(sock, _EVENTS)
            if events & _POLLIN and callback is not None:
                msg = _take(sock)
                if msg is not None:
                    callback(msg)
            elif not (events & _POLLOUT and queue):
                self._dispatching = False
                return

    def close(self, linger: int | None = None) -> None:
        if not self._socket.closed:
            self._loop.remove_reader(self._fd)
            self._socket.close(linger=linger)


class BareSocket(zmq.Socket[Any]):
    """A socket whose ``recv_multipart`` / ``send`` / ``send_multipart`` return futures."""

    # Declared on the class: zmq.Socket maps unknown attribute names to options.
    _loop: asyncio.AbstractEventLoop
    _fd: int = -1
    _waiter: asyncio.Future[list[bytes]] | None = None
    _sends: deque[tuple[Any, asyncio.Future[None]]]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._loop = asyncio.get_running_loop()
        self._fd = self.FD
        self._waiter = None
        self._sends = deque()
        self._loop.add_reader(self._fd, self._on_fd)

    def recv_multipart(self, *args: Any, **kwargs: Any) -> Any:
        future: asyncio.Future[list[bytes]] = self._loop.create_future()
        msg = _take(self) if _get(self, _EVENTS) & _POLLIN else None
        if msg is None:
            self._waiter = future
        else:
            future.set_result(msg)
        return future

    def send(self, data: Any, *args: Any, **kwargs: Any) -> Any:
        return self._send_message(data)

    def send_multipart(self, msg_parts: Any, *args: Any, **kwargs: Any) -> Any:
        return self._send_message(list(msg_parts))

    def _send_message(self, msg: Any) -> asyncio.Future[None]:
        future: asyncio.Future[None] = self._loop.create_future()
        if not self._sends:
            try:
                _put(self, msg)
            except zmq.Again:
                self._loop.call_soon(self._on_fd)
            else:
                future.set_result(None)
                return future
        self._sends.append((msg, future))
        return future

    def _on_fd(self) -> None:
        if self.closed:
            return
        sends = self._sends
        while True:
            while sends:
                try:
                    _put(self, sends[0][0])
                except zmq.Again:
                    break
                sends.popleft()[1].set_result(None)
            waiter = self._waiter
            if waiter is not None:
                msg = _take(self)
                if msg is not None:
                    self._waiter = None
                    waiter.set_result(msg)
            events = _get(self, _EVENTS)
            if not (events & _POLLIN and self._waiter) and not (events & _POLLOUT and sends):
                return

    def close(self, linger: int | None = None) -> None:
        if not self.closed:
            self._loop.remove_reader(self._fd)
        super().close(linger=linger)


class BareContext(zmq.Context[BareSocket]):
    """Makes `BareSocket` objects."""

    _socket_class = BareSocket


class FramesSocket(zmq.Socket[Any]):
    """A blocking socket whose ``recv_multipart`` / ``send`` / ``send_multipart``
    are the bare Cython calls (``flags`` honoured, other options ignored)."""

    def recv_multipart(self, flags: int = 0, *args: Any, **kwargs: Any) -> Any:
        return _frames(self, flags)

    def send(self, data: Any, flags: int = 0, *args: Any, **kwargs: Any) -> Any:
        return _send(self, data, flags)

    def send_multipart(self, msg_parts: Any, flags: int = 0, *args: Any, **kwargs: Any) -> Any:
        _put(self, list(msg_parts), flags)


class FramesContext(zmq.Context[FramesSocket]):
    """Makes `FramesSocket` objects."""

    _socket_class = FramesSocket
