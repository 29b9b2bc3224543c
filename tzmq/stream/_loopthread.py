"""Which thread runs a loop: asked on every send and receive.

Answered with asyncio's public ``get_running_loop()``, which every loop
(the default selector loop, Windows' Proactor loop, uvloop) keeps up to date
for the thread that runs it.

Thread-safety: safe from any thread (it only reads).
"""

from __future__ import annotations

import asyncio

__all__ = ["current_loop", "here", "here_or_idle"]


def current_loop() -> asyncio.AbstractEventLoop | None:
    """The asyncio loop running in this thread, or None."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def here(loop: asyncio.AbstractEventLoop) -> bool:
    """True on the thread running ``loop``; False elsewhere or while it is not running."""
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def here_or_idle(loop: asyncio.AbstractEventLoop) -> bool:
    """True on the thread running ``loop``, or on any thread while it is not running.

    Before the loop runs, the thread that calls is taken to be the loop's
    (the set-up code of a program that then starts the loop).
    """
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return not loop.is_running()
