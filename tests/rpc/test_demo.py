"""demos/rpc.py: the whole demo passes, and its checks catch a broken backend."""

from __future__ import annotations

import pytest

from demos import rpc


def test_the_demo_passes() -> None:
    result = rpc.run_demo(calls=50, timeout=20)
    assert result.ok, result
    assert result.messages == 50 * 3 + 2 and result.name == "rpc"


def test_a_backend_that_never_cancels_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    async def ignores_cancel(self: rpc.Api) -> str:
        return "finished at once"

    monkeypatch.setattr(rpc.Api, "slow", rpc.method(ignores_cancel))
    result = rpc.run_demo(calls=5, timeout=20)
    assert not result.ok
    assert "/api/slow succeeded" in result.detail


def test_main_runs_the_demo(capsys: pytest.CaptureFixture[str]) -> None:
    assert rpc.main(["--calls", "5"]) == 0
    assert "rpc: ok" in capsys.readouterr().out
