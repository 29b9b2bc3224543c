"""Where a demo's hosts run: network namespaces of its own on a bridge, or loopback.

Owns making and always removing the namespaces (``ip netns``, root only),
moving a process into one, and the fallback to loopback multicast when the
machine cannot make them. Only our own namespaces' private addresses and
127.0.0.1 are ever used.

Thread-safety: call from one thread; `enter_namespace` only before the
process starts threads.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import random
import shutil
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field

__all__ = [
    "Network",
    "enter_namespace",
    "free_udp_port",
    "ip",
    "lan",
    "netns_unavailable",
    "network",
]

_CLONE_NEWNET = 0x40000000


def enter_namespace(name: str) -> None:
    """Move this (still single-threaded) process into network namespace ``name``.

    Threads made afterwards (zmq's I/O threads) start in it too.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    with open(f"/var/run/netns/{name}") as handle:
        if libc.setns(handle.fileno(), _CLONE_NEWNET) != 0:
            code = ctypes.get_errno()
            raise OSError(code, f"setns into {name}: {os.strerror(code)}")


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``ip ARGS`` (iproute2), bounded; raise with its message when it fails (and ``check``)."""
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done


def netns_unavailable() -> str:
    """Why this machine cannot run the demo across network namespaces ("" if it can)."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "not root"
    if shutil.which("ip") is None:
        return "no `ip` tool"
    probe = f"tzmq-demo-probe-{random.getrandbits(24):06x}"
    made = ip("netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"ip netns add: {made.stderr.strip()}"
    ip("netns", "del", probe, check=False)
    return ""


@dataclass
class Network:
    """Where the demo's hosts run (``where``, for the result line) and where beacons go.

    On a LAN, ``namespaces`` holds each host's namespace, and ``cables`` the
    switch's end of its veth pair; on loopback both are empty.
    """

    where: str
    target: str
    namespaces: dict[str, str] = field(default_factory=dict)
    switch: str = ""
    cables: dict[str, str] = field(default_factory=dict)

    def unplug(self, host: str) -> None:
        """Take the switch's end of ``host``'s cable down: it hears nothing, nor is heard."""
        ip("-n", self.switch, "link", "set", self.cables[host], "down")


@contextlib.contextmanager
def lan(hosts: list[str]) -> Iterator[Network]:
    """One namespace per host, all on one bridge in a fresh private /24; always removed."""
    tag = f"{random.getrandbits(24):06x}"
    subnet = f"10.{random.randint(100, 199)}.{random.randint(0, 255)}"
    net = Network(
        f"{len(hosts)} network namespaces, broadcast",
        f"broadcast:{subnet}.255",
        {host: f"tzmq-demo-{i}-{tag}" for i, host in enumerate(hosts)},
        f"tzmq-demo-sw-{tag}",
        {host: f"tzd{i}{tag}" for i, host in enumerate(hosts)},
    )
    try:
        ip("netns", "add", net.switch)
        ip("-n", net.switch, "link", "add", "br0", "type", "bridge")
        ip("-n", net.switch, "link", "set", "br0", "up")
        for i, host in enumerate(hosts):
            ns, cable = net.namespaces[host], net.cables[host]
            ip("netns", "add", ns)
            # Both ends are made inside the namespaces, so none is ever left behind here.
            ip("link", "add", cable, "netns", net.switch, "type", "veth",
                "peer", "name", "eth0", "netns", ns)  # fmt: skip
            ip("-n", ns, "addr", "add", f"{subnet}.{i + 1}/24", "dev", "eth0",
                "broadcast", f"{subnet}.255")  # fmt: skip
            ip("-n", ns, "link", "set", "eth0", "up")
            ip("-n", ns, "link", "set", "lo", "up")
            ip("-n", net.switch, "link", "set", cable, "master", "br0", "up")
        yield net
    finally:
        for ns in [*net.namespaces.values(), net.switch]:
            ip("netns", "del", ns, check=False)  # takes the veth ends inside with it


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("0.0.0.0", 0))
        port: int = probe.getsockname()[1]
    return port


@contextlib.contextmanager
def network(mode: str, hosts: list[str]) -> Iterator[Network]:
    """Namespaces for ``hosts`` if ``mode`` allows and the machine can, else loopback."""
    why_not = "" if mode == "loopback" else netns_unavailable()
    if mode != "loopback" and not why_not:
        with lan(hosts) as net:
            yield net
        return
    if mode == "netns":
        raise RuntimeError(f"cannot run across network namespaces: {why_not}")
    group = f"239.255.{random.randint(0, 255)}.{random.randint(1, 254)}"
    where = "loopback multicast" + (f" (no namespaces: {why_not})" if why_not else "")
    yield Network(where, f"multicast:{group}@127.0.0.1")
