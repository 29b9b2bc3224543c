"""Running user callbacks on the IOLoop without letting them break the stream.

A callback that raises is logged once, with its traceback, on the
``tzmq.stream`` logger, and the caller carries on with the next message
(pyzmq's stream re-raises into the IOLoop, logs three times and can wedge).
A callback may be a coroutine function or return any awaitable: it is
scheduled as a task on the stream's loop, kept alive until done, and its
failure is logged the same way. Every failure, at once or later, is counted
in the ``callback_errors`` of the stream's `tzmq.stream.stats.Counters`.

Thread-safety: call only on the IOLoop's thread.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from functools import partial
from typing import Any

from .stats import Counters

__all__ = ["follow_result", "log_failure", "run_callback"]

_log = logging.getLogger("tzmq.stream")

# Tasks for coroutine callbacks: asyncio holds tasks weakly, so an awaitable
# callback nobody references could be collected half-way through.
_tasks: set[asyncio.Future[Any]] = set()


def _task_done(counters: Counters, task: asyncio.Future[Any]) -> None:
    _tasks.discard(task)
    if task.cancelled():
        return
    error = task.exception()
    if error is not None:
        counters.failed()
        # pyzmq's wording, which log scanners look for.
        _log.error(
            "Uncaught exception in ZMQStream callback",
            exc_info=(type(error), error, error.__traceback__),
        )


def run_callback(
    loop: asyncio.AbstractEventLoop, counters: Counters, callback: Callable[..., Any], *args: Any
) -> None:
    """Call ``callback(*args)``; log and count (never raise) what it raises."""
    try:
        result = callback(*args)
    except Exception:
        log_failure(counters, callback)
        return
    if result is not None:
        follow_result(loop, counters, callback, result)


def log_failure(counters: Counters, callback: Callable[..., Any]) -> None:
    """Log the exception being handled, raised by ``callback``, once with its traceback; count it.

    For hot loops that call callbacks inline instead of through `run_callback`.
    """
    counters.failed()
    _log.error("Uncaught exception in ZMQStream callback %r", callback, exc_info=True)


def follow_result(
    loop: asyncio.AbstractEventLoop,
    counters: Counters,
    callback: Callable[..., Any],
    result: Any,
) -> None:
    """Run ``result`` as a task if ``callback`` returned an awaitable (a coroutine callback)."""
    if not inspect.isawaitable(result):
        return
    if loop.is_closed():
        # Teardown after IOLoop.close(): nothing can run the coroutine, and
        # creating its task would raise out of close()/closed().
        if inspect.iscoroutine(result):
            result.close()
        _log.warning("ZMQStream coroutine callback %r not run: its loop is closed", callback)
        return
    task = asyncio.ensure_future(result, loop=loop)
    _tasks.add(task)
    task.add_done_callback(partial(_task_done, counters))
