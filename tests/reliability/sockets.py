"""Socket set-ups the reliability tests share.

Thread-safety: each helper makes sockets for the calling thread.
"""

from __future__ import annotations

from typing import Any

import zmq

__all__ = ["stuck_pair"]


def stuck_pair(
    ctx: zmq.Context[Any], name: str, hwm: int = 1
) -> tuple[zmq.Socket[Any], zmq.Socket[Any]]:
    """A (ROUTER, DEALER) pair over inproc whose ROUTER never reads: sends get stuck."""
    router = ctx.socket(zmq.ROUTER, socket_class=zmq.Socket)
    dealer = ctx.socket(zmq.DEALER, socket_class=zmq.Socket)
    for sock in (router, dealer):
        sock.linger = 0
        sock.sndhwm = sock.rcvhwm = hwm
    router.bind(f"inproc://{name}")
    dealer.connect(f"inproc://{name}")
    return router, dealer
