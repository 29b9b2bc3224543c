"""The devices benchmark must not rot: its quick mode runs both proxies and reports a ratio."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def test_quick_devices_benchmark_compares_both_proxies() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.devices", "--quick", "--messages", "2000"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for row in ("tzmq Proxy (thread)", "zmq.proxy (thread)", "ratio tzmq / libzmq"):
        assert result.stdout.count(row) == 2, result.stdout  # one per message size
