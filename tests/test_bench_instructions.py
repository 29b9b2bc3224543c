"""`make bench-instructions` must not rot: its child runs natively, and one tiny count works."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import instructions

ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "benchmarks.instructions", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _runs_natively(case: str, impl: str, runs: tuple[int, int]) -> None:
    """The child the counts come from, without valgrind: it ran ``runs`` in full."""
    result = _run("--run-child", case, impl, "--runs", ",".join(map(str, runs)), timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["error"] == ""
    assert [run[:2] for run in report["runs"]] == [[n, n] for n in runs]


@pytest.mark.parametrize("impl", ["raw", "tzmq.ZMQStream", "floor: stream", "tzmq.Socket"])
def test_a_wake_up_case_runs_natively(impl: str) -> None:
    # The child the table's "wall us/rt" column comes from.
    _runs_natively("REP reply next turn", impl, (3, 5))


@pytest.mark.parametrize("impl", ["tzmq.rpc (json)", "tzmq.rpc (msgpack)", "aiozmq.rpc"])
@pytest.mark.parametrize("case", ["rpc add, 1 at a time", "rpc add, 100 in flight"])
def test_an_rpc_case_runs_natively(case: str, impl: str) -> None:
    # More calls than the window holds, so the second run keeps 100 in flight for a while.
    _runs_natively(case, impl, (3, 150))


def test_rpc_rows_are_read_against_aiozmq() -> None:
    rpc_case = next(case for case in instructions.CASES if case.label.startswith("rpc add, 1"))
    echo_case = next(case for case in instructions.CASES if case.label == "echo 16B")
    rpc_rows = {
        name: instructions._Row(rpc_case.label, name, per_message=value)
        for name, value in (("tzmq.rpc (json)", 300e3), ("aiozmq.rpc", 600e3))
    }
    echo_rows = {"raw": instructions._Row(echo_case.label, "raw", per_message=5e3)}
    line = instructions._format(rpc_rows["tzmq.rpc (json)"], rpc_rows, True, rpc_case.reference)
    assert re.search(r"tzmq\.rpc \(json\)\s+300\.0k\s+0\.50\b", line), line
    matrix = instructions._matrix([(echo_case, echo_rows), (rpc_case, rpc_rows)])
    # Each set of implementations gets its own header.
    assert "| case | raw |" in matrix
    assert "| case | tzmq.rpc (json) | aiozmq.rpc |" in matrix
    assert f"| {rpc_case.label} | 300.0k (0.50) | 600.0k (1.00) |" in matrix


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


@pytest.mark.parametrize("choice", [("--only", "no such case"), ("--only", "rpc", "--impl", "raw")])
def test_unknown_case_is_refused(choice: tuple[str, ...]) -> None:
    # raw is no implementation of the rpc cases.
    result = _run(*choice, timeout=60)
    assert result.returncode == 2
    assert "no case or no implementation matches" in result.stderr
