"""Interoperability, both ways, with beacons we did not write: CZMQ's zbeacon and pyre.

Each runs as a host in a network namespace of its own, on a bridge with a
tzmq host (`lan.lan`): CZMQ's zbeacon binds to a broadcast interface, which
here is only ever the namespace's own veth. CZMQ comes from Debian's
``libczmq4`` (driven through ctypes in `host.py`), pyre from PyPI's
``zeromq-pyre``; a test whose implementation is not installed is skipped,
saying how to install it.

Proven: a tzmq beacon hears CZMQ's and CZMQ hears ours, each with the
other's address as sender (broadcast, zbeacon's way: CZMQ 4.2.1's multicast
mode aborts on Linux, passing an interface index to IP_MULTICAST_IF); a tzmq `Peers` sees a pyre
node appear at its real inbox endpoint and leave by its port-0 farewell,
and the pyre node hears our ZRE beacon: it connects to the inbox we
advertised and says HELLO with its own UUID.
"""

from __future__ import annotations

import ctypes

import pytest

from .lan import Hosts, lan, run

PORT = 5670


def _need_czmq() -> None:
    try:
        ctypes.CDLL("libczmq.so.4")
    except OSError:
        pytest.skip("CZMQ not installed: apt-get install libczmq4")


@pytest.mark.timeout(60)
def test_czmq_zbeacon_both_ways() -> None:
    _need_czmq()
    with lan(2) as net:
        theirs, ours = b"CZMQ zbeacon", b"tzmq beacon"

        async def main(hosts: Hosts) -> None:
            czmq, ready = await hosts.start(
                "czmq", "--port", str(PORT), "--interface", net.device,
                "--publish", theirs.hex(), "--subscribe", "",
                prefix=net.prefix(0),
            )  # fmt: skip
            assert ready["ready"] == net.addresses[0]  # zbeacon's CONFIGURE answer
            tzmq, _ = await hosts.start(
                "tzmq", "--port", str(PORT),
                "--target", f"broadcast:{net.broadcast}@{net.addresses[1]}",
                "--publish", ours.hex(), prefix=net.prefix(1),
            )  # fmt: skip
            heard = await tzmq.until(lambda r: "heard" in r, 5)
            assert heard["heard"] == [net.addresses[0], theirs.hex()]
            heard = await czmq.until(lambda r: "heard" in r, 5)
            assert heard["heard"] == [net.addresses[1], ours.hex()]
            stats = (await tzmq.quit())[-1]["stats"]
            await czmq.quit()
            assert stats["send_errors"] == 0, stats

        run(main, timeout=50)


@pytest.mark.timeout(60)
def test_pyre_hears_us_and_we_hear_pyre() -> None:
    pytest.importorskip("pyre", reason="zeromq-pyre not installed: pip install zeromq-pyre")
    with lan(2) as net:

        async def main(hosts: Hosts) -> None:
            pyre, ready = await hosts.start("pyre", "--port", str(PORT), prefix=net.prefix(0))
            pyre_id = ready["ready"]
            tzmq, _ = await hosts.start(
                "tzmq", "--zre", "--port", str(PORT),
                "--target", f"broadcast:{net.broadcast}@{net.addresses[1]}",
                "--evasive", "2.5", "--expired", "5",  # pyre beacons once a second
                prefix=net.prefix(1),
            )  # fmt: skip
            # We hear pyre: it appears at its inbox, on its own address.
            appeared = await tzmq.until(lambda r: r.get("peer") == "appeared", 5)
            assert appeared["uuid"] == pyre_id
            assert appeared["endpoint"].startswith(f"tcp://{net.addresses[0]}:")
            # Pyre hears us: it connects to the inbox our beacon advertised and says
            # HELLO (ZRE signature AAA1) from a DEALER whose identity is 1 + its UUID.
            hello = await tzmq.until(lambda r: "hello" in r, 5)
            assert hello == {"hello": "01" + pyre_id, "body": "aaa1"}
            # Pyre's stop() beacons port 0: the peer leaves, without waiting to expire.
            await pyre.quit()
            left = await tzmq.until(lambda r: r.get("peer") in ("left", "expired"), 5)
            assert left["peer"] == "left" and left["uuid"] == pyre_id
            await tzmq.quit()

        run(main, timeout=50)
