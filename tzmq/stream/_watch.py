"""The readiness engine: one `SocketWatch` per (zmq socket, IOLoop).

This module is the only code in tzmq that touches a zmq socket's FD. A zmq FD is
edge-triggered in disguise: it turns readable when libzmq has *commands* for the
socket, and any call that processes those commands (``recv``, ``send``, reading
``EVENTS``) clears it, whether or not the caller then acts on what changed. Every
missed-wakeup bug in this field came from a code path that touched the socket
and went back to sleep without re-checking. So the rule enforced here is:

    a pass never goes back to sleep until it has *proved* that nothing its
    clients want is ready: either a fresh ``EVENTS`` read says so, or the last
    thing done to the socket was a receive that failed with ``EAGAIN`` while
    receiving was the only thing wanted.

Clients (`ZMQStream`, the future `Socket`) declare what they want (``POLLIN``,
``POLLOUT``) and get called with what is ready. They do a bounded amount of work
per call (a batch budget) and report back; the watch then yields to the IOLoop
with ``add_callback`` and comes back while work remains, so one busy socket
cannot starve the loop, and one wake-up still serves hundreds of messages.

Clients must tell the watch whenever they touch the socket outside a pass
(a direct send from a timer, a coroutine, another stream's callback): that
call may have eaten the edge of a message that just arrived, so `recheck`
reads ``EVENTS`` at once while anything is wanted, and schedules a pass if
something is ready.

Code outside tzmq can still eat an edge behind our back: an owner's raw
``send`` on a stream's socket (ipykernel sends shell replies that way), a
``recv`` through ``Session.recv``, a raw ``EVENTS`` read. Nothing can see those
calls, so each loop runs a cheap safety sweep while any of its sockets is
wanted: every `SWEEP_INTERVAL` seconds it reads ``EVENTS`` of each watched
socket and wakes the ones with something ready. A message stranded that way
waits at most one interval instead of forever. The sweep is a safety net for
such code, never the way tzmq delivers its own messages.

The FD is registered with Tornado's public ``IOLoop.add_handler`` and nothing
lower: on Windows the default asyncio loop (Proactor) has no ``add_reader``,
and Tornado routes ``add_handler`` through its selector thread there. What is
registered is the watch's own duplicate of libzmq's descriptor (`_Handle`):
a socket closed behind our back (``ctx.destroy()``, a direct ``close()``)
closes libzmq's descriptor, and a registered descriptor that is closed would
break ``select()`` in Tornado's selector thread (and could be reused by the
next socket under the same number). The duplicate stays open until the watch
unregisters it; ``IOLoop.close(all_fds=True)`` closes it and the zmq socket
(never libzmq's own descriptor, which would abort the process).

Thread-safety: everything here runs on the IOLoop's thread, except
`SocketWatch.wake_threadsafe`, which only schedules a pass with
``IOLoop.add_callback``.
"""

from __future__ import annotations

import logging
import os
import socket as _stdsocket
import sys
import weakref
from collections.abc import Callable
from contextlib import suppress
from typing import Any, ClassVar, Protocol

import zmq
from tornado.ioloop import IOLoop

from ._wire import SOCKET_GONE

__all__ = [
    "EVENTS",
    "IDLE_IN",
    "MORE",
    "POLLIN",
    "POLLOUT",
    "SWEEP_INTERVAL",
    "SocketWatch",
    "WatchClient",
    "get_option",
]

_log = logging.getLogger("tzmq.stream")

# Plain ints: arithmetic on pyzmq's flag enums is a Python call per operation.
POLLIN = int(zmq.POLLIN)
POLLOUT = int(zmq.POLLOUT)
EVENTS = zmq.EVENTS  # the enum member: pyzmq converts ints to it on every get()
# zmq.Socket's own get(), called even when the socket's class overrides get():
# the future Socket's override wakes this watch (a user's EVENTS read eats the
# edge), and doing that from inside a pass would schedule passes forever.
get_option: Callable[[zmq.Socket[Any], int], int] = zmq.Socket.get  # type: ignore[assignment]

# What a client's `on_ready` reports back (bit flags, 0 meaning "did its work").
IDLE_IN = 1
"""A receive failed with EAGAIN: nothing to read, and the FD is re-armed."""
MORE = 2
"""The batch budget ran out with work left: come back after yielding to the loop."""

SWEEP_INTERVAL = 0.1
"""Seconds between safety sweeps of a loop's wanted sockets (see module doc)."""

MAX_ROUNDS = 4
"""``EVENTS`` reads per pass before yielding to the loop (each round is one batch)."""


class WatchClient(Protocol):
    """What a `SocketWatch` needs from the objects it serves."""

    def on_ready(self, events: int, bulk: bool) -> int:
        """Act on ``events`` (the ready subset of what this client wants).

        ``bulk`` is false on the first round of an FD wake-up, where one
        message is the likely case; true once a fresh ``EVENTS`` read has
        shown more is waiting. Return a combination of `IDLE_IN` and `MORE`, or 0.
        """

    def on_socket_gone(self, error: BaseException) -> None:
        """The socket was closed behind the client's back or its context ended."""


class _Handle:
    """The watch's own duplicate of a zmq socket's FD, registered with the IOLoop.

    ``fileno()`` is the duplicate; ``close()`` (which ``IOLoop.close(all_fds=True)``
    calls) closes the zmq socket and the duplicate.
    """

    __slots__ = ("_closer", "_fd", "_socket")

    def __init__(self, socket: zmq.Socket[Any]) -> None:
        self._socket = socket
        fd = socket.FD
        self._closer: Callable[[], None] | None
        if sys.platform == "win32":
            # There libzmq's FD is a SOCKET, which only the socket module duplicates.
            copy = _stdsocket.fromfd(fd, _stdsocket.AF_INET, _stdsocket.SOCK_STREAM)
            self._fd: int = copy.fileno()
            self._closer = copy.close
        else:
            self._fd = os.dup(fd)
            self._closer = self._close_posix

    def _close_posix(self) -> None:
        os.close(self._fd)

    def fileno(self) -> int:
        return self._fd

    def release(self) -> None:
        """Close the duplicate (idempotent)."""
        closer, self._closer = self._closer, None
        if closer is not None:
            closer()

    def close(self) -> None:
        if not self._socket.closed:
            self._socket.close()
        self.release()


def _socket_key(socket: zmq.Socket[Any]) -> int:
    # Shadow sockets share one libzmq socket (and so one FD): key by that.
    return int(socket.underlying)


class SocketWatch:
    """Turns a zmq socket's FD into "ready" calls for its clients on one IOLoop.

    Obtain one with `SocketWatch.get`, which returns the watch already serving
    the same libzmq socket on the same loop, so a ZMQStream and a future
    Socket sharing a socket never register its FD twice.
    """

    __slots__ = (
        "__weakref__",
        "_clients",
        "_handle",
        "_key",
        "_registered",
        "_scheduled",
        "_solo",
        "_sweep",
        "_swept",
        "in_pass",
        "interest",
        "io_loop",
        "socket",
    )

    _registry: ClassVar[weakref.WeakValueDictionary[tuple[int, int], SocketWatch]] = (
        weakref.WeakValueDictionary()
    )

    @classmethod
    def get(cls, socket: zmq.Socket[Any], io_loop: IOLoop) -> SocketWatch:
        """The watch for ``socket`` on ``io_loop``, created on first use."""
        key = (_socket_key(socket), id(io_loop))
        watch = cls._registry.get(key)
        if watch is None or watch.io_loop is not io_loop or watch.socket.closed:
            watch = cls(socket, io_loop)
            cls._registry[key] = watch
        return watch

    def __init__(self, socket: zmq.Socket[Any], io_loop: IOLoop) -> None:
        self.socket = socket
        self.io_loop = io_loop
        self._key = (_socket_key(socket), id(io_loop))
        self._handle: _Handle | None = None
        self._clients: dict[WatchClient, int] = {}
        self._solo: WatchClient | None = None  # the only client, when there is one
        self.interest = 0
        """The union of what all clients want (read-only outside this class)."""
        self._scheduled = False
        self.in_pass = False
        """True while a pass serves the clients (read-only outside this class)."""
        self._registered = False
        self._sweep = _Sweep.of(io_loop)
        self._swept = False  # in its sweep's set (which holds it weakly)

    # -- clients ---------------------------------------------------------------

    def attach(self, client: WatchClient) -> None:
        """Start serving ``client`` (with no interest until `want` is called)."""
        if client in self._clients:
            return
        self._clients[client] = 0
        self._recompute_interest()
        if not self._registered:
            handle = _Handle(self.socket)
            try:
                self.io_loop.add_handler(handle, self._pass, IOLoop.READ)
            except BaseException:
                handle.release()
                raise
            self._handle = handle
            self._registered = True

    def detach(self, client: WatchClient) -> None:
        """Stop serving ``client``; the FD is released with the last client."""
        if self._clients.pop(client, None) is None:
            return
        self._recompute_interest()
        if not self._clients:
            self._unregister()

    def want(self, client: WatchClient, events: int, proven_idle: int = 0) -> None:
        """Set what ``client`` wants; check readiness soon if it grew.

        The check is needed even when nothing new arrives: whatever touched the
        socket last may have consumed the FD's edge while a message waits.
        ``proven_idle`` holds events the caller's last operation on the socket
        proved not ready (a receive that met EAGAIN, an ``EVENTS`` read): the FD
        is re-armed for those, so wanting them needs no check.
        """
        old = self._clients.get(client)
        if old is None or old == events:
            return
        self._clients[client] = events
        self._recompute_interest()
        grown = events & ~old
        if grown:
            self._sweep.track(self)
            if grown & ~proven_idle:
                self.wake()

    def _recompute_interest(self) -> None:
        interest = 0
        for bits in self._clients.values():
            interest |= bits
        self.interest = interest
        clients = self._clients
        self._solo = next(iter(clients)) if len(clients) == 1 else None

    # -- scheduling ------------------------------------------------------------

    def wake(self) -> None:
        """Run a pass soon (loop thread only).

        Inside a pass this is free: the pass re-checks before it sleeps.
        """
        if self._scheduled or self.in_pass or not self._registered:
            return
        self._scheduled = True
        self.io_loop.add_callback(self._on_scheduled)

    def wake_threadsafe(self) -> None:
        """Run a pass soon; safe from any thread."""
        self.io_loop.add_callback(self.wake)

    def socket_closed(self) -> None:
        """A client just closed the socket: release the FD and tell the other clients now.

        Waiting for a pass to notice would leave the FD number registered for
        a loop turn, and a socket made meanwhile may be given that number.
        """
        if self._registered or self._clients:
            self._socket_gone(zmq.ZMQError(zmq.ENOTSOCK))

    def close(self) -> None:
        """Drop every client and release the FD (idempotent)."""
        self._clients.clear()
        self.interest = 0
        self._solo = None
        self._unregister()

    def _unregister(self) -> None:
        if not self._registered:
            return
        self._registered = False
        if self._registry.get(self._key) is self:
            del self._registry[self._key]
        handle, self._handle = self._handle, None
        if handle is None:
            return
        # A closed or closing loop has nothing left to unregister from.
        with suppress(OSError, ValueError, RuntimeError):
            self.io_loop.remove_handler(handle)
        handle.release()

    def recheck(self) -> None:
        """Read EVENTS now and wake if something wanted is ready.

        Clients call this after every operation on the socket made outside a
        pass (it may have consumed the FD's edge of a message now waiting),
        and the safety sweep calls it. A fresh EVENTS read is the proof the
        pass would make, and re-arms the FD, at a fraction of a loop turn's
        cost. Free inside a pass, while nothing is wanted, and when a pass is
        already due.
        """
        if self._scheduled or self.in_pass or not self._registered or not self.interest:
            return
        if self.socket.closed:
            self._socket_gone(zmq.ZMQError(zmq.ENOTSOCK))
            return
        try:
            events = get_option(self.socket, EVENTS)
        except zmq.ZMQError as error:
            if error.errno not in SOCKET_GONE:
                raise
            self._socket_gone(error)
            return
        if events & self.interest:
            self.wake()

    # -- the pass --------------------------------------------------------------

    def _on_scheduled(self) -> None:
        self._scheduled = False
        if self._registered:
            self._pass()

    def _pass(self, fd: Any = None, events: int = 0) -> None:
        """Serve the clients while what they want is ready, at most `MAX_ROUNDS` times.

        Tornado calls this with the FD's ``events`` (an FD wake-up);
        `_on_scheduled` with none. Ends when a fresh ``EVENTS`` read (or a
        receive that met EAGAIN while receiving was all that was wanted) shows
        nothing wanted is ready, or yields to the loop with a scheduled pass
        when the budget ran out.
        """
        fd_woke = events != 0
        if fd_woke and self._scheduled:
            # A pass is already due this loop iteration: it reads EVENTS, which
            # also clears the FD; one now would double the batch.
            return
        socket = self.socket
        if socket.closed:
            self._socket_gone(zmq.ZMQError(zmq.ENOTSOCK))
            return
        self.in_pass = True
        busy = False
        try:
            want = self.interest
            # On an FD wake-up with only receiving wanted, a receive tells as
            # much as an EVENTS read, and usually yields the message at the same time.
            events = POLLIN if fd_woke and want == POLLIN else get_option(socket, EVENTS)
            bulk = False
            for _ in range(MAX_ROUNDS):
                ready = events & want
                if not ready:
                    break
                solo = self._solo
                if solo is not None:
                    # One client (the usual case): it wants all of ``want``.
                    status = solo.on_ready(ready, bulk)
                else:
                    status = 0
                    for client, wanted in list(self._clients.items()):
                        if ready & wanted:
                            status |= client.on_ready(ready & wanted, bulk)
                want = self.interest
                if not self._registered or not want:
                    # Nothing left to prove: whoever wants something next calls
                    # want(), which re-checks the socket.
                    break
                if status & MORE:
                    busy = True
                    break
                if status & IDLE_IN and want == POLLIN:
                    break
                events = get_option(socket, EVENTS)
                bulk = True
            else:
                busy = bool(events & want)
        except zmq.ZMQError as error:
            if error.errno not in SOCKET_GONE:
                raise
            self._socket_gone(error)
            return
        finally:
            self.in_pass = False
        if busy:
            # Budget spent with work left: yield to the loop, then come back.
            self.wake()

    def _socket_gone(self, error: BaseException) -> None:
        clients = list(self._clients)
        self.close()
        for client in clients:
            try:
                client.on_socket_gone(error)
            except Exception:
                _log.exception("error while tearing down a client of a closed socket")


class _Sweep:
    """The safety sweep of one IOLoop: re-checks its wanted sockets now and then."""

    __slots__ = ("__weakref__", "_handle", "_loop", "_watches")

    _of_loop: ClassVar[weakref.WeakKeyDictionary[IOLoop, _Sweep]] = weakref.WeakKeyDictionary()

    @classmethod
    def of(cls, io_loop: IOLoop) -> _Sweep:
        sweep = cls._of_loop.get(io_loop)
        if sweep is None:
            sweep = cls._of_loop[io_loop] = cls(io_loop)
        return sweep

    def __init__(self, io_loop: IOLoop) -> None:
        # Weak: a sweep must not keep its loop (or its sockets) alive.
        self._loop = weakref.ref(io_loop)
        self._watches: weakref.WeakSet[SocketWatch] = weakref.WeakSet()
        self._handle: object | None = None

    def track(self, watch: SocketWatch) -> None:
        # Called each time a client's interest grows: the WeakSet is costly.
        if not watch._swept:
            self._watches.add(watch)
            watch._swept = True
        if self._handle is None:
            self._schedule()

    def _schedule(self) -> None:
        io_loop = self._loop()
        if io_loop is not None:
            self._handle = io_loop.call_later(SWEEP_INTERVAL, self._run)

    def _run(self) -> None:
        self._handle = None
        wanted = False
        for watch in list(self._watches):
            if watch.interest:
                wanted = True
                try:
                    watch.recheck()
                except Exception:
                    _log.exception("safety sweep of %r failed", watch.socket)
        if wanted:
            self._schedule()
