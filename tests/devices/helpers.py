"""Helpers for device tests: inproc endpoints, peers driven by the loop, bounded waits."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

import zmq
from tornado import gen

from tzmq import Socket

__all__ = ["bounded", "inproc", "peer", "receive_n", "until"]

_names = itertools.count()
_WAIT = 3.0
T = TypeVar("T")


async def bounded(awaitable: Awaitable[T], seconds: float = _WAIT) -> T:
    """``await awaitable``, failing the test after ``seconds``."""
    result: T = await gen.with_timeout(timedelta(seconds=seconds), awaitable)
    return result


async def until(check: Callable[[], bool]) -> None:
    """Give the loop turns until ``check()`` holds; fail the test after the bound."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _WAIT
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"not true within {_WAIT} s: {check}")
        await asyncio.sleep(0.001)


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
