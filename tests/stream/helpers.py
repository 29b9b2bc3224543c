"""Helpers for stream tests: collect messages, bounded waits, loop turns, logged problems."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

import pytest
from tornado import gen

WAIT = timedelta(seconds=5)


class Collector:
    """A receive callback that records messages and resolves when ``n`` arrived."""

    def __init__(self) -> None:
        self.messages: list[list[Any]] = []
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []

    def __call__(self, msg: list[Any]) -> None:
        self.messages.append(msg)
        for n, future in list(self._waiters):
            if len(self.messages) >= n and not future.done():
                future.set_result(None)

    async def wait_for(self, n: int) -> list[list[Any]]:
        """Wait (bounded) until at least ``n`` messages arrived; return them all."""
        if len(self.messages) < n:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append((n, future))
            try:
                await gen.with_timeout(WAIT, future)
            except gen.TimeoutError:
                raise AssertionError(
                    f"waited {WAIT.total_seconds()}s for {n} messages, got {len(self.messages)}"
                ) from None
        return self.messages


async def wait_future(future: Any) -> Any:
    """Await ``future`` with the suite's bound."""
    return await gen.with_timeout(WAIT, future)


async def turns(n: int = 5) -> None:
    """Let the loop turn ``n`` times."""
    for _ in range(n):
        await asyncio.sleep(0)


def logged_problems(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """Records at WARNING or above, from tzmq, Tornado or asyncio."""
    return [r for r in caplog.records if r.levelno >= logging.WARNING]
