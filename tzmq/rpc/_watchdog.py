"""Noticing a server that stopped answering, before each call's own deadline.

Owns the heartbeat of an `RPCClient`: while calls are in flight and nothing
has come back for one interval, the client sends a probe (a call of the
empty method name, which every tzmq or aiozmq server answers at once with
`NotFoundError`, however long its handlers run); when a second interval
passes with still nothing back, the server is taken for gone and every call
in flight fails with `ServerUnresponsive` at once, instead of each waiting
out its own deadline.

One DEALER connected to several servers spreads probes among them, so only
silence from all of them is noticed; give each server its own client to
tell them apart.

Thread-safety: everything runs on the client's IOLoop thread.
"""

from __future__ import annotations

from collections.abc import Callable

from tornado.ioloop import IOLoop, PeriodicCallback

__all__ = ["Watchdog"]


class Watchdog:
    """Calls ``probe()`` after one quiet ``interval``, ``give_up()`` after two."""

    def __init__(
        self,
        io_loop: IOLoop,
        interval: float,
        in_flight: Callable[[], int],
        probe: Callable[[], None],
        give_up: Callable[[], None],
    ) -> None:
        self._io_loop = io_loop
        self._interval = interval
        self._in_flight = in_flight
        self._probe = probe
        self._give_up = give_up
        self._quiet_since = io_loop.time()
        self._probed = False
        # Checked four times an interval: silence is noticed within a quarter of it.
        self._timer = PeriodicCallback(self._check, interval * 250)
        self._timer.start()

    def heard(self) -> None:
        """Something came back from a server."""
        self._quiet_since = self._io_loop.time()
        self._probed = False

    def busy(self) -> None:
        """A call went out while none was in flight: silence counts from now."""
        self.heard()

    def stop(self) -> None:
        self._timer.stop()

    def _check(self) -> None:
        if not self._in_flight():
            return
        quiet = self._io_loop.time() - self._quiet_since
        if quiet >= 2 * self._interval:
            self.heard()
            self._give_up()
        elif quiet >= self._interval and not self._probed:
            self._probed = True
            self._probe()
