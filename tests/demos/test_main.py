"""`python -m demos`: the table, and the exit code that `make demo` relies on."""

from __future__ import annotations

import re

import pytest

import demos.__main__ as runner
from demos._result import DemoResult


def _fake_demos() -> dict[str, object]:
    def broken() -> list[DemoResult]:
        raise RuntimeError("port on fire")

    return {
        "good": lambda: [DemoResult("good", 3, 0.5, True, "fine")],
        "broken": broken,
    }


def test_a_raising_demo_is_a_failed_row_and_the_rest_still_run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(runner, "DEMOS", _fake_demos())
    assert runner.main([]) == 1
    out = capsys.readouterr().out
    assert "good" in out and "fine" in out
    assert re.search(r"broken +0 +[0-9.]+s +FAILED +RuntimeError: port on fire", out)
    assert "1/2 passed" in out


def test_exit_code_is_zero_only_when_all_pass(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(runner, "DEMOS", _fake_demos())
    assert runner.main(["--only", "good"]) == 0
    assert "1/1 passed" in capsys.readouterr().out
