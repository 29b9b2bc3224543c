"""The echo demo: both styles echo every message, and the check catches a bad service."""

from __future__ import annotations

import asyncio

import pytest
import zmq

import tzmq
from demos import echo
from demos._result import run_on_new_loop


@pytest.mark.parametrize("api", echo.APIS)
def test_every_message_comes_back_in_order(api: str) -> None:
    result = echo.run_demo(messages=2_000, api=api, timeout=10)
    assert result.ok, result
    assert result.messages == 2_000
    assert result.name == f"echo ({api})"


def test_more_messages_than_the_high_water_mark_with_the_window() -> None:
    # Without a window, a ROUTER drops replies once the client's queue is full.
    result = echo.run_demo(messages=5_000, api="stream", timeout=10)
    assert result.ok, result


def test_check_replies_reports_missing_wrong_and_reordered() -> None:
    good = [b"message 0", b"message 1", b"message 2"]
    assert echo.check_replies(good, 3) == ""
    assert echo.check_replies(good[:2], 3) == "2 of 3 replies"
    assert "reply 1" in echo.check_replies([good[0], good[2], good[1]], 3)
    assert "reply 0" in echo.check_replies([b"other", *good[1:]], 3)


def test_a_silent_service_is_a_shortfall_not_a_hang() -> None:
    async def against_silent_router() -> list[bytes]:
        ctx = tzmq.Context()
        silent = ctx.socket(zmq.ROUTER)
        client = ctx.socket(zmq.DEALER)
        try:
            port = silent.bind_to_random_port("tcp://127.0.0.1")
            client.connect(f"tcp://127.0.0.1:{port}")
            return await echo.coroutine_client(client, 5, timeout=0.2)
        finally:
            client.close(linger=0)
            silent.close(linger=0)
            ctx.term()

    replies = run_on_new_loop(against_silent_router, timeout=5)
    assert replies == []
    assert echo.check_replies(replies, 5) == "0 of 5 replies"


def test_bad_arguments_fail_at_the_call() -> None:
    with pytest.raises(ValueError, match="api"):
        echo.run_demo(api="threads")
    with pytest.raises(ValueError, match="messages"):
        echo.run_demo(messages=0)


def test_run_on_new_loop_times_out_and_runs_finally() -> None:
    cleaned: list[bool] = []

    async def forever() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cleaned.append(True)

    with pytest.raises(TimeoutError):
        run_on_new_loop(forever, timeout=0.1)
    assert cleaned == [True]
