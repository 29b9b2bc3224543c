"""One loop timer for the deadlines of all of a client's calls.

Owns when calls expire. A client may keep thousands of calls in flight, and
nearly every one is answered long before its deadline. An asyncio timer per
call costs a handle, a push onto the loop's heap ordered by Python-level
comparisons, a cancel, and the loop's later sweep of cancelled handles.
Here a deadline is a small list in a heap of our own, compared in C; an
answered call is marked and left in place (the heap is rebuilt once most of
it is marked); and the loop holds a single timer, at the earliest deadline.

Thread-safety: everything runs on the loop's thread.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

__all__ = ["Deadline", "Deadlines"]

T = TypeVar("T")

# ``[when, sequence, item]``; the item is None once the deadline is dropped.
# The sequence number keeps items out of comparisons between equal ``when``s.
Deadline = list[Any]

# asyncio runs a timer up to the clock's resolution early (its own rule).
_EARLY = time.get_clock_info("monotonic").resolution
# Below this size, marked entries are only dropped as they reach the top.
_REBUILD_ABOVE = 64


class Deadlines(Generic[T]):
    """Calls ``expire(item)`` for each item whose deadline passes first.

    Example::

        deadlines = Deadlines(loop, lambda call: call.fail())
        entry = deadlines.add(loop.time() + 5.0, call)
        ...
        deadlines.drop(entry)       # answered in time
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, expire: Callable[[T], None]) -> None:
        self._loop = loop
        self._expire = expire
        self._heap: list[Deadline] = []
        self._sequence = itertools.count()
        self._dropped = 0  # entries in the heap whose item is None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0

    def __len__(self) -> int:
        """Deadlines still to come."""
        return len(self._heap) - self._dropped

    def add(self, when: float, item: T) -> Deadline:
        """Expire ``item`` at ``when`` (the loop's clock); returns its entry for `drop`."""
        entry = [when, next(self._sequence), item]
        heapq.heappush(self._heap, entry)
        if self._timer is None or when < self._timer_at:
            self._arm(when)
        return entry

    def drop(self, entry: Deadline) -> None:
        """``entry``'s item no longer expires (no-op once it has expired)."""
        if entry[2] is None:
            return
        entry[2] = None
        self._dropped += 1
        if self._dropped == len(self._heap):
            self.close()  # nothing to wait for: no timer keeps the owner alive
        elif self._dropped * 2 > len(self._heap) > _REBUILD_ABOVE:
            self._heap = [live for live in self._heap if live[2] is not None]
            heapq.heapify(self._heap)
            self._dropped = 0

    def close(self) -> None:
        """Expire nothing that was added before."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for entry in self._heap:
            entry[2] = None  # so a later `drop` of it counts nothing
        self._heap.clear()
        self._dropped = 0

    def _arm(self, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = when
        self._timer = self._loop.call_at(when, self._fire)

    def _fire(self) -> None:
        self._timer = None
        heap = self._heap
        now = self._loop.time() + _EARLY
        while heap and (heap[0][0] <= now or heap[0][2] is None):
            entry = heapq.heappop(heap)
            item = entry[2]
            if item is None:
                self._dropped -= 1
            else:
                entry[2] = None
                self._expire(item)
        # An expired item's owner may have added a deadline meanwhile.
        if heap and (self._timer is None or heap[0][0] < self._timer_at):
            self._arm(heap[0][0])
