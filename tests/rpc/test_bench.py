"""benchmarks/rpc.py runs every implementation and checks every answer."""

from __future__ import annotations

import asyncio

import pytest

from benchmarks import rpc as bench
from tests.loops import needs_add_reader

pytestmark = needs_add_reader


def test_a_short_run_measures_every_row() -> None:
    lines = asyncio.run(bench.run(calls=40, rounds=1, only=None))
    names = bench.implementations()
    assert "aiozmq.rpc" in names
    assert len(lines) == 1 + 2 * len(names)
    for line in lines[1:]:
        assert float(line.split()[-3].replace(",", "")) > 0, line


def test_a_wrong_answer_fails_the_run() -> None:
    async def wrong(i: int) -> int:
        return i

    with pytest.raises(RuntimeError, match="gave"):
        asyncio.run(bench._measure(wrong, 5, 2, bench.Result()))


def test_calls_past_the_timeout_give_a_partial_sample() -> None:
    closed: list[str] = []

    async def setup(bind: str) -> tuple[bench.Call, bench.Close]:
        async def call(i: int) -> int:
            if i >= 3:
                await asyncio.Event().wait()  # never answered: cancelled at the timeout
            return i + 1

        async def close() -> None:
            closed.append(bind)

        return call, close

    sample = bench.calls_on_fresh_loop(setup, 10, 1, timeout=0.2)
    assert (sample.done, sample.total, sample.partial) == (3, 10, True)
    assert len(closed) == 1 and closed[0].startswith("inproc://")
