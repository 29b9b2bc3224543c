"""Waiting on a socket's monitor events: the event a test waits on instead of sleeping."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import zmq

from tzmq.stream import MonitorEvent, SocketMonitor


class Events:
    """A socket's monitor events by name, with bounded waits for a count."""

    def __init__(self, socket: zmq.Socket[Any]) -> None:
        self.names: list[str] = []
        self._changed = asyncio.Event()
        self.monitor = SocketMonitor(socket)
        self.monitor.on_event(self._on_event)

    def _on_event(self, event: MonitorEvent) -> None:
        self.names.append(event.name)
        self._changed.set()

    async def wait_for(self, name: str, count: int) -> None:
        """Wait (bounded) until ``name`` has happened ``count`` times in all."""
        await self.until(lambda: self.names.count(name) >= count, f"{name} x{count}")

    async def until(self, condition: Callable[[], bool], what: str, timeout: float = 10) -> None:
        """Wait until ``condition()`` holds, re-checked at each event; fail after ``timeout``."""
        deadline = time.monotonic() + timeout
        while not condition():
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), deadline - time.monotonic())
            except TimeoutError:
                raise AssertionError(f"{what} not seen within {timeout}s: {self.names}") from None

    def count(self, name: str) -> int:
        return self.names.count(name)

    def close(self) -> None:
        self.monitor.close()
