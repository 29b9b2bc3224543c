"""Peers from ZRE beacons on loopback: appeared, evasive, expired, left; timing and bad input."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from tornado.ioloop import IOLoop

from tzmq.discovery import Beacon, Peer, PeerEvent, Peers, ZreBeacon

from .conftest import INTERVAL, WAIT, Mesh, until

EVASIVE = 0.15
EXPIRED = 0.4
LATE = 0.5
"""How late past its deadline an event may come on a loaded machine (it never comes early)."""


class Recorder:
    """Every event of a tracker, with the loop time it came at."""

    def __init__(self, peers: Peers) -> None:
        self.events: list[tuple[float, PeerEvent]] = []
        peers.on_event(lambda event: self.events.append((IOLoop.current().time(), event)))

    def kinds(self) -> list[str]:
        return [event.kind for _, event in self.events]

    async def wait_for(self, kind: str, count: int = 1) -> float:
        await until(lambda: self.kinds().count(kind) >= count)
        return [t for t, event in self.events if event.kind == kind][count - 1]


def tracked(mesh: Mesh) -> tuple[Beacon, Beacon, Peers, Recorder]:
    """Our beacon with its tracker and recorder, and theirs to drive it."""
    me, them = mesh(), mesh()
    peers = Peers(me, evasive=EVASIVE, expired=EXPIRED)
    return me, them, peers, Recorder(peers)


async def beacons_heard(beacon: Beacon, count: int) -> None:
    """Wait for ``count`` more beacons delivered by ``beacon`` (time passing, proven)."""
    target = beacon.stats.delivered + count
    await until(lambda: beacon.stats.delivered >= target)


@pytest.mark.gen_test
async def test_a_peer_appears_goes_evasive_then_expires_on_time(mesh: Mesh) -> None:
    me, them, peers, record = tracked(mesh)
    them_id = uuid.uuid4()
    them.publish(ZreBeacon(them_id, 4321).encode(), INTERVAL)
    await record.wait_for("appeared")
    assert peers.peers == {them_id: Peer(them_id, "127.0.0.1", 4321)}
    assert peers.peers[them_id].endpoint == "tcp://127.0.0.1:4321"
    # Beaconing for over two evasive periods: no evasive event.
    await beacons_heard(me, round(2 * EVASIVE / INTERVAL) + 1)
    assert record.kinds() == ["appeared"]
    them.silence()
    silent_since = IOLoop.current().time()
    evasive_at = await record.wait_for("evasive")
    assert peers.is_evasive(them_id)
    expired_at = await record.wait_for("expired")
    assert record.kinds() == ["appeared", "evasive", "expired"]
    assert peers.peers == {}
    # Never early (the last beacon was heard up to an interval before silence()),
    # and within LATE of the configured silence.
    assert EVASIVE - 2 * INTERVAL <= evasive_at - silent_since <= EVASIVE + LATE
    assert EXPIRED - 2 * INTERVAL <= expired_at - silent_since <= EXPIRED + LATE


@pytest.mark.gen_test
async def test_a_peer_coming_back(mesh: Mesh) -> None:
    me, them, _, record = tracked(mesh)
    zre = ZreBeacon(uuid.uuid4(), 4321)
    them.publish(zre.encode(), INTERVAL)
    await record.wait_for("appeared")
    them.silence()
    await record.wait_for("evasive")
    # Back before it expired: it returns, and does not expire while it beacons.
    them.publish(zre.encode(), INTERVAL)
    await record.wait_for("returned")
    await beacons_heard(me, round(2 * EXPIRED / INTERVAL) + 1)
    assert record.kinds() == ["appeared", "evasive", "returned"]
    them.silence()
    await record.wait_for("expired")
    # Back after it expired: a new appearance.
    them.publish(zre.encode(), INTERVAL)
    await record.wait_for("appeared", 2)
    assert record.kinds() == ["appeared", "evasive", "returned", "evasive", "expired", "appeared"]


@pytest.mark.gen_test
async def test_port_zero_means_leaving_and_a_new_endpoint_means_restarted(mesh: Mesh) -> None:
    _, them, peers, record = tracked(mesh)
    zre = ZreBeacon(uuid.uuid4(), 4321)
    them.publish(zre.encode(), INTERVAL)
    await record.wait_for("appeared")
    them.publish(zre._replace(port=4322).encode(), INTERVAL)  # the same peer, restarted
    await record.wait_for("appeared", 2)
    assert [(e.kind, e.peer.port) for _, e in record.events] == [
        ("appeared", 4321),
        ("left", 4321),
        ("appeared", 4322),
    ]
    them.publish(zre.leaving().encode())
    them.close()
    await record.wait_for("left", 2)
    assert peers.peers == {}  # gone at once: nothing left to go evasive or expire


@pytest.mark.gen_test
async def test_malformed_zre_beacons_are_counted(mesh: Mesh) -> None:
    me, them, other = (mesh() for _ in range(3))
    peers = Peers(me, evasive=EVASIVE, expired=EXPIRED)
    record = Recorder(peers)
    them.publish(b"ZRE\x01 but too short", INTERVAL)
    other.publish(b"not ZRE at all", INTERVAL)
    await until(lambda: peers.malformed >= 2 and me.stats.filtered >= 2)
    assert record.events == [] and peers.peers == {}


@pytest.mark.gen_test
async def test_async_for_and_close(mesh: Mesh) -> None:
    me, them = mesh(), mesh()
    peers = Peers(me, evasive=EVASIVE, expired=EXPIRED)
    reader = aiter(peers)  # reading from here on, before the peer appears
    them_id = uuid.uuid4()
    them.publish(ZreBeacon(them_id, 1).encode(), INTERVAL)
    events: list[PeerEvent] = []

    async def read() -> None:
        async for event in reader:
            events.append(event)
            peers.close()

    await asyncio.wait_for(read(), WAIT)
    assert events == [PeerEvent("appeared", Peer(them_id, "127.0.0.1", 1))]
    assert not me.closed  # the beacon is the caller's


def test_bad_arguments_fail_at_the_call(mesh: Mesh) -> None:
    beacon = mesh()
    with pytest.raises(ValueError, match="shorter"):
        Peers(beacon, evasive=2, expired=1)
    with pytest.raises(ValueError, match="evasive"):
        Peers(beacon, evasive=0)
    with pytest.raises(TypeError, match="Beacon"):
        Peers(object())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="callable"):
        Peers(beacon).on_event(1)  # type: ignore[arg-type]
