"""``make soak``: the reliability scenarios at full size, for minutes, not in CI.

Runs tests/reliability with ``TZMQ_SOAK=1`` (see `figures.SOAK`): 1,000,000
load messages (250,000 per combination) with the process's RSS sampled as
they flow and asserted flat after warm-up, ten peer kills instead of two,
ten times the callback and back-pressure traffic, 5,000 requests across the
network namespaces, and thousands of fresh (not derandomized) hypothesis
examples per bad-input property.

The load runs first, in a process of its own: RSS is a high-water mark, and
after the other scenarios (4 MiB log records, thousands of examples) it would
sit on freed memory that a leak could fill unseen. Extra arguments go to
both pytest runs (``python -m tests.reliability.soak -x``).
"""

from __future__ import annotations

import os
import subprocess
import sys

SUITE = "tests/reliability"
LOAD = f"{SUITE}/test_load.py"


def main(argv: list[str]) -> int:
    env = {**os.environ, "TZMQ_SOAK": "1"}
    pytest = [sys.executable, "-m", "pytest", "-o", "timeout=1800", "-rA", *argv]
    status = 0
    for args in ([LOAD], [SUITE, "--deselect", LOAD]):
        status = subprocess.run([*pytest, *args], env=env, check=False).returncode or status
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
