"""The secure demo: a known key is served, a stranger is refused, and the check has teeth."""

from __future__ import annotations

from typing import Any

import pytest

from demos import secure as demo
from tzmq.auth import CURVE_ALLOW_ANY, IOLoopAuthenticator


def test_known_key_served_stranger_refused() -> None:
    result = demo.run_demo(messages=200, timeout=10)
    assert result.ok, result
    assert result.messages == 200
    assert "stranger refused" in result.detail


def test_an_authenticator_that_lets_anyone_in_fails_the_demo(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    configure = IOLoopAuthenticator.configure_curve

    def allow_any(self: IOLoopAuthenticator, domain: str = "*", location: Any = ".") -> None:
        configure(self, domain, CURVE_ALLOW_ANY)

    monkeypatch.setattr(IOLoopAuthenticator, "configure_curve", allow_any)
    result = demo.run_demo(messages=10, timeout=2)
    assert not result.ok
    assert "the stranger's handshake did not fail" in result.detail


def test_bad_arguments_fail_at_the_call() -> None:
    with pytest.raises(ValueError, match="messages"):
        demo.run_demo(messages=0)
