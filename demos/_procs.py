"""Child processes for the demos: start ``python -m demos.<module> ...``, always stop them.

`Children` runs demo roles (a worker, a client) as separate Python processes
through asyncio's subprocess support, so waiting on one never blocks the
IOLoop, and `Children.stop` terminates and reaps every one still running, even
when the demo failed half-way. Use it as ``async with Children() as children:``.

Thread-safety: IOLoop thread only.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from pathlib import Path
from types import TracebackType

ROOT = Path(__file__).resolve().parent.parent  # the folder that holds the demos package


class Children:
    """The child processes of one demo run, by name."""

    def __init__(self) -> None:
        self._procs: dict[str, asyncio.subprocess.Process] = {}

    async def start(self, name: str, module: str, *args: str, output: bool = False) -> None:
        """Start ``python -m module *args`` as ``name``; with ``output``, capture its stdout."""
        if name in self._procs:
            raise ValueError(f"a child named {name!r} is already running")
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        self._procs[name] = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            module,
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE if output else asyncio.subprocess.DEVNULL,
            cwd=ROOT,
            env=env,
        )

    def kill(self, name: str) -> None:
        """Kill ``name`` at once with SIGKILL: no clean-up, no goodbye, like a crash."""
        proc = self._procs[name]
        if proc.returncode is None:
            proc.kill()

    async def output(self, name: str, timeout: float) -> tuple[int | None, str]:
        """Wait (at most ``timeout`` s) for ``name`` to exit: (exit code or None, its stdout)."""
        proc = self._procs[name]
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), timeout)
        except TimeoutError:
            return None, ""
        return proc.returncode, (out or b"").decode("utf-8", "replace")

    async def wait(self, name: str, timeout: float) -> int | None:
        """Wait (at most ``timeout`` s) for ``name`` to exit; its exit code, or None."""
        with contextlib.suppress(asyncio.TimeoutError):
            return await asyncio.wait_for(self._procs[name].wait(), timeout)
        return None

    async def stop(self, grace: float = 1.0) -> None:
        """Terminate every child still running; kill those still there after ``grace`` s."""
        running = [p for p in self._procs.values() if p.returncode is None]
        for proc in running:
            proc.terminate()
        for proc in running:
            try:
                await asyncio.wait_for(proc.wait(), grace)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        # Drain any captured output so every pipe transport closes with its process.
        for proc in self._procs.values():
            if proc.stdout is not None and not proc.stdout.at_eof():
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(proc.stdout.read(), grace)

    async def __aenter__(self) -> Children:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
