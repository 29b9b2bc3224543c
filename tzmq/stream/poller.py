"""Poller: ``zmq.Poller`` whose ``poll()`` returns a future.

Owns waiting on several sockets and file descriptors at once: zmq sockets
(plain or future) are watched through their `SocketWatch` (so a socket that
a ZMQStream or future Socket also serves is never registered twice), raw
file descriptors and objects with ``fileno()`` through ``IOLoop.add_handler``.
The result is always computed by a non-blocking ``zmq_poll``, so it has
exactly the shape ``zmq.Poller.poll`` gives: ``[(socket_or_fd, mask)]``, and
``[]`` on timeout. A registered socket that is closed fails the poll with
``ENOTSOCK``: at the call, or while it waits (within one safety sweep of
`tzmq.stream._watch` when the socket was closed directly).

Example::

    poller = tzmq.Poller()
    poller.register(sub, zmq.POLLIN)
    poller.register(pipe_fd, zmq.POLLIN)
    events = dict(await poller.poll(timeout=1000))   # milliseconds, as in pyzmq

Thread-safety: call ``poll()`` on the IOLoop's thread; register/unregister
between polls, not while one is pending.
"""

from __future__ import annotations

import asyncio
from typing import Any

import zmq
from tornado.ioloop import IOLoop

from ._watch import POLLIN, POLLOUT, SocketWatch

__all__ = ["Poller"]

_POLLERR = int(zmq.POLLERR)


class _SocketWaiter:
    """A watch client that only signals readiness; it never consumes."""

    __slots__ = ("_poll", "watch")

    def __init__(self, poll: _PendingPoll, watch: SocketWatch) -> None:
        self._poll = poll
        self.watch = watch

    def on_ready(self, events: int, bulk: bool) -> int:
        # Stop wanting at once: nothing here consumes, so a still-wanted
        # ready socket would bring the watch straight back.
        self.watch.want(self, 0)
        self._poll.check()
        return 0

    def on_socket_gone(self, error: BaseException) -> None:
        self._poll.check()


class _PendingPoll:
    """One pending ``Poller.poll()``: its watchers, timer and future."""

    def __init__(self, poller: Poller, io_loop: IOLoop, future: asyncio.Future[Any]) -> None:
        self.poller = poller
        self.io_loop = io_loop
        self.future = future
        self.waiters: list[tuple[_SocketWaiter, int]] = []
        self.fds: list[Any] = []
        self.timer: asyncio.TimerHandle | None = None
        self._checking = False

    def start(self, timeout: float | None) -> None:
        for item, flags in self.poller.sockets:
            if isinstance(item, zmq.Socket):
                watch = SocketWatch.get(item, self.io_loop)
                waiter = _SocketWaiter(self, watch)
                watch.attach(waiter)
                self.waiters.append((waiter, flags & (POLLIN | POLLOUT)))
            else:
                events = 0
                if flags & POLLIN:
                    events |= IOLoop.READ
                if flags & POLLOUT:
                    events |= IOLoop.WRITE
                if flags & _POLLERR:
                    events |= IOLoop.ERROR
                self.io_loop.add_handler(item, self._on_fd, events)
                self.fds.append(item)
        for waiter, flags in self.waiters:
            waiter.watch.want(waiter, flags)
        if timeout is not None:
            aio_loop = self.future.get_loop()
            self.timer = aio_loop.call_later(timeout, self._expire)
        self.future.add_done_callback(self._finished)

    def _on_fd(self, fd: Any, events: int) -> None:
        self.check()

    def check(self) -> None:
        """Something may be ready: confirm with a non-blocking zmq_poll."""
        if self.future.done() or self._checking:
            return
        closed = _closed_socket(self.poller)
        if closed is not None:
            self.future.set_exception(closed)
            return
        self._checking = True
        try:
            ready = zmq.Poller.poll(self.poller, 0)
        except Exception as error:
            self.future.set_exception(error)
            return
        finally:
            self._checking = False
        if ready:
            self.future.set_result(ready)
            return
        # A false alarm; zmq_poll ate the sockets' edges, so re-arm and re-check.
        for waiter, flags in self.waiters:
            waiter.watch.want(waiter, flags)
            waiter.watch.wake()

    def _expire(self) -> None:
        if not self.future.done():
            self.future.set_result([])

    def _finished(self, future: asyncio.Future[Any]) -> None:
        if self.timer is not None:
            self.timer.cancel()
        for waiter, _ in self.waiters:
            waiter.watch.detach(waiter)
            # Our zmq_poll may have eaten an edge another client of it needs.
            waiter.watch.wake()
        for fd in self.fds:
            self.io_loop.remove_handler(fd)
        self.waiters = []
        self.fds = []


def _closed_socket(poller: zmq.Poller) -> zmq.ZMQError | None:
    """The error for a registered zmq socket that is closed, or None.

    zmq_poll given a closed socket polls file descriptor 0 (stdin) in its
    place: the poll would report the wrong object, or never end.
    """
    for item, _ in poller.sockets:
        if isinstance(item, zmq.Socket) and item.closed:
            return zmq.ZMQError(
                zmq.ENOTSOCK, f"a socket registered with the Poller is closed: {item!r}"
            )
    return None


class Poller(zmq.Poller):
    """A ``zmq.Poller`` whose ``poll(timeout)`` returns a future.

    Accepts plain and future zmq sockets, file descriptors and objects with
    ``fileno()``. ``timeout`` is in milliseconds; ``None`` or negative waits
    forever; 0 answers at once.
    """

    def poll(self, timeout: float | None = -1) -> asyncio.Future[list[tuple[Any, int]]]:  # type: ignore[override]
        io_loop = IOLoop.current()
        aio_loop: asyncio.AbstractEventLoop = io_loop.asyncio_loop  # type: ignore[attr-defined]
        future: asyncio.Future[list[tuple[Any, int]]] = aio_loop.create_future()
        if timeout is not None and not isinstance(timeout, (int, float)):
            raise TypeError(f"timeout must be a number of milliseconds, not {timeout!r}")
        closed = _closed_socket(self)
        if closed is not None:
            raise closed
        ready = super().poll(0)
        if ready or timeout == 0:
            future.set_result(ready)
            return future
        seconds = None if timeout is None or timeout < 0 else timeout / 1000
        _PendingPoll(self, io_loop, future).start(seconds)
        return future
