"""Peers found by ZRE beacons, tracked as zyre tracks them.

Owns the table of peers a `Beacon` hears and the events that change it:

* ``appeared``: a UUID not in the table beacons a non-zero port;
* ``evasive``: a peer has been silent for ``evasive`` seconds (it stays in
  the table: a lost beacon or two is not a departure);
* ``returned``: an evasive peer is heard again;
* ``expired``: silent for ``expired`` seconds; removed;
* ``left``: it sent port 0 (zyre's farewell), or beacons the same UUID from
  another address or port (it restarted); removed. A restarted peer then
  ``appeared`` again at its new endpoint.

One timer, set for the earliest deadline in the table, drives evasive and
expired: no polling, and each event comes within a loop turn of its time.

Example::

    beacon = Beacon(ZRE_DISCOVERY_PORT, Broadcast("192.168.1.255"))
    peers = Peers(beacon, evasive=5, expired=30)
    async for event in peers:
        print(event.kind, event.peer.uuid, event.peer.endpoint)

Thread-safety: IOLoop thread only (the beacon's loop).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from types import MappingProxyType
from typing import Literal

from .._duration import seconds
from ._inbox import Inbox
from .beacon import Beacon
from .zre import ZRE_PREFIX, ZreBeacon

__all__ = ["Peer", "PeerEvent", "Peers"]

_log = logging.getLogger("tzmq.discovery")

_INBOX_LIMIT = 1024
"""Events an ``async for`` reader may fall behind by before the oldest go."""

EventKind = Literal["appeared", "evasive", "returned", "expired", "left"]


@dataclass(frozen=True)
class Peer:
    """A peer: its UUID and where its ZRE inbox listens."""

    uuid: uuid.UUID
    address: str
    port: int

    @property
    def endpoint(self) -> str:
        """Its inbox as a zmq endpoint, ``tcp://address:port``."""
        return f"tcp://{self.address}:{self.port}"


@dataclass(frozen=True)
class PeerEvent:
    kind: EventKind
    peer: Peer


@dataclass
class _Entry:
    peer: Peer
    heard_at: float
    evasive: bool = False


class Peers:
    """Track the peers ``beacon`` hears: subscribes it to ZRE beacons and takes
    its callback (use ``async for`` on the beacon for raw beacons as well).

    ``evasive`` and ``expired`` are silences, in seconds or a timedelta
    (zyre's defaults: 5 and 30); ``evasive`` must be the shorter.
    """

    def __init__(
        self,
        beacon: Beacon,
        evasive: float | timedelta = 5.0,
        expired: float | timedelta = 30.0,
    ) -> None:
        if not isinstance(beacon, Beacon):
            raise TypeError(f"Peers tracks a Beacon, not {type(beacon).__name__}")
        self._evasive = seconds("evasive", evasive)
        self._expired = seconds("expired", expired)
        if self._evasive >= self._expired:
            raise ValueError(
                f"evasive ({self._evasive} s) must be shorter than expired ({self._expired} s)"
            )
        self.beacon = beacon
        self.malformed = 0
        """Beacons that matched the ZRE prefix but were not ZRE beacons."""
        self.overflow = 0
        """Events an ``async for`` reader lost because it fell behind."""
        self._table: dict[uuid.UUID, _Entry] = {}
        self._callback: Callable[[PeerEvent], object] | None = None
        self._inboxes: set[Inbox[PeerEvent]] = set()
        self._timer: object | None = None
        self._timer_at = float("inf")
        self._closed = False
        beacon.subscribe(ZRE_PREFIX)
        beacon.on_beacon(self._heard)

    @property
    def peers(self) -> Mapping[uuid.UUID, Peer]:
        """The peers in the table (evasive ones included), by UUID; read-only."""
        return MappingProxyType({key: entry.peer for key, entry in self._table.items()})

    def is_evasive(self, peer_id: uuid.UUID) -> bool:
        """Whether the peer ``peer_id`` in the table has been silent for ``evasive``."""
        return self._table[peer_id].evasive

    def on_event(self, callback: Callable[[PeerEvent], object] | None) -> None:
        """Call ``callback(event)`` for every `PeerEvent`; None stops. A callback
        that raises is logged on ``tzmq.discovery``; tracking goes on."""
        if callback is not None and not callable(callback):
            raise TypeError(f"on_event callback must be callable, not {type(callback).__name__}")
        self._callback = callback

    def __aiter__(self) -> AsyncIterator[PeerEvent]:
        if self._closed:
            raise RuntimeError("peer tracking is closed")
        inbox: Inbox[PeerEvent] = Inbox(_INBOX_LIMIT)
        self._inboxes.add(inbox)
        return self._read(inbox)

    async def _read(self, inbox: Inbox[PeerEvent]) -> AsyncIterator[PeerEvent]:
        try:
            async for event in inbox.items():
                yield event
        finally:
            self._inboxes.discard(inbox)

    def close(self) -> None:
        """Stop tracking and end every ``async for`` (idempotent). Leaves the
        beacon open, with no callback."""
        if self._closed:
            return
        self._closed = True
        if self._timer is not None:
            self.beacon.io_loop.remove_timeout(self._timer)
            self._timer = None
        if not self.beacon.closed:
            self.beacon.on_beacon(None)
        for inbox in self._inboxes:
            inbox.close()

    def _heard(self, sender: str, payload: bytes) -> None:
        try:
            beacon = ZreBeacon.parse(payload)
        except ValueError as error:
            self.malformed += 1
            _log.debug("not a ZRE beacon from %s: %s", sender, error)
            return
        entry = self._table.get(beacon.uuid)
        if entry is not None and (entry.peer.address, entry.peer.port) != (sender, beacon.port):
            del self._table[beacon.uuid]
            self._emit("left", entry.peer)
            entry = None
        if beacon.port == 0:
            return
        now = self.beacon.io_loop.time()
        if entry is not None:
            entry.heard_at = now
            if entry.evasive:
                entry.evasive = False
                self._emit("returned", entry.peer)
                self._wake_at(now + self._evasive)  # may now be the earliest deadline
            return
        peer = Peer(beacon.uuid, sender, beacon.port)
        self._table[beacon.uuid] = _Entry(peer, now)
        self._emit("appeared", peer)
        self._wake_at(now + self._evasive)

    def _check(self) -> None:
        self._timer, self._timer_at = None, float("inf")
        now = self.beacon.io_loop.time()
        for key, entry in list(self._table.items()):
            silence = now - entry.heard_at
            if silence >= self._expired:
                del self._table[key]
                self._emit("expired", entry.peer)
            elif silence >= self._evasive and not entry.evasive:
                entry.evasive = True
                self._emit("evasive", entry.peer)
        if self._table and not self._closed:
            self._wake_at(
                min(
                    entry.heard_at + (self._expired if entry.evasive else self._evasive)
                    for entry in self._table.values()
                )
            )

    def _wake_at(self, deadline: float) -> None:
        if deadline >= self._timer_at:
            return
        if self._timer is not None:
            self.beacon.io_loop.remove_timeout(self._timer)
        self._timer_at = deadline
        self._timer = self.beacon.io_loop.call_at(deadline, self._check)

    def _emit(self, kind: EventKind, peer: Peer) -> None:
        event = PeerEvent(kind, peer)
        for inbox in self._inboxes:
            if not inbox.put(event):
                self.overflow += 1
        if self._callback is not None:
            try:
                self._callback(event)
            except Exception:
                _log.exception("peer event callback %r failed on %s", self._callback, event)
