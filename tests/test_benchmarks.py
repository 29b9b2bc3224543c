"""`make bench` must not rot: its quick mode runs every implementation of one case."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_quick_benchmark_runs_and_reports_targets() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--only", "backlog 16B inproc"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for impl in ("raw", "tzmq.ZMQStream", "pyzmq ZMQStream", "tzmq.Socket", "pyzmq future"):
        assert impl in out, out
    assert "targets met:" in out
