"""``pytest --loop`` reaches every IOLoop the tests make, and the Proactor stand-in is faithful."""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any

import pytest
from tornado.ioloop import IOLoop

from tests import loops


def _kind(loop: asyncio.AbstractEventLoop) -> str:
    """The ``--loop`` name of ``loop``. The stand-in is a SelectorEventLoop: test it first."""
    if isinstance(loop, loops.ProactorStandIn):
        return "proactor"
    if type(loop).__module__.split(".")[0] == "uvloop":
        return "uvloop"
    if isinstance(loop, asyncio.SelectorEventLoop):
        return "asyncio"
    return repr(loop)


async def _running_kind() -> str:
    return _kind(asyncio.get_running_loop())


async def _readable(io_loop: IOLoop) -> bytes:
    """Register one end of a socketpair with ``add_handler``; what the handler reads."""
    reader, writer = socket.socketpair()
    got: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def on_read(fd: Any, events: int) -> None:
        if not got.done():
            got.set_result(reader.recv(16))

    try:
        reader.setblocking(False)
        io_loop.add_handler(reader, on_read, IOLoop.READ)
        writer.send(b"ready")
        return await asyncio.wait_for(got, timeout=5)
    finally:
        io_loop.remove_handler(reader)
        reader.close()
        writer.close()


@pytest.mark.gen_test
async def test_io_loop_fixture_runs_on_the_chosen_loop(
    io_loop: IOLoop, request: pytest.FixtureRequest
) -> None:
    assert await _running_kind() == request.config.getoption("loop")
    assert await _readable(io_loop) == b"ready"


def test_loops_made_directly_and_on_threads_are_the_chosen_kind(
    request: pytest.FixtureRequest,
) -> None:
    kinds: list[str] = []

    def run_one() -> None:
        loop = IOLoop(make_current=False)
        try:
            kinds.append(loop.run_sync(_running_kind, timeout=5))
            kinds.append(loop.run_sync(lambda: _readable(loop), timeout=5).decode())
        finally:
            loop.close(all_fds=True)

    run_one()
    thread = threading.Thread(target=run_one)
    thread.start()
    thread.join(timeout=10)
    assert not thread.is_alive()
    chosen = request.config.getoption("loop")
    assert kinds == [chosen, "ready", chosen, "ready"]


def test_proactor_stand_in_refuses_add_reader_and_tornado_routes_around_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(asyncio, "ProactorEventLoop", loops.ProactorStandIn, raising=False)
    asyncio_loop = loops.ProactorStandIn()
    io_loop = IOLoop(asyncio_loop=asyncio_loop, make_current=False)
    try:
        reader, writer = socket.socketpair()
        with reader, writer:
            for call in (
                lambda: asyncio_loop.add_reader(reader, print),
                lambda: asyncio_loop.add_writer(writer, print),
                lambda: asyncio_loop.remove_reader(reader),
                lambda: asyncio_loop.remove_writer(writer),
            ):
                with pytest.raises(NotImplementedError):
                    call()
        assert io_loop.run_sync(lambda: _readable(io_loop), timeout=5) == b"ready"
    finally:
        io_loop.close(all_fds=True)
    assert asyncio_loop.is_closed()
