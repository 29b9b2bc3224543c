"""A bounded queue behind one ``async for`` over beacons or peer events.

Owns buffering between a producer that must never wait (a UDP read handler, a
timer) and one async reader. When the reader falls behind by ``limit`` items
the oldest goes: for presence, the newest news matters most. `close` ends the
reader's loop once it has taken what is queued.

Thread-safety: IOLoop thread only (the producer and the reader share it).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from typing import Generic, TypeVar

__all__ = ["Inbox"]

T = TypeVar("T")


class Inbox(Generic[T]):
    def __init__(self, limit: int) -> None:
        self._items: deque[T] = deque(maxlen=limit)
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False

    def put(self, item: T) -> bool:
        """Queue ``item``; False if the oldest item was dropped to make room."""
        full = len(self._items) == self._items.maxlen
        self._items.append(item)
        self._wake()
        return not full

    def close(self) -> None:
        self._closed = True
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def items(self) -> AsyncIterator[T]:
        """Yield queued items as they come, until `close` and the queue is empty."""
        while True:
            while self._items:
                yield self._items.popleft()
            if self._closed:
                return
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
