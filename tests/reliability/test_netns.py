"""Across hosts: an echo service in one network namespace, a client in another, joined by a
veth pair, with a lossy, slow path between them.

The test makes two namespaces and a veth pair itself, with addresses in a
private /30 that exists only inside them, and always deletes them again. The
service (a tzmq ROUTER echo, `peer.py echo`) runs in one through ``ip netns
exec``, the client (a future DEALER, `peer.py client`) in the other.

The impairment the issue asks for is 5% packet loss and 50 ms delay with
``tc netem``. The test tries that first. Where the kernel has no ``sch_netem``
(``tc`` answers "Specified qdisc kind is unknown", as on the machine this
suite was written on), it puts a userspace relay (`relay`) on the path
instead, in the service's namespace: every chunk in either direction is
delayed 50 ms, 5% are held ~200 ms more (what TCP makes of a lost segment),
order is kept, and one connection is reset mid-run, forcing a zmq reconnect.
Which one ran is in the run's figures ("netns impairment: ...").

Proven: every request is answered with its own payload; no request id is
answered twice unless the client re-sent it after the reset (and with netem,
where nothing is reset, none is answered twice or re-sent at all).

Skipped, saying why, where the test may not create namespaces (no
CAP_SYS_ADMIN/CAP_NET_ADMIN) or there is no ``ip`` tool.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from tornado.ioloop import IOLoop

from tests.netns import add_first_namespace, ip

from .conftest import Complaints
from .figures import FIGURES, scaled
from .procs import Children

COUNT = scaled(300, 5000)
WINDOW = 20
RESET_AFTER = 30
"""The relay resets the connection carrying its 30th chunk."""
LOSS_SEED = scaled(1, random.getrandbits(32))
"""make test: a seed whose 5% draws hold 5 of the first 30 chunks (so the run, which
always passes 30 chunks, always has some held); soak: any seed, over 5000 requests."""


@dataclass
class Link:
    server_ns: str
    client_ns: str
    server_dev: str
    client_dev: str
    server_ip: str
    client_ip: str


@contextmanager
def namespaces() -> Iterator[Link]:
    """Two fresh namespaces joined by a veth pair on a random private /30; always removed."""
    tag = f"{random.getrandbits(24):06x}"
    base = random.randrange(0, 256, 4)
    subnet = f"10.{random.randint(200, 254)}.{random.randint(0, 255)}"
    link = Link(
        f"tzmq-srv-{tag}",
        f"tzmq-cli-{tag}",
        f"tzs{tag}",
        f"tzc{tag}",
        f"{subnet}.{base + 1}",
        f"{subnet}.{base + 2}",
    )
    add_first_namespace(link.server_ns)
    try:
        ip("netns", "add", link.client_ns)
        ip("link", "add", link.server_dev, "type", "veth", "peer", "name", link.client_dev)
        for ns, dev, address in (
            (link.server_ns, link.server_dev, link.server_ip),
            (link.client_ns, link.client_dev, link.client_ip),
        ):
            ip("link", "set", dev, "netns", ns)
            ip("-n", ns, "addr", "add", f"{address}/30", "dev", dev)
            ip("-n", ns, "link", "set", dev, "up")
            ip("-n", ns, "link", "set", "lo", "up")
        yield link
    finally:
        for ns in (link.server_ns, link.client_ns):
            ip("netns", "del", ns, check=False)  # takes its end of the veth with it
        ip("link", "del", link.server_dev, check=False)  # if it never left this namespace
        listed = ip("netns", "list").stdout
        assert link.server_ns not in listed and link.client_ns not in listed, listed


def _netem(link: Link) -> str | None:
    """Add 50 ms delay and 5% loss to both ends with tc netem; None if it worked, else why."""
    for ns, dev in ((link.server_ns, link.server_dev), (link.client_ns, link.client_dev)):
        tried = subprocess.run(
            ["ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", dev, "root", "netem",
             "delay", "50ms", "loss", "5%"],
            capture_output=True, text=True, timeout=10, check=False,
        )  # fmt: skip
        if tried.returncode != 0:
            return (tried.stderr or tried.stdout).strip() or f"tc exited {tried.returncode}"
    return None


@pytest.mark.timeout(scaled(40, 300))
def test_echo_across_namespaces_through_loss_and_delay(complaints: Complaints) -> None:
    with namespaces() as link:
        netem_error = _netem(link) if shutil.which("tc") else "no `tc` tool"
        relay = netem_error is not None
        echo_port, relay_port = random.randint(20000, 40000), random.randint(40001, 60000)
        if relay:
            # The service listens on the namespace's loopback; only the relay is reachable.
            service = (
                "echo",
                f"tcp://127.0.0.1:{echo_port}",
                "--relay",
                f"{link.server_ip}:{relay_port}",
                "--loss-seed",
                str(LOSS_SEED),
                "--reset-after",
                str(RESET_AFTER),
            )
            target = f"tcp://{link.server_ip}:{relay_port}"
        else:
            service = ("echo", f"tcp://{link.server_ip}:{echo_port}")
            target = f"tcp://{link.server_ip}:{echo_port}"
        children = Children()
        outcome: dict[str, object] = {}

        async def main() -> None:
            try:
                server = await children.start_service(
                    *service, prefix=("ip", "netns", "exec", link.server_ns)
                )
                client = await children.start(
                    "client",
                    target,
                    str(COUNT),
                    str(WINDOW),
                    prefix=("ip", "netns", "exec", link.client_ns),
                )
                outcome["client"] = json.loads(await client.line(timeout=scaled(25, 250)))
                outcome["client_exit"] = await client.wait()
                outcome["server_exit"] = await server.stop()
                if relay:
                    outcome["relay"] = json.loads(await server.line(timeout=1) or "{}")
                outcome["stderr"] = [c.stderr.decode() for c in (server, client)]
            finally:
                await children.close()

        loop = IOLoop(make_current=False)
        try:
            loop.run_sync(main, timeout=scaled(35, 290))
        finally:
            loop.close()
    report = outcome["client"]
    assert isinstance(report, dict)
    assert outcome["client_exit"] == 0 and outcome["server_exit"] == 0
    assert outcome["stderr"] == ["", ""], outcome["stderr"]  # no traceback on either side
    assert report["answered"] == COUNT and report["missing"] == [], report
    assert report["mismatched"] == 0, report  # each answer carried its own request
    assert report["duplicates_not_resent"] == [], report  # the path never duplicated
    if relay:
        figures = outcome["relay"]
        assert isinstance(figures, dict)
        assert figures["resets"] == 1 and report["disconnects"] >= 1, (figures, report)
        assert figures["held"] > 0, figures  # some chunks were "lost" and retransmitted
        how = (
            f"userspace relay (tc netem unavailable: {netem_error}): 50 ms a chunk each way, "
            f"{figures['held']} of {figures['chunks']} chunks held +200 ms, 1 connection reset"
        )
        FIGURES.fault("connection reset by the relay (zmq reconnects)")
        FIGURES.fault("chunk held as if its segment were lost", int(figures["held"]))
    else:
        assert report["duplicates"] == {} and report["resent"] == 0, report
        how = "tc netem: delay 50ms loss 5% on both ends of the veth pair"
    FIGURES.messages("echo across namespaces", COUNT, int(report["answered"]))
    FIGURES.note(
        f"netns impairment: {how}; {COUNT} requests in {report['seconds']} s, "
        f"{report['resent']} re-sent after the reconnect, duplicates {report['duplicates']}"
    )
    complaints.assert_clean()
