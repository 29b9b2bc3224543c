"""Shared fixtures: a zmq context that is always terminated, and socket pairs on 127.0.0.1.

Also the ``--loop`` option (see tests/loops.py): the event loop every test's IOLoop runs on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import zmq

from tests import loops


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--loop",
        choices=loops.LOOPS,
        default="asyncio",
        help="the asyncio event loop under every IOLoop the tests make (default: asyncio)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.add_cleanup(loops.install(config.getoption("loop")))


def _selector_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "Tornado selector"}


@pytest.fixture(autouse=True)
def _selector_threads_closed() -> Iterator[None]:
    """Fail a test that leaves an IOLoop on a Proactor loop open (its selector thread runs on)."""
    before = _selector_threads()
    yield
    left = _selector_threads() - before
    assert not left, f"{len(left)} IOLoop(s) left open with Tornado's selector thread running"


class TrackingContext(zmq.Context):  # type: ignore[type-arg]
    """A context that remembers its sockets, so a test that drops one still closes it."""

    def __init__(self) -> None:
        super().__init__()
        object.__setattr__(self, "made", [])

    def socket(self, *args: Any, **kwargs: Any) -> Any:
        sock = super().socket(*args, **kwargs)
        self.made.append(sock)
        return sock


def close_tracked(context: TrackingContext) -> None:
    """Close every socket ``context`` made (linger 0), then terminate it."""
    for sock in context.made:
        sock.close(linger=0)
    context.term()


@pytest.fixture
def ctx() -> Iterator[zmq.Context[Any]]:
    """A private context; every socket made from it is closed before it terminates."""
    context = TrackingContext()
    yield context
    close_tracked(context)


SocketPair = Callable[..., tuple[zmq.Socket[Any], zmq.Socket[Any]]]


@pytest.fixture
def socket_pair(ctx: zmq.Context[Any]) -> SocketPair:
    """Make (bound, connected) sockets over tcp://127.0.0.1 on a random port, or inproc."""

    def make(
        bind_type: int, connect_type: int, transport: str = "tcp"
    ) -> tuple[zmq.Socket[Any], zmq.Socket[Any]]:
        bound = ctx.socket(bind_type)
        connected = ctx.socket(connect_type)
        for s in (bound, connected):
            s.linger = 0
        if transport == "tcp":
            port = bound.bind_to_random_port("tcp://127.0.0.1")
            connected.connect(f"tcp://127.0.0.1:{port}")
        else:
            address = f"inproc://pair-{id(bound)}"
            bound.bind(address)
            connected.connect(address)
        return bound, connected

    return make
