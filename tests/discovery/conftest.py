"""Fixtures for the discovery tests: a free UDP port, a private multicast group, and
beacons that are always closed.

Everything here stays on loopback: multicast goes out through 127.0.0.1 with
TTL 0, broadcasts go to 127.255.255.255, unicast to 127.0.0.x.
"""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from tornado.ioloop import IOLoop

from tzmq.discovery import Beacon, Heard, Multicast, Target

WAIT = 5.0
"""Bound on any one wait for beacons (the intervals used are tens of milliseconds)."""
INTERVAL = 0.02


def free_udp_port() -> int:
    """A random port that no UDP socket on 0.0.0.0 holds at the moment."""
    while True:
        port = random.randint(20000, 60000)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind(("0.0.0.0", port))
            except OSError:
                continue
            return port


@pytest.fixture
def port() -> int:
    return free_udp_port()


@pytest.fixture
def loopback_multicast() -> Multicast:
    """A group of our own, kept on this host (TTL 0) and sent through loopback."""
    return Multicast(f"239.255.{random.randint(0, 255)}.{random.randint(1, 254)}", "127.0.0.1", 0)


BeaconFactory = Callable[..., Beacon]


@pytest.fixture
def beacons(io_loop: IOLoop) -> Iterator[BeaconFactory]:
    """Make beacons on the test's loop; every one is closed at the end."""
    made: list[Beacon] = []

    def make(port: int, target: Target) -> Beacon:
        beacon = Beacon(port, target, io_loop=io_loop)
        made.append(beacon)
        return beacon

    yield make
    for beacon in made:
        beacon.close()


class Mesh:
    """Beacons on one port and one loopback multicast group: ``mesh()`` makes another."""

    def __init__(self, make: BeaconFactory, port: int, target: Multicast) -> None:
        self._make = make
        self.port = port
        self.target = target

    def __call__(self) -> Beacon:
        return self._make(self.port, self.target)


@pytest.fixture
def mesh(beacons: BeaconFactory, port: int, loopback_multicast: Multicast) -> Mesh:
    return Mesh(beacons, port, loopback_multicast)


async def hear(beacon: Beacon, wanted: Callable[[Heard], bool], timeout: float = WAIT) -> Heard:
    """The first beacon ``beacon`` hears that is ``wanted``; fail after ``timeout``."""

    async def first() -> Heard:
        async for heard in beacon:
            if wanted(heard):
                return heard
        raise AssertionError("the beacon closed")

    return await asyncio.wait_for(first(), timeout)


async def until(check: Callable[[], bool], timeout: float = WAIT) -> None:
    """Give the loop turns until ``check()`` holds; fail after ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"not true within {timeout} s: {check}")
        await asyncio.sleep(0.002)


def collect(beacon: Beacon) -> list[Any]:
    """Everything ``beacon`` hears from now on, by callback."""
    heard: list[Any] = []
    beacon.on_beacon(lambda sender, payload: heard.append(Heard(sender, payload)))
    return heard
