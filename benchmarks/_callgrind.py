"""Counting instructions: a child process under valgrind's callgrind, cut into segments.

Owns how a child is run under ``valgrind --tool=callgrind`` and how its
counts are read back. The child calls `mark` between the parts it wants
counted apart; callgrind is told to dump its counters each time the process
enters ``getppid`` (which `mark` calls, and nothing else in these children
does), so dump ``k`` holds every instruction executed, on every thread,
between mark ``k - 1`` and mark ``k``. A dump is written before `mark`
returns, so the child can read what it has done so far (`counted`) and size
its next runs from it. Instruction counts do not depend on the machine's
load: only on the code run (and on what that code does by the clock).

Thread-safety: `count` blocks the calling thread for the child's lifetime;
calls from several threads run several children at once.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Counted", "count", "counted", "mark", "valgrind_version"]

_TOTALS = re.compile(rb"^totals:\s*(\d+)", re.MULTILINE)
_OUT = "BENCH_CALLGRIND_OUT"
"""Tells the child where callgrind writes its dumps."""


def mark() -> None:
    """End the current counted segment (a no-op outside callgrind)."""
    os.getppid()


def counted(segment: int) -> int:
    """In a child run by `count`: the instructions of a segment already ended by `mark`."""
    return _total(Path(f"{os.environ[_OUT]}.{segment + 1}"))


def valgrind_version() -> str | None:
    """``valgrind --version``'s answer, or None when valgrind is not installed."""
    if shutil.which("valgrind") is None:
        return None
    result = subprocess.run(["valgrind", "--version"], capture_output=True, text=True, check=False)
    return result.stdout.strip() or None


@dataclass(frozen=True)
class Counted:
    """One child's outcome: instructions per segment, and what the child printed."""

    segments: list[int]
    stdout: str
    stderr: str
    returncode: int | None
    """None when the child was killed at its time limit."""


def count(argv: list[str], cwd: Path, timeout: float) -> Counted:
    """Run ``argv`` (a command) in ``cwd`` under callgrind for up to ``timeout`` seconds.

    ``segments[k]`` is the count between the child's marks ``k`` and ``k + 1``
    (``segments[0]`` runs from the start to the first mark); what follows the
    last mark is not reported.
    """
    with tempfile.TemporaryDirectory(prefix="tzmq-callgrind-") as tmp:
        out = Path(tmp) / "cg.out"
        command = [
            "valgrind",
            "--tool=callgrind",
            "--dump-before=getppid",
            f"--callgrind-out-file={out}",
            f"--log-file={Path(tmp) / 'valgrind.log'}",
            "--dump-instr=no",
            "--dump-line=no",
            # Valgrind runs one thread at a time; a fair (FIFO) hand-over makes
            # which thread runs next after a system call depend less on the
            # kernel's timing, so cases with a peer thread repeat better.
            "--fair-sched=yes",
            *argv,
        ]
        # Its own session, so a child killed at its limit takes its threads with it.
        child = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=cwd,
            # A fixed hash seed: dict and set layouts, and so the counts, repeat.
            env={**os.environ, "PYTHONHASHSEED": "0", _OUT: str(out)},
            start_new_session=True,
        )
        returncode: int | None
        try:
            stdout, stderr = child.communicate(timeout=timeout)
            returncode = child.returncode
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            stdout, stderr = child.communicate()
            returncode = None
        dumps = sorted(
            Path(tmp).glob("cg.out.*"), key=lambda path: int(path.suffix.removeprefix("."))
        )
        segments = [_total(path) for path in dumps]
    return Counted(segments, stdout, stderr, returncode)


def _total(path: Path) -> int:
    found = _TOTALS.search(path.read_bytes())
    if found is None:
        raise ValueError(f"{path.name}: no totals line in callgrind's output")
    return int(found.group(1))
