"""The Beacon on loopback: publish, subscribe, silence, echo, targets, bad datagrams."""

from __future__ import annotations

import asyncio
import itertools
import logging
import socket
from collections.abc import Callable
from datetime import timedelta

import pytest
from tornado.ioloop import IOLoop

from tests.loops import ProactorStandIn
from tzmq.discovery import MAX_PAYLOAD, Beacon, Broadcast, Heard, Multicast, Unicast

from .conftest import INTERVAL, WAIT, BeaconFactory, Mesh, collect, hear, until


@pytest.mark.gen_test
async def test_beacons_hear_each_other_not_themselves(mesh: Mesh) -> None:
    a, b = mesh(), mesh()
    a.subscribe()
    b.subscribe()
    heard_by_a = collect(a)
    # The same bytes from both: CZMQ would drop b's as if it were a's own echo.
    a.publish(b"same", INTERVAL)
    b.publish(b"same", INTERVAL)
    assert await hear(b, lambda h: True) == Heard("127.0.0.1", b"same")
    await hear(a, lambda h: True)
    assert a.stats.echo >= 1 and b.stats.echo >= 1
    # Every beacon a heard came from b: a's own came back as echo, never delivered.
    assert heard_by_a and a.stats.delivered == len(heard_by_a)
    assert a.stats.received == a.stats.delivered + a.stats.echo
    assert a.address == b.address == "127.0.0.1"


@pytest.mark.gen_test
async def test_subscribe_filters_by_prefix_and_unsubscribe_stops(mesh: Mesh) -> None:
    listener = mesh()
    wanted, other = mesh(), mesh()
    heard = collect(listener)
    wanted.publish(b"svc:broker", INTERVAL)
    other.publish(b"log:collector", INTERVAL)
    # Not subscribed: zbeacon delivers nothing, and counts why.
    await until(lambda: listener.stats.filtered >= 4)
    assert heard == []
    listener.subscribe(b"svc:")
    await hear(listener, lambda h: True)
    assert {h.payload for h in heard} == {b"svc:broker"}
    assert listener.stats.filtered >= 1  # other's beacons, and anything before subscribe
    listener.subscribe()
    await hear(listener, lambda h: h.payload == b"log:collector")
    listener.unsubscribe()
    count = len(heard)
    filtered = listener.stats.filtered
    # Two more beacons from each publisher arrive, all filtered.
    probe = mesh()
    probe.subscribe()
    for _ in range(4):
        await hear(probe, lambda h: True)
    await until(lambda: listener.stats.filtered >= filtered + 4)
    assert len(heard) == count


@pytest.mark.gen_test
async def test_silence_stops_publishing(mesh: Mesh) -> None:
    quiet, steady, listener = (mesh() for _ in range(3))
    listener.subscribe()
    heard = collect(listener)
    quiet.publish(b"quiet", INTERVAL)
    steady.publish(b"steady", INTERVAL)
    await hear(listener, lambda h: h.payload == b"quiet")
    quiet.silence()
    sent = quiet.stats.sent
    mark = len(heard)
    # Ten of steady's intervals later, quiet has sent nothing more and nothing new came in
    # (one beacon may have been on its way at silence()).
    for _ in range(10):
        await hear(listener, lambda h: h.payload == b"steady")
    assert quiet.stats.sent == sent
    assert [h.payload for h in heard[mark:]].count(b"quiet") <= 1


@pytest.mark.gen_test
async def test_interval_with_jitter(mesh: Mesh) -> None:
    publisher, listener = mesh(), mesh()
    listener.subscribe()
    interval = 0.05
    times: list[float] = []
    listener.on_beacon(lambda sender, payload: times.append(IOLoop.current().time()))
    publisher.publish(b"tick", timedelta(seconds=interval))
    await until(lambda: len(times) >= 12)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # The timer never fires early: each gap is at least 90% of the interval (less the
    # loop's clock granularity); and the gaps are not all equal.
    assert min(gaps) >= 0.9 * interval - 0.005, gaps
    assert max(gaps) - min(gaps) > 0.0005, gaps


@pytest.mark.gen_test
async def test_loopback_broadcast(beacons: BeaconFactory, port: int) -> None:
    target = Broadcast("127.255.255.255", "127.0.0.1")
    a, b, c = (beacons(port, target) for _ in range(3))
    for beacon in (b, c):
        beacon.subscribe(b"hi")
    a.publish(b"hi from a", INTERVAL)
    assert (await hear(b, lambda h: True)).payload == b"hi from a"
    assert (await hear(c, lambda h: True)).payload == b"hi from a"


@pytest.mark.gen_test
async def test_unicast_to_a_list_of_addresses(beacons: BeaconFactory, port: int) -> None:
    # Each beacon on its own loopback address: unicast datagrams are not shared
    # between sockets on one address and port, as broadcasts are.
    a = beacons(port, Unicast(["127.0.0.2", "127.0.0.3"], interface="127.0.0.1"))
    b = beacons(port, Unicast(["127.0.0.1"], interface="127.0.0.2"))
    c = beacons(port, Unicast(["127.0.0.1"], interface="127.0.0.3"))
    for beacon in (a, b, c):
        beacon.subscribe()
    a.publish(b"from a", INTERVAL)
    b.publish(b"from b", INTERVAL)
    c.publish(b"from c", INTERVAL)
    assert await hear(b, lambda h: True) == Heard("127.0.0.1", b"from a")
    assert await hear(c, lambda h: True) == Heard("127.0.0.1", b"from a")
    assert await hear(a, lambda h: h.sender == "127.0.0.2") == Heard("127.0.0.2", b"from b")
    assert await hear(a, lambda h: h.sender == "127.0.0.3") == Heard("127.0.0.3", b"from c")
    assert a.stats.sent >= 2  # one datagram per address per interval


@pytest.mark.gen_test
async def test_bad_datagrams_are_dropped_and_counted(
    mesh: Mesh,
    caplog: pytest.LogCaptureFixture,
) -> None:
    listener = mesh()
    listener.subscribe(b"ok")
    heard = collect(listener)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw:
        raw.bind(("127.0.0.1", 0))
        for datagram in (b"", b"ok" + bytes(MAX_PAYLOAD), b"nope", b"ok" + bytes(MAX_PAYLOAD - 2)):
            raw.sendto(datagram, ("127.0.0.1", mesh.port))
    await until(lambda: listener.stats.received == 4)
    assert heard == [Heard("127.0.0.1", b"ok" + bytes(MAX_PAYLOAD - 2))]
    stats = listener.stats
    assert (stats.empty, stats.oversize, stats.filtered, stats.delivered) == (1, 1, 1, 1)
    assert stats.dropped == 3
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.gen_test
async def test_a_raising_callback_is_logged_and_delivery_goes_on(
    mesh: Mesh,
    caplog: pytest.LogCaptureFixture,
) -> None:
    publisher, listener = mesh(), mesh()
    listener.subscribe()
    calls: list[bytes] = []

    def fails(sender: str, payload: bytes) -> None:
        calls.append(payload)
        raise RuntimeError("callback broke")

    listener.on_beacon(fails)
    publisher.publish(b"x", INTERVAL)
    await until(lambda: len(calls) >= 3)
    failures = [r for r in caplog.records if r.name == "tzmq.discovery" and r.exc_info]
    assert len(failures) == len(calls) and "callback broke" in caplog.text


@pytest.mark.gen_test
async def test_async_for_ends_at_close(mesh: Mesh) -> None:
    publisher, listener = mesh(), mesh()
    listener.subscribe()
    publisher.publish(b"x", INTERVAL)
    seen: list[Heard] = []

    async def read() -> None:
        async for heard in listener:
            seen.append(heard)
            if len(seen) == 2:
                listener.close()

    await asyncio.wait_for(read(), WAIT)
    assert len(seen) == 2 and listener.closed
    with pytest.raises(RuntimeError, match="closed"):
        listener.publish(b"late")
    listener.close()  # idempotent


def test_bad_arguments_fail_at_the_call(
    io_loop: IOLoop, port: int, loopback_multicast: Multicast
) -> None:
    with pytest.raises(ValueError, match="port"):
        Beacon(0, loopback_multicast, io_loop=io_loop)
    with pytest.raises(TypeError, match="target"):
        Beacon(port, "239.1.1.1", io_loop=io_loop)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="multicast"):
        Broadcast("239.1.1.1")
    with pytest.raises(ValueError, match="not a multicast group"):
        Multicast("10.0.0.1")
    with pytest.raises(ValueError, match="IPv4"):
        Multicast("ff02::1")
    with pytest.raises(ValueError, match="interface"):
        Broadcast("127.255.255.255", "0.0.0.0")
    with pytest.raises(ValueError, match="ttl"):
        Multicast("239.1.1.1", ttl=256)
    with pytest.raises(ValueError, match="at least one"):
        Unicast([])
    with pytest.raises(TypeError, match="one string"):
        Unicast("127.0.0.1")
    with Beacon(port, loopback_multicast, io_loop=io_loop) as beacon:
        with pytest.raises(ValueError, match="at most 255"):
            beacon.publish(bytes(MAX_PAYLOAD + 1))
        with pytest.raises(ValueError, match="empty"):
            beacon.publish(b"")
        with pytest.raises(TypeError, match="bytes-like"):
            beacon.publish("text")  # type: ignore[arg-type]
        for interval in (0, -1, float("nan"), float("inf")):
            with pytest.raises(ValueError, match="interval"):
                beacon.publish(b"x", interval)
        with pytest.raises(TypeError, match="interval"):
            beacon.publish(b"x", "1")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="prefix"):
            beacon.subscribe(bytes(MAX_PAYLOAD + 1))
        with pytest.raises(TypeError, match="callable"):
            beacon.on_beacon(42)  # type: ignore[arg-type]
        assert beacon.stats.sent == 0  # nothing went out for a refused call
    assert beacon.closed


def test_an_interface_that_is_not_ours_fails_at_the_call(io_loop: IOLoop, port: int) -> None:
    with pytest.raises(OSError):
        Beacon(port, Unicast(["127.0.0.1"], interface="192.0.2.254"), io_loop=io_loop)


def test_beacon_on_a_proactor_loop(
    monkeypatch: pytest.MonkeyPatch, port: int, loopback_multicast: Multicast
) -> None:
    """Where asyncio has no add_reader (Windows), Tornado's selector thread serves the fd."""
    monkeypatch.setattr(asyncio, "ProactorEventLoop", ProactorStandIn, raising=False)
    loop = IOLoop(asyncio_loop=ProactorStandIn(), make_current=False)

    async def main() -> Heard:
        with Beacon(port, loopback_multicast) as a, Beacon(port, loopback_multicast) as b:
            b.subscribe()
            a.publish(b"through the selector thread", INTERVAL)
            return await hear(b, lambda h: True)

    try:
        heard = loop.run_sync(main, timeout=WAIT)
    finally:
        loop.close(all_fds=True)
    assert heard == Heard("127.0.0.1", b"through the selector thread")


@pytest.mark.gen_test
async def test_a_reader_that_falls_behind_loses_the_oldest_counted(mesh: Mesh) -> None:
    listener = mesh()
    listener.subscribe()
    reader = aiter(listener)  # registered, not yet read
    total = 1100

    def received(count: int) -> Callable[[], bool]:
        return lambda: listener.stats.received == count

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw:
        raw.bind(("127.0.0.1", 0))
        for start in range(0, total, 100):  # in steps the socket buffer surely holds
            for n in range(start, start + 100):
                raw.sendto(b"%d" % n, ("127.0.0.1", mesh.port))
            await until(received(start + 100))
    assert listener.stats.delivered == total
    assert listener.stats.overflow == total - 1024
    first = await asyncio.wait_for(anext(reader), WAIT)
    assert first.payload == b"%d" % (total - 1024)  # the newest 1024 were kept
    await reader.aclose()  # type: ignore[attr-defined]
