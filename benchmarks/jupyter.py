"""The real-world rows: Jupyter on pyzmq's ZMQStream vs the same Jupyter on tzmq's.

Owns starting real kernels and servers side by side (one plain, one through
``python -m tzmq.compat run``), measuring each in interleaved rounds, and
stopping them. Over jupyter_client's blocking client on tcp://127.0.0.1:

* execute round trips per second: ``execute("1")`` and wait for its shell reply;
* a 500-execute pipeline: send 500 requests at once, time until the last reply.

Through a jupyter_server (`benchmarks._jupyter_server`), its kernel on the
same layer as the server:

* an output flood: a cell prints ``lines`` lines; the time from the execute
  request until a websocket client on 127.0.0.1 has every line.

Needs the ``.[jupyter]`` extra; without it the rows say so and nothing runs.

Thread-safety: runs on the main thread; each kernel and server is its own process.
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["JupyterRow", "measure_jupyter", "measure_output_flood"]

PIPELINE = 500
TIMEOUT = 60.0


@dataclass(frozen=True)
class JupyterRow:
    label: str
    pyzmq: float
    tzmq: float
    unit: str
    higher_is_better: bool

    @property
    def ratio(self) -> float:
        """tzmq relative to pyzmq, > 1 meaning tzmq is better."""
        if not self.pyzmq or not self.tzmq:
            return 0.0
        return self.tzmq / self.pyzmq if self.higher_is_better else self.pyzmq / self.tzmq


@contextmanager
def _kernel(argv_prefix: list[str]) -> Iterator[Any]:
    from jupyter_client.kernelspec import KernelSpec
    from jupyter_client.manager import KernelManager

    manager = KernelManager(transport="tcp", ip="127.0.0.1")
    manager._kernel_spec = KernelSpec(  # a spec of our own, not one from the machine
        argv=[*argv_prefix, "-f", "{connection_file}"], display_name="bench", language="python"
    )
    # The kernels' own stderr (a warning about plain TCP) would cut into the table.
    manager.start_kernel(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = manager.blocking_client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=TIMEOUT)
        yield client
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
        manager.cleanup_resources()


def _reply(client: Any, msg_id: str) -> None:
    while True:
        reply = client.get_shell_msg(timeout=TIMEOUT)
        if reply["parent_header"].get("msg_id") == msg_id:
            return


def _round_trips(client: Any, n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        _reply(client, client.execute("1", silent=True))
    return n / (time.perf_counter() - started)


def _pipeline(client: Any) -> float:
    started = time.perf_counter()
    ids = [client.execute("1", silent=True) for _ in range(PIPELINE)]
    for msg_id in ids:
        _reply(client, msg_id)
    return time.perf_counter() - started


def _missing() -> str:
    """Why the rows cannot be measured ("" when they can)."""
    try:
        import ipykernel  # noqa: F401
        import jupyter_client  # noqa: F401
        import jupyter_server  # noqa: F401
    except ImportError as error:
        return f"skipped: needs the .[jupyter] extra ({error})"
    return ""


def measure_jupyter(rounds: int, round_trips: int) -> list[JupyterRow] | str:
    """Rows for the table, or the reason they could not be measured."""
    missing = _missing()
    if missing:
        return missing
    plain = [sys.executable, "-m", "ipykernel_launcher"]
    on_tzmq = [sys.executable, "-m", "tzmq.compat", "run", "-m", "ipykernel_launcher"]
    rates: dict[str, list[float]] = {"pyzmq": [], "tzmq": []}
    pipes: dict[str, list[float]] = {"pyzmq": [], "tzmq": []}
    with _kernel(plain) as pyzmq_client, _kernel(on_tzmq) as tzmq_client:
        clients = {"pyzmq": pyzmq_client, "tzmq": tzmq_client}
        for client in clients.values():  # warm both up before measuring
            _round_trips(client, 20)
        for index in range(rounds):
            order = ["pyzmq", "tzmq"] if index % 2 == 0 else ["tzmq", "pyzmq"]
            for name in order:
                rates[name].append(_round_trips(clients[name], round_trips))
                pipes[name].append(_pipeline(clients[name]))
    return [
        JupyterRow(
            "ipykernel execute round trips",
            statistics.median(rates["pyzmq"]),
            statistics.median(rates["tzmq"]),
            "exec/s",
            True,
        ),
        JupyterRow(
            f"ipykernel {PIPELINE}-execute pipeline",
            statistics.median(pipes["pyzmq"]),
            statistics.median(pipes["tzmq"]),
            "s",
            False,
        ),
    ]


def measure_output_flood(rounds: int, lines: int) -> JupyterRow | str:
    """The jupyter_server output flood row, or the reason it could not be measured."""
    missing = _missing()
    if missing:
        return missing
    from ._jupyter_server import serve

    async def flood(root: Path) -> dict[str, list[float]]:
        seconds: dict[str, list[float]] = {"pyzmq": [], "tzmq": []}
        async with AsyncExitStack() as stack:
            servers = {
                name: await stack.enter_async_context(serve(root / name, name == "tzmq"))
                for name in seconds
            }
            for index in range(rounds):
                order = ["pyzmq", "tzmq"] if index % 2 == 0 else ["tzmq", "pyzmq"]
                for name in order:
                    seconds[name].append(await servers[name].flood(lines, TIMEOUT))
        return seconds

    with tempfile.TemporaryDirectory(prefix="tzmq-bench-jupyter-") as tmp:
        try:
            seconds = asyncio.run(flood(Path(tmp)))
        except Exception as error:
            return f"error: {type(error).__name__}: {error}"
    return JupyterRow(
        f"jupyter_server flood of {lines:,} lines",
        statistics.median(seconds["pyzmq"]),
        statistics.median(seconds["tzmq"]),
        "s",
        False,
    )
