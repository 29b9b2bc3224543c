"""A UDP beacon on the IOLoop, with the semantics of CZMQ's zbeacon.

Owns publishing a payload every ``interval``, receiving other beacons,
filtering them by prefix and delivering them by callback and ``async for``.
The receiving socket is an ordinary level-triggered fd, registered with
Tornado's public `IOLoop.add_handler` (so it also works where asyncio has no
``add_reader``, e.g. Windows' Proactor loop, through Tornado's selector
thread). Each wake-up reads a bounded batch, then gives the loop a turn.

Bad datagrams (empty, over 255 bytes, not matching the subscription, our own
echo) are dropped and counted in `BeaconStats`, never raised into the loop.
Our echo is recognised by its source: we send from a socket of our own with
an address no other socket has, so a beacon from another process carrying
the same bytes is still heard (CZMQ compares payloads and drops it).

Example::

    beacon = Beacon(5670, Multicast("239.255.0.1"))
    beacon.publish(b"broker tcp://10.0.0.5:5555")     # now, then every second
    beacon.subscribe(b"broker ")                        # b"" hears every beacon
    async for sender, payload in beacon:                # ends at beacon.close()
        print(sender, payload)

Thread-safety: IOLoop thread only; construct the beacon on its loop's thread.
"""

from __future__ import annotations

import errno
import logging
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, fields
from datetime import timedelta
from typing import NamedTuple

from tornado.ioloop import IOLoop

from .._duration import seconds
from ._args import payload as _payload
from ._inbox import Inbox
from .targets import Broadcast, Multicast, Target, Unicast, open_sockets

__all__ = ["MAX_PAYLOAD", "Beacon", "BeaconStats", "Heard"]

_log = logging.getLogger("tzmq.discovery")

MAX_PAYLOAD = 255
"""The largest beacon, in bytes (CZMQ's ``UDP_FRAME_MAX``)."""

_BATCH = 64
"""Datagrams read per wake-up before the loop gets a turn."""
_DATAGRAM_MAX = 65536
"""Read whole datagrams, so an oversize one is seen as such, not truncated."""
_INBOX_LIMIT = 1024
"""Beacons an ``async for`` reader may fall behind by before the oldest go."""
_JITTER = 0.1
"""Each gap is 90-100% of the interval: hosts started together drift apart,
and a peer never waits longer than ``interval`` for the next beacon."""


class Heard(NamedTuple):
    """A beacon received: the IPv4 address it came from and its payload."""

    sender: str
    payload: bytes


@dataclass
class BeaconStats:
    """What a beacon has sent, received, delivered and dropped (by reason)."""

    sent: int = 0
    """Datagrams sent (one per destination per interval)."""
    send_errors: int = 0
    """Sends the network refused (unreachable, interface down...); retried next interval."""
    received: int = 0
    """Datagrams read from the socket, good and bad."""
    delivered: int = 0
    """Beacons passed to the callback and readers."""
    echo: int = 0
    """Our own beacons, looped back to us."""
    empty: int = 0
    oversize: int = 0
    """Datagrams over `MAX_PAYLOAD` bytes."""
    filtered: int = 0
    """Beacons not matching the subscription (or heard while unsubscribed)."""
    overflow: int = 0
    """Beacons an ``async for`` reader lost because it fell behind."""
    receive_errors: int = 0

    @property
    def dropped(self) -> int:
        """Datagrams received and not delivered."""
        return self.echo + self.empty + self.oversize + self.filtered

    def as_dict(self) -> dict[str, int]:
        return {field.name: getattr(self, field.name) for field in fields(self)}


BeaconCallback = Callable[[str, bytes], object]


class Beacon:
    """Publish a payload on a UDP ``port`` and hear other beacons on it.

    ``target`` says where beacons go: `Broadcast`, `Multicast` or `Unicast`.
    The port is shared with other beacons on the host (``SO_REUSEADDR``,
    ``SO_REUSEPORT``); a `Unicast` datagram, though, reaches only one of the
    sockets sharing an address and port, so give each unicast beacon on one
    host its own interface address. Raises `OSError` if the host cannot do
    what the target asks.

    As with zbeacon, nothing is delivered until `subscribe` is called.
    """

    def __init__(self, port: int, target: Target, io_loop: IOLoop | None = None) -> None:
        if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
            raise ValueError(f"port must be an int from 1 to 65535, not {port!r}")
        if not isinstance(target, (Broadcast, Multicast, Unicast)):
            raise TypeError(
                f"target must be Broadcast, Multicast or Unicast, not {type(target).__name__}"
            )
        self.io_loop = io_loop or IOLoop.current()
        self.port = port
        self.target = target
        self.stats = BeaconStats()
        self._receiver, self._sender, self._destinations = open_sockets(target, port)
        self._own: tuple[str, int] = self._sender.getsockname()[:2]
        self._buffer = bytearray(_DATAGRAM_MAX)
        self._transmit: bytes | None = None
        self._interval = 1.0
        self._timer: object | None = None
        self._filter: bytes | None = None
        self._callback: BeaconCallback | None = None
        self._inboxes: set[Inbox[Heard]] = set()
        self._failing: int | None = None
        self._closed = False
        try:
            self.io_loop.add_handler(self._receiver, self._readable, IOLoop.READ)
        except BaseException:
            self._receiver.close()
            self._sender.close()
            raise

    @property
    def address(self) -> str:
        """The IPv4 address our beacons leave from (what zbeacon's CONFIGURE answers):
        where peers will see them come from."""
        return self._own[0]

    @property
    def closed(self) -> bool:
        return self._closed

    def publish(
        self, payload: bytes | bytearray | memoryview, interval: float | timedelta = 1.0
    ) -> None:
        """Send ``payload`` (1 to 255 bytes) now, then every ``interval`` until
        `silence` or the next `publish`."""
        data = _payload("payload", payload, MAX_PAYLOAD)
        if not data:
            raise ValueError("payload is empty; a beacon carries 1 to 255 bytes")
        every = seconds("interval", interval)
        self._check_open()
        self._transmit, self._interval = data, every
        self._cancel_timer()
        self._emit()

    def silence(self) -> None:
        """Stop publishing (what is already on the wire may still arrive)."""
        self._transmit = None
        self._cancel_timer()

    def subscribe(self, prefix: bytes | bytearray | memoryview = b"") -> None:
        """Deliver beacons whose payload starts with ``prefix`` (b"": all of them)."""
        data = _payload("prefix", prefix, MAX_PAYLOAD)
        self._check_open()
        self._filter = data

    def unsubscribe(self) -> None:
        """Deliver no more beacons (they are counted as filtered)."""
        self._filter = None

    def on_beacon(self, callback: BeaconCallback | None) -> None:
        """Call ``callback(sender, payload)`` for each beacon heard; None stops.

        A callback that raises is logged on ``tzmq.discovery``; later beacons
        are still delivered.
        """
        if callback is not None and not callable(callback):
            raise TypeError(f"on_beacon callback must be callable, not {type(callback).__name__}")
        self._check_open()
        self._callback = callback

    def __aiter__(self) -> AsyncIterator[Heard]:
        self._check_open()
        inbox: Inbox[Heard] = Inbox(_INBOX_LIMIT)
        self._inboxes.add(inbox)
        return self._read(inbox)

    async def _read(self, inbox: Inbox[Heard]) -> AsyncIterator[Heard]:
        try:
            async for heard in inbox.items():
                yield heard
        finally:
            self._inboxes.discard(inbox)

    def close(self) -> None:
        """Stop publishing and listening, close both sockets, end every ``async for``
        (idempotent). Publish a farewell (e.g. a ZRE beacon with port 0) first
        if peers should hear that we leave: it is sent before `publish` returns."""
        if self._closed:
            return
        self._closed = True
        self.silence()
        self._callback = None
        self.io_loop.remove_handler(self._receiver)
        self._receiver.close()
        self._sender.close()
        for inbox in self._inboxes:
            inbox.close()

    def __enter__(self) -> Beacon:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("beacon is closed")

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self.io_loop.remove_timeout(self._timer)
            self._timer = None

    def _emit(self) -> None:
        assert self._transmit is not None
        for destination in self._destinations:
            try:
                self._sender.sendto(self._transmit, destination)
            except OSError as error:
                self.stats.send_errors += 1
                self._sending_failed(destination, error)
            else:
                self.stats.sent += 1
                if self._failing is not None:
                    _log.info("beacon on port %d: sending again", self.port)
                    self._failing = None
        gap = self._interval * (1 - _JITTER * random.random())
        self._timer = self.io_loop.call_later(gap, self._emit)

    def _sending_failed(self, destination: tuple[str, int], error: OSError) -> None:
        # A link that goes down fails every send until it comes back: say so
        # once per cause, not once per interval.
        if error.errno == self._failing:
            return
        self._failing = error.errno
        _log.warning(
            "beacon on port %d: cannot send to %s:%d (%s); retrying every interval",
            self.port,
            *destination,
            errno.errorcode.get(error.errno or 0, error.strerror),
        )

    def _readable(self, fd: object, events: int) -> None:
        stats = self.stats
        for _ in range(_BATCH):
            try:
                size, source = self._receiver.recvfrom_into(self._buffer)
            except BlockingIOError:
                return
            except OSError as error:
                # E.g. Windows reports an earlier send's ICMP "port unreachable"
                # on the next read: count it, let the loop call us again.
                stats.receive_errors += 1
                _log.debug("beacon on port %d: receive failed: %s", self.port, error)
                return
            stats.received += 1
            if source[:2] == self._own:
                stats.echo += 1
            elif size == 0:
                stats.empty += 1
            elif size > MAX_PAYLOAD:
                stats.oversize += 1
            elif self._filter is None:
                stats.filtered += 1
            else:
                payload = bytes(self._buffer[:size])
                if not payload.startswith(self._filter):
                    stats.filtered += 1
                    continue
                self._deliver(Heard(source[0], payload))
                if self._closed:  # a callback closed the beacon
                    return

    def _deliver(self, heard: Heard) -> None:
        self.stats.delivered += 1
        for inbox in self._inboxes:
            if not inbox.put(heard):
                self.stats.overflow += 1
        if self._callback is not None:
            try:
                self._callback(*heard)
            except Exception:
                _log.exception(
                    "beacon callback %r failed on a beacon from %s", self._callback, heard.sender
                )
