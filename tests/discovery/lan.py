"""A small LAN of network namespaces for the discovery tests, and the host processes on it.

`lan` makes a switch namespace holding a bridge and ``n`` host namespaces,
each joined to the bridge by a veth pair, with addresses in a random private
/24 that exists only inside them; it always deletes them again. Broadcasts
and multicasts sent there reach only those namespaces. Where the machine
forbids namespaces (no CAP_SYS_ADMIN/CAP_NET_ADMIN) or has no ``ip`` tool,
the test is skipped and says why.

`Hosts` starts `host.py` processes (inside a namespace or not), reads their
JSON lines with bounded waits, and kills and reaps every one at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import sys
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tornado.ioloop import IOLoop

from tests.netns import add_first_namespace, ip

HOST = str(Path(__file__).resolve().parent / "host.py")
START_TIMEOUT = 15.0
"""A fresh interpreter imports tornado, zmq (and pyre, or libczmq): allow for a slow machine."""


@dataclass
class Lan:
    switch: str
    namespaces: list[str]
    addresses: list[str]
    broadcast: str
    device: str = "eth0"
    """Each host's end of its veth pair, named alike in every host."""
    ports: list[str] = field(default_factory=list)
    """The switch's end of each host's veth pair."""

    def prefix(self, host: int) -> tuple[str, ...]:
        return ("ip", "netns", "exec", self.namespaces[host])

    def unplug(self, host: int) -> None:
        """Take the switch's end of ``host``'s cable down: the host hears nothing, nor is heard."""
        ip("-n", self.switch, "link", "set", self.ports[host], "down")

    def plug(self, host: int) -> None:
        ip("-n", self.switch, "link", "set", self.ports[host], "up")


@contextlib.contextmanager
def lan(hosts: int) -> Iterator[Lan]:
    """``hosts`` namespaces on one bridge, in a fresh private /24; always removed."""
    tag = f"{random.getrandbits(24):06x}"
    subnet = f"10.{random.randint(100, 199)}.{random.randint(0, 255)}"
    net = Lan(
        f"tzmq-sw-{tag}",
        [f"tzmq-h{i}-{tag}" for i in range(hosts)],
        [f"{subnet}.{i + 1}" for i in range(hosts)],
        f"{subnet}.255",
        ports=[f"tzp{i}{tag}" for i in range(hosts)],
    )
    add_first_namespace(net.switch)
    try:
        ip("-n", net.switch, "link", "add", "br0", "type", "bridge")
        ip("-n", net.switch, "link", "set", "br0", "up")
        for ns, address, port in zip(net.namespaces, net.addresses, net.ports, strict=True):
            ip("netns", "add", ns)
            # Made here, in this namespace, under names unique to this run, then moved.
            ip("link", "add", port, "type", "veth", "peer", "name", f"{port}h")
            ip("link", "set", port, "netns", net.switch)
            ip("link", "set", f"{port}h", "netns", ns)
            ip("-n", ns, "link", "set", f"{port}h", "name", net.device)
            ip("-n", ns, "addr", "add", f"{address}/24", "broadcast", net.broadcast,
                "dev", net.device)  # fmt: skip
            ip("-n", ns, "link", "set", net.device, "up")
            ip("-n", ns, "link", "set", "lo", "up")
            ip("-n", net.switch, "link", "set", port, "master", "br0")
            ip("-n", net.switch, "link", "set", port, "up")
        yield net
    finally:
        for ns in [*net.namespaces, net.switch]:
            ip("netns", "del", ns, check=False)  # takes the veth ends inside with it
        for port in net.ports:  # any pair that never left this namespace
            ip("link", "del", port, check=False)
        listed = ip("netns", "list").stdout
        assert not any(ns in listed for ns in [*net.namespaces, net.switch]), listed


def _parse(line: bytes) -> dict[str, Any]:
    """A record; CZMQ writes its own log lines to stdout too, kept as ``{"log": line}``."""
    if line.startswith(b"{"):
        record: dict[str, Any] = json.loads(line)
        return record
    return {"log": line.decode(errors="replace").rstrip()}


class Host:
    """One `host.py` process: its JSON lines, its stdin, its exit."""

    def __init__(self, proc: asyncio.subprocess.Process, argv: list[str]) -> None:
        self.proc = proc
        self.argv = argv
        self.records: list[dict[str, Any]] = []
        self.stderr = b""

    async def record(self, timeout: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        raw = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        if not raw:
            await self.finish(timeout=5)
            raise AssertionError(f"{self.argv} ended: {self.stderr.decode()[-2000:]}")
        record = _parse(raw)
        self.records.append(record)
        return record

    async def until(
        self, wanted: Callable[[dict[str, Any]], bool], timeout: float, since: int = 0
    ) -> dict[str, Any]:
        """The first record from number ``since`` on that is ``wanted``, reading more as
        needed; fail after ``timeout`` seconds."""
        for record in self.records[since:]:
            if wanted(record):
                return record
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            try:
                record = await self.record(max(left, 0.001))
            except TimeoutError:
                raise AssertionError(
                    f"{self.argv[-6:]}: not seen within {timeout} s; saw {self.records[-5:]}"
                ) from None
            if wanted(record):
                return record

    async def quit(self, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Say ``quit``, read its last records, reap it; fail if it did not exit cleanly."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"quit\n")
        with contextlib.suppress(ConnectionError):
            await self.proc.stdin.drain()
        self.proc.stdin.close()
        assert self.proc.stdout is not None
        rest = await asyncio.wait_for(self.proc.stdout.read(), timeout)
        self.records.extend(_parse(line) for line in rest.splitlines())
        code = await self.finish(timeout)
        assert code == 0, (self.argv, code, self.stderr.decode()[-2000:])
        return self.records

    async def finish(self, timeout: float) -> int:
        assert self.proc.stderr is not None
        self.stderr += await asyncio.wait_for(self.proc.stderr.read(), timeout)
        return await asyncio.wait_for(self.proc.wait(), timeout)


class Hosts:
    """The host processes of one test; `close` kills and reaps any still running."""

    def __init__(self) -> None:
        self.all: list[Host] = []

    async def start(self, *args: str, prefix: tuple[str, ...] = ()) -> tuple[Host, dict[str, Any]]:
        """Start a host and wait for its ``ready`` record."""
        argv = [*prefix, sys.executable, HOST, *args]
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        host = Host(proc, argv)
        self.all.append(host)
        ready = await host.until(lambda r: "ready" in r, START_TIMEOUT)
        return host, ready

    async def close(self) -> None:
        for host in self.all:
            if host.proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    host.proc.kill()
                with contextlib.suppress(asyncio.TimeoutError):
                    await host.finish(timeout=5)


def run(main: Callable[[Hosts], Awaitable[None]], timeout: float) -> None:
    """Run ``main(hosts)`` on a fresh IOLoop; every host it started is reaped after."""

    async def scenario() -> None:
        hosts = Hosts()
        try:
            await main(hosts)
        finally:
            await hosts.close()

    loop = IOLoop(make_current=False)
    try:
        loop.run_sync(scenario, timeout=timeout)
    finally:
        loop.close()
