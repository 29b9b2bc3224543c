"""`make bench-instructions` must not rot: its child runs natively, and one tiny count works."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "benchmarks.instructions", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize("impl", ["raw", "tzmq.ZMQStream", "floor: stream", "tzmq.Socket"])
def test_a_wake_up_case_runs_natively(impl: str) -> None:
    # The child the table's "wall us/rt" column comes from, without valgrind.
    result = _run("--run-child", "REP reply next turn", impl, "--runs", "3,5", timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["error"] == ""
    assert [run[:2] for run in report["runs"]] == [[3, 3], [5, 5]]


@pytest.mark.skipif(
    shutil.which("valgrind") is None,
    reason="valgrind is not installed (make bench-instructions installs it)",
)
def test_quick_count_of_one_case() -> None:
    result = _run(
        "--quick", "--only", "receive backlog 16B", "--impl", "raw", "--jobs", "1", timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valgrind-" in result.stdout
    row = next(line for line in result.stdout.splitlines() if line.startswith("receive backlog"))
    found = re.search(r"raw\s+([\d.]+)k\s+1\.00", row)
    assert found is not None, row
    # A blocking send and receive of 16 B: thousands of instructions, not hundreds of thousands.
    assert 3 < float(found.group(1)) < 60, row


def test_unknown_case_is_refused() -> None:
    result = _run("--only", "no such case", timeout=60)
    assert result.returncode == 2
    assert "no case or no implementation matches" in result.stderr
