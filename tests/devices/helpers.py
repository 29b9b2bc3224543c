"""Helpers for device tests: inproc endpoints, peers driven by the loop, bounded waits."""

from __future__ import annotations

import itertools
from typing import Any

import zmq

from tests.rpc.helpers import bounded, until
from tzmq import Socket

__all__ = ["bounded", "inproc", "peer", "receive_n", "until"]

_names = itertools.count()


def inproc(role: str) -> str:
    """A fresh inproc:// endpoint (inproc HWMs add up exactly, which the tests count on)."""
    return f"inproc://devices-{role}-{next(_names)}"


def peer(ctx: zmq.Context[Any], kind: int, address: str, **options: int | bytes) -> Socket:
    """A future socket of ``kind`` connected to ``address``, options set first."""
    sock = Socket.from_socket(ctx.socket(kind))
    for name, value in options.items():
        sock.setsockopt(getattr(zmq, name.upper()), value)
    sock.connect(address)
    return sock


async def receive_n(sock: Socket, n: int) -> list[list[bytes]]:
    """``n`` messages from ``sock``, within the suite's bound."""
    return [await bounded(sock.recv_multipart()) for _ in range(n)]
