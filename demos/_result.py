"""What every demo shares: its result record and a bounded run on a fresh IOLoop.

Each demo's ``run_demo()`` returns a `DemoResult`; ``python -m demos`` prints
them as a table. `run_on_new_loop` runs a demo's coroutine on an IOLoop of its
own, so a demo never depends on (or leaves anything on) the caller's loop.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from tornado.ioloop import IOLoop

T = TypeVar("T")


@dataclass(frozen=True)
class DemoResult:
    """One demo run: how many messages it checked, how long it took, and whether all passed.

    ``detail`` is one short line for the table: what was shown, or what failed.
    """

    name: str
    messages: int
    seconds: float
    ok: bool
    detail: str = ""

    def __str__(self) -> str:
        verdict = "ok" if self.ok else "FAILED"
        text = f"{self.name}: {verdict}, {self.messages} messages in {self.seconds:.3f}s"
        return f"{text} ({self.detail})" if self.detail else text


def run_on_new_loop(main: Callable[[], Awaitable[T]], timeout: float | None) -> T:
    """Run ``main()`` on a new IOLoop and close the loop afterwards.

    ``timeout`` (seconds) is a backstop: past it the coroutine is cancelled (its
    ``finally`` blocks still run, so sockets get closed) and `TimeoutError` is
    raised. Demos bound their own waits more tightly than this; ``None`` (for a
    service that runs until a signal) means no backstop.
    """
    loop = IOLoop(make_current=False)
    try:
        result: T = loop.run_sync(main, timeout=timeout)
        return result
    finally:
        loop.close()
