"""Where beacons go: broadcast, multicast or a list of unicast addresses.

Owns the three target types and the UDP sockets each one needs. A beacon
uses two sockets, as CZMQ's zbeacon does: one bound to the beacon port that
receives (shared with other processes on the host through ``SO_REUSEADDR``
and ``SO_REUSEPORT``), and one that sends from an address of our own on an
ephemeral port. Because the sending socket's address is unique on the
network, a datagram that comes from it is our own echo, whatever it carries.

Targets are immutable and checked when made (IPv4 addresses only, a group
that is multicast, at least one unicast address), so a bad target fails at
the call. Thread-safety: targets may be shared between threads;
`open_sockets` makes new sockets and may be called from any thread.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Broadcast", "Multicast", "Target", "Unicast", "open_sockets"]


def _ipv4(name: str, value: str) -> ipaddress.IPv4Address:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be an IPv4 address string, not {type(value).__name__}")
    try:
        return ipaddress.IPv4Address(value)
    except ValueError:
        raise ValueError(f"{name} must be an IPv4 address, not {value!r}") from None


def _interface(value: str) -> str:
    """``value`` if it is "" (let the routing table choose) or a local unicast address."""
    if value == "":
        return value
    address = _ipv4("interface", value)
    if address.is_multicast or address.is_unspecified or value == "255.255.255.255":
        raise ValueError(f"interface must be the IPv4 address of a local interface, not {value!r}")
    return value


@dataclass(frozen=True)
class Broadcast:
    """Broadcast to ``address`` (the broadcast address of a subnet, e.g.
    ``"192.168.1.255"``, or ``"255.255.255.255"``), sending from the local
    interface whose IPv4 address is ``interface`` ("" lets the routing table
    choose). Beacons are received from every interface."""

    address: str = "255.255.255.255"
    interface: str = ""

    def __post_init__(self) -> None:
        if _ipv4("address", self.address).is_multicast:
            raise ValueError(f"{self.address} is a multicast group: use Multicast")
        _interface(self.interface)


@dataclass(frozen=True)
class Multicast:
    """Send to the IPv4 multicast ``group`` through the interface whose address
    is ``interface`` ("" lets the routing table choose), and receive from it.
    Our own datagrams are looped back to the host, so several beacons on one
    host hear each other; ``ttl`` (1: this subnet only) bounds how far they go."""

    group: str
    interface: str = ""
    ttl: int = 1

    def __post_init__(self) -> None:
        if not _ipv4("group", self.group).is_multicast:
            raise ValueError(f"{self.group} is not a multicast group (224.0.0.0/4)")
        _interface(self.interface)
        if not isinstance(self.ttl, int) or isinstance(self.ttl, bool) or not 0 <= self.ttl <= 255:
            raise ValueError(f"ttl must be an int from 0 to 255, not {self.ttl!r}")


@dataclass(frozen=True, init=False)
class Unicast:
    """Send to each of ``addresses`` in turn (all at the beacon's port), from
    the interface whose address is ``interface`` ("" lets the routing table
    choose); receive on ``interface`` (or on every interface)."""

    addresses: tuple[str, ...]
    interface: str = ""

    def __init__(self, addresses: Sequence[str], interface: str = "") -> None:
        if isinstance(addresses, str):
            raise TypeError("addresses must be a sequence of IPv4 addresses, not one string")
        listed = tuple(addresses)
        if not listed:
            raise ValueError("a Unicast target needs at least one address")
        for address in listed:
            _ipv4("address", address)
        object.__setattr__(self, "addresses", listed)
        object.__setattr__(self, "interface", _interface(interface))


Target = Broadcast | Multicast | Unicast


def _destinations(target: Target) -> tuple[str, ...]:
    if isinstance(target, Broadcast):
        return (target.address,)
    if isinstance(target, Multicast):
        return (target.group,)
    return target.addresses


def _source_address(target: Target, port: int) -> str:
    """The local address our datagrams to ``target`` leave from.

    Where the target names no interface, a connected UDP socket asks the
    routing table (nothing is sent); a target with no route fails here.
    """
    if target.interface:
        return target.interface
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        probe.connect((_destinations(target)[0], port))
        address: str = probe.getsockname()[0]
    return address


def _receiver(target: Target, port: int, source: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if hasattr(socket, "SO_REUSEPORT"):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        # Broadcast and multicast datagrams reach only sockets bound to the
        # wildcard (on Linux); a unicast beacon may listen on one interface.
        host = target.interface if isinstance(target, Unicast) else "0.0.0.0"
        sock.bind((host, port))
        if isinstance(target, Multicast):
            membership = socket.inet_aton(target.group) + socket.inet_aton(source)
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def _sender(target: Target, source: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        if isinstance(target, Multicast):
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, target.ttl)
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(source))
        sock.bind((source, 0))
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def open_sockets(
    target: Target, port: int
) -> tuple[socket.socket, socket.socket, list[tuple[str, int]]]:
    """The receiving socket, the sending socket and the destinations for ``target``.

    Raises `OSError` where the host cannot do what the target asks (the port
    is taken without ``SO_REUSEPORT``, no route, an interface that is not ours).
    """
    source = _source_address(target, port)
    receiver = _receiver(target, port, source)
    try:
        sender = _sender(target, source)
    except BaseException:
        receiver.close()
        raise
    return receiver, sender, [(address, port) for address in _destinations(target)]
