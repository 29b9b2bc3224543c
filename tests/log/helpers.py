"""Helpers for log tests: subscriptions that are known to have arrived, bounded receives."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import zmq
from tornado import gen

WAIT_MS = 5000


def subscribed_pair(
    ctx: zmq.Context[Any], topics: Iterable[bytes] = (b"",), hwm: int | None = None
) -> tuple[zmq.Socket[Any], zmq.Socket[Any]]:
    """An XPUB bound on 127.0.0.1 and a SUB connected to it, subscriptions in place.

    The XPUB reports each subscription when it has reached the publisher, so
    whatever is published afterwards reaches the SUB: no probes, no sleeping.
    ``hwm`` sets both high-water marks (0: none); it must be set here, before
    bind and connect, which is when libzmq takes it for the connection.
    """
    xpub = ctx.socket(zmq.XPUB)
    sub = ctx.socket(zmq.SUB)
    for sock in (xpub, sub):
        sock.linger = 0
        if hwm is not None:
            sock.sndhwm = sock.rcvhwm = hwm
    port = xpub.bind_to_random_port("tcp://127.0.0.1")
    sub.connect(f"tcp://127.0.0.1:{port}")
    wanted = list(topics)
    for topic in wanted:
        sub.subscribe(topic)
    await_subscriptions(xpub, wanted)
    return xpub, sub


def await_subscriptions(xpub: zmq.Socket[Any], topics: Iterable[bytes]) -> None:
    """Block (bounded) until ``xpub`` has seen a subscription to each topic."""
    missing = set(topics)
    while missing:
        assert xpub.poll(WAIT_MS), f"no subscription arrived for {missing}"
        event = xpub.recv()
        if event[:1] == b"\x01":
            missing.discard(event[1:])


def receive(sub: zmq.Socket[Any], n: int) -> list[list[bytes]]:
    """Receive ``n`` messages, each within the suite's bound."""
    messages = []
    for _ in range(n):
        assert sub.poll(WAIT_MS), f"got {len(messages)} of {n} messages"
        messages.append(sub.recv_multipart())
    return messages


def fresh_logger(name: str, *handlers: logging.Handler) -> logging.Logger:
    """A logger that lets everything through to ``handlers`` and nowhere else."""
    logger = logging.getLogger(name)
    logger.handlers[:] = list(handlers)
    logger.propagate = False
    logger.setLevel(1)
    return logger


class Recorder(logging.Handler):
    """A handler that keeps the records it is given; ``await wait_for(n)`` on a loop."""

    def __init__(self) -> None:
        super().__init__(level=logging.NOTSET)
        self.records: list[logging.LogRecord] = []
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        for n, future in self._waiters:
            if len(self.records) >= n and not future.done():
                future.set_result(None)

    async def wait_for(self, n: int) -> list[logging.LogRecord]:
        """Wait (bounded) until at least ``n`` records arrived; return them all."""
        if len(self.records) < n:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append((n, future))
            try:
                await gen.with_timeout(timedelta(milliseconds=WAIT_MS), future)
            except gen.TimeoutError:
                got = [r.getMessage() for r in self.records]
                raise AssertionError(f"waited for {n} records, got {got}") from None
        return self.records


def lineno() -> int:
    """The caller's line number."""
    frame = inspect.currentframe()
    assert frame is not None and frame.f_back is not None
    return frame.f_back.f_lineno
