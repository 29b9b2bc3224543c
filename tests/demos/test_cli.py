"""Every demo starts from the command line and documents itself with --help."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODULES = [
    "demos",
    "demos.echo",
    "demos.broker",
    "demos.web_bridge",
    "demos.kernel",
    "demos.secure",
    "demos.logs",
    "demos.rpc",
    "demos.discovery",
]


@pytest.mark.parametrize("module", MODULES)
def test_help(module: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", module, "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: python -m {module}")
    assert done.stderr == ""


def test_echo_runs_from_the_command_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "demos.echo", "--messages", "500"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "echo (stream): ok, 500 messages" in done.stdout
    assert "echo (coroutine): ok, 500 messages" in done.stdout
