"""`make bench` must not rot: its quick mode runs every implementation of one case."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _quick(case: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--only", case],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_quick_benchmark_runs_and_reports_goals_as_information() -> None:
    out = _quick("backlog 16B inproc")
    for impl in ("raw", "tzmq.ZMQStream", "pyzmq ZMQStream", "tzmq.Socket", "pyzmq future"):
        assert impl in out, out
    assert "goals (wall clock, information only" in out
    assert "tzmq.ZMQStream: " in out.split("goals (wall clock")[1]
    for verdict in ("PASS", "MISS", "targets met"):
        assert verdict not in out
    assert "floor:" not in out  # the yardsticks run beside the echo and send cases only


def test_floor_rows_run_beside_the_echo_case_and_goals_read_against_them() -> None:
    out = _quick("echo")
    rows = [line for line in out.splitlines() if "us/rt" in line and "goal" not in line]
    for impl in ("floor: frames", "floor: stream", "floor: future"):
        row = next((line for line in rows if impl in line), "")
        assert row and "error" not in row, rows
    goals = out.split("goals (wall clock")[1]
    assert "floor: stream" in goals and "the floor's us/rt" in goals, goals
