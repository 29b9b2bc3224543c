"""Every example in the docs runs as written and prints what the docs show.

Each ``docs/examples/NAME.py`` is run in its own interpreter (the Jupyter one
patches pyzmq's modules process-wide) and its output compared with
``NAME.out``, which the docs include next to the code.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


@pytest.mark.parametrize("name", sorted(p.stem for p in EXAMPLES.glob("*.py")))
def test_example_prints_what_the_docs_show(name: str) -> None:
    run = subprocess.run(
        [sys.executable, "-W", "error", str(EXAMPLES / f"{name}.py")],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=EXAMPLES.parents[1],
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout == (EXAMPLES / f"{name}.out").read_text()
    assert run.stderr == ""  # nothing logged: no error hidden behind the right output


def test_every_example_has_its_output() -> None:
    assert sorted(p.stem for p in EXAMPLES.glob("*.out")) == sorted(
        p.stem for p in EXAMPLES.glob("*.py")
    )
