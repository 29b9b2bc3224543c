"""Child processes for the reliability tests: start, wait for ``ready``, kill, reap.

Waits are bounded and event-driven (a line on the child's stdout, the child's
exit); every process started is killed and reaped by `Children.close`, whatever
the test did.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PEER = str(HERE / "peer.py")
# A fresh interpreter imports tornado and zmq first: allow for a slow machine.
START_TIMEOUT = 15.0


def free_port() -> int:
    """A random port in the user range that nothing listens on at the moment."""
    while True:
        port = random.randint(20000, 60000)
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


class Child:
    def __init__(self, proc: asyncio.subprocess.Process, argv: list[str]) -> None:
        self.proc = proc
        self.argv = argv
        self.stderr = b""

    async def line(self, timeout: float = START_TIMEOUT) -> str:
        assert self.proc.stdout is not None
        raw = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        return raw.decode().strip()

    async def stop(self, kill: bool = False, timeout: float = 5.0) -> int:
        """SIGKILL or SIGTERM the child, reap it, keep its stderr; return its exit code."""
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                if kill:
                    self.proc.kill()
                else:
                    self.proc.terminate()
        return await self.wait(timeout)

    async def wait(self, timeout: float = 5.0) -> int:
        """Wait for the child to exit by itself, reap it, keep its stderr; its exit code."""
        assert self.proc.stderr is not None
        self.stderr += await asyncio.wait_for(self.proc.stderr.read(), timeout)
        return await asyncio.wait_for(self.proc.wait(), timeout)


class Children:
    """The child processes of one test."""

    def __init__(self) -> None:
        self.all: list[Child] = []

    async def start(self, *args: str, prefix: tuple[str, ...] = ()) -> Child:
        argv = [*prefix, sys.executable, PEER, *args]
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        child = Child(proc, argv)
        self.all.append(child)
        return child

    async def start_service(self, *args: str, prefix: tuple[str, ...] = ()) -> Child:
        """Start a service and wait for its ``ready``; raise if it could not bind."""
        child = await self.start(*args, prefix=prefix)
        try:
            line = await child.line()
        except TimeoutError:
            await child.stop(kill=True)
            raise AssertionError(f"{args} not ready: {child.stderr.decode()}") from None
        if line != "ready":
            await child.stop(kill=True)
            raise OSError(f"{args} did not start: {line!r} {child.stderr.decode()}")
        return child

    async def close(self) -> None:
        for child in self.all:
            if child.proc.returncode is None:
                with contextlib.suppress(asyncio.TimeoutError):
                    await child.stop(kill=True)
