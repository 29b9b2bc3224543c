"""Beacons across real network boundaries: hosts in network namespaces on one bridge.

Each host is a process in its own namespace (`lan.lan`); the bridge lives in
a namespace of its own, so nothing reaches the machine's real network.
Proven: tzmq beacons find each other by broadcast, multicast and unicast
across the bridge; beacons lost for longer than ``evasive`` (a cable pulled
for a while) make a peer evasive but not gone; a link down for longer than
``expired`` makes it expire, on time, on every side; plugged back, it
appears again. Several processes on one host share the beacon port
(loopback multicast, no namespace needed).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from tzmq.discovery import Multicast

from .lan import Host, Hosts, Lan, lan, run

EVASIVE = 0.5
EXPIRED = 1.5
INTERVAL = 0.1
"""host.py's publishing interval."""
LATE = 1.0
"""How late past its deadline an event may come, across processes on a loaded machine."""


def _peer(kind: str, peer: str, after: float = 0.0) -> Any:
    """A test for a host's record: ``kind`` event about ``peer``, at ``after`` or later."""
    return lambda r: r.get("peer") == kind and r.get("uuid") == peer and r["t"] >= after


def _heard(sender: str, payload: bytes) -> Any:
    """A test for a host's record: it heard ``payload`` from ``sender``."""
    return lambda r: r.get("heard") == [sender, payload.hex()]


async def _zre_hosts(hosts: Hosts, net: Lan, port: int) -> list[tuple[Host, str]]:
    started = []
    for i, address in enumerate(net.addresses):
        host, ready = await hosts.start(
            "tzmq", "--zre", "--port", str(port),
            "--target", f"broadcast:{net.broadcast}@{address}",
            "--evasive", str(EVASIVE), "--expired", str(EXPIRED),
            prefix=net.prefix(i),
        )  # fmt: skip
        assert ready["ready"] == address
        started.append((host, ready["uuid"]))
    return started


@pytest.mark.timeout(60)
def test_loss_a_link_down_and_a_peer_coming_back() -> None:
    with lan(3) as net:

        async def main(hosts: Hosts) -> None:
            (a, a_id), (b, b_id), (c, c_id) = await _zre_hosts(hosts, net, 5670)
            for host, others in ((a, (b_id, c_id)), (b, (a_id, c_id)), (c, (a_id, b_id))):
                for other in others:
                    await host.until(_peer("appeared", other), 5)

            # Loss: b's cable out until b and the others have seen each other go
            # evasive, then back in. Beacons lost for less than `expired` are not a
            # departure: b returns, on every side.
            pairs = ((a, b_id), (c, b_id), (b, a_id), (b, c_id))
            unplugged = time.monotonic()
            net.unplug(1)
            for host, other in pairs:
                await host.until(_peer("evasive", other, unplugged), EVASIVE + LATE)
            plugged = time.monotonic()
            net.plug(1)
            for host, other in pairs:
                await host.until(_peer("returned", other, plugged), 5)

            # A link down: c's cable out for good; a and b see it expire on time.
            unplugged = time.monotonic()
            net.unplug(2)
            for host in (a, b):
                evasive = await host.until(_peer("evasive", c_id, unplugged), EXPIRED + LATE)
                expired = await host.until(_peer("expired", c_id, unplugged), EXPIRED + LATE)
                # Its last beacon left at most an interval before the cable came out.
                assert EVASIVE - INTERVAL <= evasive["t"] - unplugged <= EVASIVE + LATE
                assert EXPIRED - INTERVAL <= expired["t"] - unplugged <= EXPIRED + LATE
            await c.until(_peer("expired", a_id, unplugged), EXPIRED + LATE)

            # Coming back: plugged in again, c appears to a and b (and they to c).
            plugged = time.monotonic()
            net.plug(2)
            for host, other in ((a, c_id), (b, c_id), (c, a_id), (c, b_id)):
                await host.until(_peer("appeared", other, plugged), 5)

            for host in (a, b, c):
                await host.quit()
            about_b = [r["peer"] for r in a.records if r.get("uuid") == b_id]
            about_c = [r["peer"] for r in a.records if r.get("uuid") == c_id]
            assert about_b[:3] == ["appeared", "evasive", "returned"]
            assert "expired" not in about_b
            assert about_c[:4] == ["appeared", "evasive", "expired", "appeared"]
            # c's and b's port-0 farewells came before or as they quit: no traceback anywhere.
            assert all(host.stderr == b"" for host in (a, b, c)), [h.stderr for h in (a, b, c)]

        run(main, timeout=50)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["broadcast", "multicast", "unicast"])
def test_targets_across_the_bridge(kind: str) -> None:
    with lan(2) as net:
        group = "239.255.77.1"

        def target(me: int) -> str:
            where = {
                "broadcast": net.broadcast,
                "multicast": group,
                "unicast": net.addresses[1 - me],
            }[kind]
            return f"{kind}:{where}@{net.addresses[me]}"

        async def main(hosts: Hosts) -> None:
            started = []
            for me in (0, 1):
                host, _ = await hosts.start(
                    "tzmq", "--port", "5671", "--target", target(me),
                    "--publish", f"host {me}".encode().hex(), prefix=net.prefix(me),
                )  # fmt: skip
                started.append(host)
            for me, host in enumerate(started):
                other = 1 - me
                record = await host.until(lambda r: "heard" in r, 5)
                assert record["heard"] == [net.addresses[other], f"host {other}".encode().hex()]
            for host in started:
                stats = (await host.quit())[-1]["stats"]
                assert stats["delivered"] >= 1 and stats["send_errors"] == 0, stats

        run(main, timeout=50)


@pytest.mark.timeout(60)
def test_processes_on_one_host_share_the_port(port: int, loopback_multicast: Multicast) -> None:
    """Three processes, one port, loopback multicast: each hears both others."""

    async def main(hosts: Hosts) -> None:
        started = []
        for me in range(3):
            host, _ = await hosts.start(
                "tzmq", "--port", str(port),
                "--target", f"multicast:{loopback_multicast.group}@127.0.0.1",
                "--publish", f"process {me}".encode().hex(),
            )  # fmt: skip
            started.append(host)
        for me, host in enumerate(started):
            for other in {0, 1, 2} - {me}:
                await host.until(_heard("127.0.0.1", f"process {other}".encode()), 5)
        for host in started:
            stats = (await host.quit())[-1]["stats"]
            assert stats["echo"] >= 1, stats  # its own beacons came back and were dropped

    run(main, timeout=50)
