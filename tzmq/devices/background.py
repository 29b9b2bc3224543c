"""Devices that run in the background: on their own IOLoop thread, or in a process.

Owns the life of a background device (configure, start, stop, join) and the
wiring of its sockets; the device itself is a `Proxy` or `MonitoredQueue`.
The counterpart of pyzmq's ``ThreadDevice``/``ProcessDevice`` family
(``ThreadProxy``, ``ThreadProxySteerable``, ``ThreadMonitoredQueue`` and their
process twins), with these differences on purpose:

* `start` returns once the device is serving (its sockets bound, its control
  socket answering) and raises there if it could not be built;
* `stop` ends it cleanly from any thread, handing queued messages to libzmq,
  and after `join` its final `ProxyStatistics` are in ``statistics``;
* a thread device makes its sockets at once, in the caller's context, so
  ``bind_to_random_port`` binds the real socket (pyzmq reserves a port and
  binds it later, a race); a process device must do what pyzmq does;
* a process device stops by itself when its parent dies.

Sides are named as in pyzmq: ``"in"`` (frontend), ``"out"`` (backend),
``"mon"`` (capture or monitor), ``"ctrl"`` (control).

Thread-safety: every method may be called from any thread; configure a
device before `start` (from one thread at a time).
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import threading
from datetime import timedelta
from typing import Any, Literal

import zmq
from tornado.ioloop import IOLoop

from .._duration import seconds
from ._stats import ProxyStatistics
from .proxy import MonitoredQueue, Proxy, check_prefixes

__all__ = ["ProcessMonitoredQueue", "ProcessProxy", "ThreadMonitoredQueue", "ThreadProxy"]

Side = Literal["in", "out", "mon", "ctrl"]
_SIDES: tuple[Side, ...] = ("in", "out", "mon", "ctrl")

# What a device is built from: socket types by side, and the monitor prefixes
# (None for a plain proxy).
_Types = dict[str, int]
_Prefixes = tuple[bytes, bytes] | None


def _build(sockets: dict[str, zmq.Socket[Any]], prefixes: _Prefixes) -> Proxy:
    """The device on the current IOLoop, over ready-made sockets."""
    if prefixes is None:
        return Proxy(sockets["in"], sockets["out"], sockets.get("mon"), control=sockets.get("ctrl"))
    return MonitoredQueue(
        sockets["in"], sockets["out"], sockets["mon"], *prefixes, control=sockets.get("ctrl")
    )


class _Background:
    """What the thread and process devices share: types, start/stop/join, statistics."""

    _prefixes: _Prefixes = None

    def __init__(self, in_type: int, out_type: int, mon_type: int | None, ctrl_type: int | None):
        types: _Types = {}
        for side, kind in zip(_SIDES, (in_type, out_type, mon_type, ctrl_type), strict=True):
            if kind is not None:
                if not isinstance(kind, int) or isinstance(kind, bool):
                    raise TypeError(f"the {side} socket type must be a zmq type, not {kind!r}")
                types[side] = int(kind)
        if self._prefixes is not None and "mon" not in types:
            raise ValueError("a monitored queue needs a mon_type")
        self._types = types
        self.daemon = True
        self.statistics: ProxyStatistics | None = None
        self._started = False

    def _check_side(self, side: str) -> None:
        if side not in self._types:
            known = ", ".join(repr(name) for name in self._types)
            raise ValueError(f"no {side!r} socket on this device (it has {known})")
        if self._started:
            raise RuntimeError("configure a background device before start()")

    def _mark_started(self) -> None:
        if self._started:
            raise RuntimeError("a background device starts once")
        self._started = True


class ThreadProxy(_Background):
    """A `Proxy` on its own IOLoop thread (pyzmq's ``ThreadProxy``/``ThreadProxySteerable``).

    Example::

        device = ThreadProxy(zmq.ROUTER, zmq.DEALER, ctrl_type=zmq.REP)
        port = device.bind_to_random_port("in", "tcp://127.0.0.1")
        device.bind("out", "tcp://127.0.0.1:5560")
        device.bind("ctrl", "inproc://proxy-control")
        device.start()
        ...
        device.stop()
        device.join(timeout=5)
        print(device.statistics)

    The sockets are made at once in ``context`` (default: the global one) and
    are also reachable as ``device.sockets[side]`` until `start`; from then
    on they belong to the device's thread.
    """

    def __init__(
        self,
        in_type: int,
        out_type: int,
        mon_type: int | None = None,
        *,
        ctrl_type: int | None = None,
        context: zmq.Context[Any] | None = None,
    ) -> None:
        super().__init__(in_type, out_type, mon_type, ctrl_type)
        context = context or zmq.Context.instance()
        self.sockets: dict[str, zmq.Socket[Any]] = {}
        for side, kind in self._types.items():
            self.sockets[side] = context.socket(kind)
        self._thread: threading.Thread | None = None
        self._loop: IOLoop | None = None
        self._device: Proxy | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def bind(self, side: Side, address: str) -> None:
        """Bind the ``side`` socket now."""
        self._check_side(side)
        self.sockets[side].bind(address)

    def connect(self, side: Side, address: str) -> None:
        """Connect the ``side`` socket now."""
        self._check_side(side)
        self.sockets[side].connect(address)

    def setsockopt(self, side: Side, option: int, value: Any) -> None:
        """Set an option of the ``side`` socket now."""
        self._check_side(side)
        self.sockets[side].setsockopt(option, value)

    def bind_to_random_port(self, side: Side, address: str, *args: int, **kwargs: int) -> int:
        """Bind the ``side`` socket to a random port of ``address``; return the port."""
        self._check_side(side)
        return self.sockets[side].bind_to_random_port(address, *args, **kwargs)

    def start(self, timeout: float | timedelta = 10.0) -> None:
        """Start the device's thread; return once it serves, or raise why it cannot."""
        wait = seconds("timeout", timeout, zero=True)
        self._mark_started()
        self._thread = threading.Thread(target=self._run, name="tzmq device", daemon=self.daemon)
        self._thread.start()
        if not self._ready.wait(wait):
            raise TimeoutError(f"the device thread did not start within {wait} s")
        if self._error is not None:
            self._thread.join()
            raise RuntimeError(f"the device could not start: {self._error}") from self._error

    def _run(self) -> None:
        # An IOLoop of our own, closed here: asyncio.run would close the asyncio
        # loop under Tornado's wrapper of it, which Tornado would keep mapped.
        io_loop = IOLoop(make_current=False)
        try:
            io_loop.run_sync(self._serve)
        finally:
            io_loop.close()

    async def _serve(self) -> None:
        try:
            device = _build(self.sockets, self._prefixes)
        except BaseException as error:
            self._error = error
            for sock in self.sockets.values():
                sock.close(linger=0)
            self._ready.set()
            return
        self._loop, self._device = IOLoop.current(), device
        self._ready.set()
        self.statistics = await device.join()

    def stop(self) -> None:
        """End the device (as ``TERMINATE`` does); any thread. Before `start`, close its sockets."""
        if self._loop is not None and self._device is not None:
            self._loop.add_callback(self._device.close)
        elif not self._started:
            self._started = True
            for sock in self.sockets.values():
                sock.close()

    def join(self, timeout: float | timedelta | None = None) -> None:
        """Wait for the device's thread to end (at most ``timeout``); see `is_alive`."""
        if self._thread is not None:
            self._thread.join(None if timeout is None else seconds("timeout", timeout, zero=True))

    def is_alive(self) -> bool:
        """True while the device's thread runs."""
        return self._thread is not None and self._thread.is_alive()


# -- processes ------------------------------------------------------------------------

_Call = tuple[str, str, tuple[Any, ...]]
_PROCESS_LINGER_MS = 1000


def _serve_in_process(conn: Any, types: _Types, calls: list[_Call], prefixes: _Prefixes) -> None:
    """The body of a device process: build, report ready, serve until told (or orphaned)."""
    asyncio.run(_serve_process(conn, types, calls, prefixes))


async def _serve_process(conn: Any, types: _Types, calls: list[_Call], prefixes: _Prefixes) -> None:
    context: zmq.Context[Any] = zmq.Context()
    # The process ends with context.term(): a socket left lingering forever on a
    # peer that never comes would keep it alive, so the default is bounded.
    context.linger = _PROCESS_LINGER_MS
    sockets = {side: context.socket(kind) for side, kind in types.items()}
    try:
        for side, method, args in calls:
            getattr(sockets[side], method)(*args)
        device = _build(sockets, prefixes)
    except Exception as error:
        for sock in sockets.values():
            sock.close(linger=0)
        context.term()
        conn.send(("error", f"{type(error).__name__}: {error}"))
        conn.close()
        return
    loop = IOLoop.current()

    def told(fd: int, events: int) -> None:
        # A "stop" from the parent, or EOF when the parent is gone: either ends us.
        device.close()

    loop.add_handler(conn.fileno(), told, IOLoop.READ)
    conn.send(("ready", None))
    statistics = await device.join()
    loop.remove_handler(conn.fileno())
    context.term()
    with contextlib.suppress(OSError):  # the parent is gone: nobody to report to
        conn.send(("statistics", statistics))
    conn.close()


class ProcessProxy(_Background):
    """A `Proxy` in its own process (pyzmq's ``ProcessProxy``/``ProcessProxySteerable``).

    Configuration is recorded and replayed in the child, which makes its own
    context and sockets; their ``LINGER`` defaults to 1 s there (set it with
    `setsockopt` for another bound), so the process always ends. It is
    started with ``spawn``: a fork would copy the parent's libzmq state.
    Example::

        device = ProcessProxy(zmq.PULL, zmq.PUSH)
        device.bind("in", "tcp://127.0.0.1:5557")
        device.bind("out", "tcp://127.0.0.1:5558")
        device.start()
        ...
        device.stop()
        device.join(timeout=5)
    """

    def __init__(
        self,
        in_type: int,
        out_type: int,
        mon_type: int | None = None,
        *,
        ctrl_type: int | None = None,
    ) -> None:
        super().__init__(in_type, out_type, mon_type, ctrl_type)
        self._calls: list[_Call] = []
        self._process: Any = None
        self._conn: Any = None

    def _record(self, side: Side, method: str, *args: Any) -> None:
        self._check_side(side)
        self._calls.append((side, method, args))

    def bind(self, side: Side, address: str) -> None:
        """Bind the ``side`` socket when the process starts."""
        self._record(side, "bind", address)

    def connect(self, side: Side, address: str) -> None:
        """Connect the ``side`` socket when the process starts."""
        self._record(side, "connect", address)

    def setsockopt(self, side: Side, option: int, value: Any) -> None:
        """Set an option of the ``side`` socket when the process starts."""
        self._record(side, "setsockopt", option, value)

    def bind_to_random_port(self, side: Side, address: str, *args: int, **kwargs: int) -> int:
        """Reserve a random port of ``address`` now, bound in the process at start.

        As with pyzmq, another program may take the port in between.
        """
        self._check_side(side)
        with zmq.Context() as context, context.socket(self._types[side]) as probe:
            probe.linger = 0
            port = probe.bind_to_random_port(address, *args, **kwargs)
        self._record(side, "bind", f"{address}:{port}")
        return port

    def start(self, timeout: float | timedelta = 30.0) -> None:
        """Start the process; return once it serves, or raise why it cannot."""
        wait = seconds("timeout", timeout, zero=True)
        self._mark_started()
        spawn = multiprocessing.get_context("spawn")
        self._conn, child_end = spawn.Pipe()
        self._process = spawn.Process(
            target=_serve_in_process,
            args=(child_end, self._types, self._calls, self._prefixes),
            name="tzmq device",
            daemon=self.daemon,
        )
        self._process.start()
        child_end.close()
        kind, detail = self._receive(wait)
        if kind != "ready":
            self._process.join(wait)
            raise RuntimeError(f"the device could not start: {detail}")

    def _receive(self, wait: float) -> tuple[str, Any]:
        try:
            if self._conn.poll(wait):
                result: tuple[str, Any] = self._conn.recv()
                return result
        except (EOFError, OSError):
            return "error", "the device process ended"
        if self._process.is_alive():
            self._process.terminate()
        return "error", f"no answer from the device process within {wait} s"

    def stop(self) -> None:
        """End the device (as ``TERMINATE`` does); any thread."""
        if self._conn is not None:
            with contextlib.suppress(OSError):  # already ended: nothing to stop
                self._conn.send(("stop", None))

    def join(self, timeout: float | timedelta | None = None) -> None:
        """Wait for the process to end (at most ``timeout``); then read its statistics."""
        if self._process is None:
            return
        self._process.join(None if timeout is None else seconds("timeout", timeout, zero=True))
        if not self._process.is_alive() and self._conn is not None:
            try:
                if self._conn.poll(0):
                    kind, detail = self._conn.recv()
                    if kind == "statistics":
                        self.statistics = detail
            except (EOFError, OSError):
                pass  # it ended without a report (killed)
            self._conn.close()
            self._conn = None

    def is_alive(self) -> bool:
        """True while the device's process runs."""
        return self._process is not None and bool(self._process.is_alive())


class _Monitored:
    """Makes a background proxy a monitored queue: a monitor socket and its prefixes."""

    _prefixes: _Prefixes

    def __init__(
        self,
        in_type: int,
        out_type: int,
        mon_type: int = zmq.PUB,
        in_prefix: bytes = b"in",
        out_prefix: bytes = b"out",
        **options: Any,
    ) -> None:
        self._prefixes = check_prefixes(in_prefix, out_prefix)
        super().__init__(in_type, out_type, mon_type, **options)  # type: ignore[call-arg]


class ThreadMonitoredQueue(_Monitored, ThreadProxy):
    """A `MonitoredQueue` on its own IOLoop thread (pyzmq's ``ThreadMonitoredQueue``).

    ``ThreadMonitoredQueue(in_type, out_type, mon_type=zmq.PUB, in_prefix=b"in",
    out_prefix=b"out", *, ctrl_type=None, context=None)``; see `ThreadProxy`.
    """


class ProcessMonitoredQueue(_Monitored, ProcessProxy):
    """A `MonitoredQueue` in its own process (pyzmq's ``ProcessMonitoredQueue``).

    ``ProcessMonitoredQueue(in_type, out_type, mon_type=zmq.PUB, in_prefix=b"in",
    out_prefix=b"out", *, ctrl_type=None)``; see `ProcessProxy`.
    """
