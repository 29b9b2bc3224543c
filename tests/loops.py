"""The event loop the test suite runs on, chosen once per run with ``pytest --loop``.

Every IOLoop the tests make - pytest-tornado's ``io_loop``, ``IOLoop(make_current=False)``,
a loop started on another thread - gets its asyncio loop from ``asyncio.new_event_loop()``,
which asks the process-wide event loop policy. So `install` swaps that policy:

- ``asyncio``: nothing changes; Linux's default ``SelectorEventLoop``.
- ``uvloop``: uvloop's loop.
- ``proactor``: `ProactorStandIn`, Windows' default ``ProactorEventLoop`` as Tornado sees it,
  on Linux. Tornado then serves ``IOLoop.add_handler`` from its selector thread, exactly
  as it does on Windows.

Thread-safety: `install` and its undo run from pytest's configure/cleanup hooks, before
any test makes a loop or a thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

LOOPS = ("asyncio", "uvloop", "proactor")


class ProactorStandIn(asyncio.SelectorEventLoop):
    """A selector loop whose public ``add_reader`` family is missing, as on a Proactor loop.

    Registered as ``asyncio.ProactorEventLoop``, it makes Tornado's ``BaseAsyncIOLoop``
    wrap it in ``AddThreadSelectorEventLoop`` (a select() thread). asyncio's own
    machinery (its self-pipe, transports, ``sock_*``) calls the private ``_add_reader``,
    so the loop still runs; only code that registers an FD with the asyncio loop
    directly fails, as it would on Windows.
    """

    def add_reader(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        raise NotImplementedError("a ProactorEventLoop has no add_reader")

    def add_writer(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        raise NotImplementedError("a ProactorEventLoop has no add_writer")

    def remove_reader(self, fd: Any) -> bool:
        raise NotImplementedError("a ProactorEventLoop has no remove_reader")

    def remove_writer(self, fd: Any) -> bool:
        raise NotImplementedError("a ProactorEventLoop has no remove_writer")


class _Policy(asyncio.DefaultEventLoopPolicy):
    """The default policy, except that its new loops come from ``factory``."""

    def __init__(self, factory: Callable[[], asyncio.AbstractEventLoop]) -> None:
        super().__init__()
        self._factory = factory

    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        return self._factory()


def install(loop: str) -> Callable[[], None]:
    """Make every event loop this process creates a ``loop`` one; return the undo."""
    if loop == "asyncio":
        return lambda: None
    if loop == "uvloop":
        try:
            import uvloop
        except ImportError:
            raise pytest.UsageError(
                "--loop uvloop needs uvloop: pip install -e '.[test]'"
            ) from None
        factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    else:
        factory = ProactorStandIn
    patch = pytest.MonkeyPatch()
    if loop == "proactor":
        # Tornado decides with isinstance(loop, asyncio.ProactorEventLoop), a name that
        # only exists on Windows.
        patch.setattr(asyncio, "ProactorEventLoop", ProactorStandIn, raising=False)
    previous = asyncio.get_event_loop_policy()
    asyncio.set_event_loop_policy(_Policy(factory))

    def undo() -> None:
        asyncio.set_event_loop_policy(previous)
        patch.undo()

    return undo


needs_add_reader = pytest.mark.skipif(
    "config.getoption('loop') == 'proactor'",  # read when the test runs, after install
    reason="the peer under test (aiozmq) registers sockets with asyncio's add_reader, "
    "which Windows' Proactor loop does not have: its limit, not tzmq's",
)
"""For tests that run a third-party peer needing ``add_reader`` in this process."""
