"""Shared fixtures: a zmq context that is always terminated, and socket pairs on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import zmq


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
