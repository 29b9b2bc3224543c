"""Which thread runs a loop: asked on every send and receive, so it must be cheap.

``asyncio._get_running_loop()`` costs ~190 ns here (it checks the process id);
asyncio already records the thread running a loop in ``loop._thread_id``,
and ``threading.get_ident()`` costs ~30 ns. `LoopThread` compares the two,
and falls back to the public checks for a loop that keeps no such record.

Thread-safety: safe from any thread (it only reads).
"""

from __future__ import annotations

import asyncio
from threading import get_ident
from typing import Any

__all__ = ["NO_RECORD", "LoopThread", "running_loop"]

running_loop = asyncio._get_running_loop


class _NoRecord:
    _thread_id = None


NO_RECORD: Any = _NoRecord()
"""A stand-in record whose ``_thread_id`` matches no thread: it turns a fast path off."""


class LoopThread:
    """Answers "am I on this loop's thread?" for one asyncio loop."""

    __slots__ = ("_has_record", "_loop", "record")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._has_record = hasattr(loop, "_thread_id")
        self.record: Any = loop if self._has_record else NO_RECORD
        """An object whose ``_thread_id`` is the running loop's thread: the loop
        itself, or, for a loop that keeps no record, one that never matches.
        Hot paths inline ``record._thread_id == get_ident()`` and fall back to
        `here`/`here_or_idle` when it does not match."""

    def here(self) -> bool:
        """True on the thread running the loop, False elsewhere or when it is not running."""
        if self._has_record:
            return bool(self._loop._thread_id == get_ident())  # type: ignore[attr-defined]
        return running_loop() is self._loop

    def here_or_idle(self) -> bool:
        """True on the loop's thread, or anywhere while the loop is not running."""
        if self._has_record:
            thread = self._loop._thread_id  # type: ignore[attr-defined]
            return thread is None or bool(thread == get_ident())
        return running_loop() is self._loop or not self._loop.is_running()
