"""The clients' one timer for many deadlines (tzmq.rpc._deadlines).

The property runs Deadlines on a manual clock and compares it with the
obvious model: at every moment exactly the items added, not dropped, whose
time has come have expired, in order of time then of adding, and the loop
holds at most one live timer. The last tests run a real client on a real
loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
import zmq
from hypothesis import given, settings
from hypothesis import strategies as st

from tzmq.rpc import ClientClosedError, RequestTimeout
from tzmq.rpc._deadlines import Deadline, Deadlines

from .helpers import bounded, holding, until


class _Timer:
    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class _ManualClock:
    """The two loop methods Deadlines uses, on a clock the test moves."""

    def __init__(self) -> None:
        self.now = 0.0
        self.timers: list[_Timer] = []

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Callable[[], None]) -> _Timer:
        timer = _Timer(when, callback)
        self.timers.append(timer)
        return timer

    def live_timers(self) -> list[_Timer]:
        return [t for t in self.timers if not t.cancelled]

    def advance(self, seconds: float) -> None:
        self.now += seconds
        while due := [t for t in self.live_timers() if t.when <= self.now]:
            timer = min(due, key=lambda t: t.when)
            self.timers.remove(timer)
            timer.callback()


_ops = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(0, 40)),
        st.tuples(st.just("drop"), st.integers(0, 200)),
        st.tuples(st.just("advance"), st.integers(0, 15)),
    ),
    max_size=300,
)


@settings(max_examples=200, deadline=None)
@given(_ops)
def test_deadlines_expire_what_the_model_says(ops: list[tuple[str, int]]) -> None:
    clock = _ManualClock()
    expired: list[int] = []
    deadlines: Deadlines[int] = Deadlines(clock, expired.append)  # type: ignore[arg-type]
    entries: list[Deadline] = []
    model: dict[int, float] = {}  # item -> when, for items neither dropped nor expired
    for op, n in ops:
        if op == "add":
            item = len(entries)
            when = clock.now + n
            entries.append(deadlines.add(when, item))
            model[item] = when
        elif op == "drop" and entries:
            item = n % len(entries)
            deadlines.drop(entries[item])
            model.pop(item, None)
        elif op == "advance":
            before = len(expired)
            clock.advance(n)
            due = sorted((when, item) for item, when in model.items() if when <= clock.now)
            assert expired[before:] == [item for _, item in due]
            for _, item in due:
                del model[item]
        assert len(deadlines) == len(model)
        assert len(clock.live_timers()) == (1 if model else 0)
        if model:
            # The one timer is due no later than the earliest deadline.
            (timer,) = clock.live_timers()
            assert timer.when <= min(model.values())
        else:
            assert not deadlines._heap
    deadlines.close()
    assert len(deadlines) == 0 and not clock.live_timers()
    for entry in entries:
        deadlines.drop(entry)  # after close: counts nothing
    assert len(deadlines) == 0


def test_dropped_entries_do_not_pile_up() -> None:
    clock = _ManualClock()
    deadlines: Deadlines[int] = Deadlines(clock, lambda item: None)  # type: ignore[arg-type]
    deadlines.add(clock.now + 1.0, -1)  # one call that is never answered
    for item in range(10_000):
        deadlines.drop(deadlines.add(clock.now + 10.0, item))
    assert len(deadlines) == 1
    assert len(deadlines._heap) <= 2 * 64 + 1  # rebuilt whenever most of it is dropped


@pytest.mark.gen_test
async def test_a_shorter_deadline_added_later_expires_first(ctx: zmq.Context[Any]) -> None:
    _, server, client = holding(ctx, timeout=30)
    slow = client.request(b"slow")
    with pytest.raises(RequestTimeout):
        await bounded(client.request(b"quick", timeout=0.05))
    assert not slow.done() and client.in_flight == 1
    client.close()
    server.close()
    with pytest.raises(ClientClosedError):
        await slow
    assert len(client._deadlines) == 0


@pytest.mark.gen_test
async def test_answered_calls_leave_no_deadline_and_no_timer(ctx: zmq.Context[Any]) -> None:
    holder, server, client = holding(ctx, timeout=30)
    calls = [client.request(b"%d" % i) for i in range(50)]
    requests = await holder.wait_for(50)
    for request in requests:
        request.reply(b"ok")
    await bounded(asyncio.gather(*calls))
    await until(lambda: len(client._deadlines._heap) == 0)  # the last call's done callback
    assert client._deadlines._timer is None
    client.close()
    server.close()
