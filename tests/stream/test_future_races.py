"""Property: random interleavings of receive, cancel, timeout and arrival lose nothing."""

from __future__ import annotations

import asyncio
from typing import Any

import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tornado.ioloop import IOLoop

import tzmq

OPS = st.lists(
    st.one_of(
        st.just(("recv",)),
        st.just(("recv_multipart",)),
        st.tuples(st.just("cancel"), st.integers(0, 20)),
        st.tuples(st.just("arrive"), st.integers(1, 3)),
        st.just(("tick",)),
        st.tuples(st.just("timeout"), st.integers(0, 2)),
    ),
    max_size=40,
)


async def _run(ops: list[tuple[Any, ...]]) -> None:
    ctx = tzmq.Context()
    pull = ctx.socket(zmq.PULL)
    push = ctx.socket(zmq.PUSH, socket_class=zmq.Socket)
    pull.linger = push.linger = 0
    pull.bind("inproc://races")
    push.connect("inproc://races")
    futures: list[asyncio.Future[Any]] = []
    sent = 0
    try:
        for op in ops:
            if op[0] in ("recv", "recv_multipart"):
                futures.append(getattr(pull, op[0])())
            elif op[0] == "cancel" and futures:
                futures[op[1] % len(futures)].cancel()
            elif op[0] == "arrive":
                for _ in range(op[1]):
                    push.send(b"%d" % sent)
                    sent += 1
            elif op[0] == "tick":
                await asyncio.sleep(0)
            elif op[0] == "timeout":
                pull.rcvtimeo = op[1]
                futures.append(pull.recv())
                pull.rcvtimeo = -1
        # Let every pending call settle: deliver enough messages for all of them.
        for _ in futures:
            push.send(b"%d" % sent)
            sent += 1
        await asyncio.wait_for(asyncio.gather(*futures, return_exceptions=True), timeout=5)
        got: list[int] = []
        for future in futures:
            if future.cancelled():
                continue
            error = future.exception()
            if error is not None:
                assert isinstance(error, zmq.Again), error
                continue
            result = future.result()
            got.append(int(result[0] if isinstance(result, list) else result))
        assert got == sorted(got), f"out of order: {got}"
        # Whatever no call took is still in the socket, in order, exactly once.
        while True:
            try:
                got.append(int(await asyncio.wait_for(pull.recv(zmq.DONTWAIT), 1)))
            except zmq.Again:
                break
        assert sorted(got) == list(range(sent)), (got, sent)
        assert len(set(got)) == len(got)
    finally:
        pull.close()
        push.close()
        ctx.term()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(OPS)
def test_interleavings_lose_nothing(ops: list[tuple[Any, ...]]) -> None:
    loop = IOLoop(make_current=False)
    try:
        loop.run_sync(lambda: _run(ops), timeout=10)
    finally:
        loop.close()
