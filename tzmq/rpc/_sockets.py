"""Making the stream a client or server runs on, from a context or a given socket.

Owns the shared constructor rules: a socket of the right type (made here, or
handed in by a caller who set options such as CURVE on it first), bound and
connected to the endpoints given, linger 0 unless the caller chose otherwise;
and whether its messages carry a caller's ``User-Id`` worth reading.
Call on the IOLoop's thread.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import zmq
from tornado.ioloop import IOLoop

from tzmq import ZMQStream

from ._checks import endpoints

__all__ = ["open_stream", "user_id_reader"]

UserIdReader = Callable[[list[Any]], tuple["str | None", list[bytes]]]


def open_stream(
    kind: int,
    context: zmq.Context[Any] | None,
    socket: zmq.Socket[Any] | None,
    bind: str | Iterable[str] | None,
    connect: str | Iterable[str] | None,
    io_loop: IOLoop | None,
) -> ZMQStream:
    """A `ZMQStream` on a socket of type ``kind``, bound and connected."""
    binds = endpoints("bind", bind)
    connects = endpoints("connect", connect)
    if socket is None:
        if context is not None and not isinstance(context, zmq.Context):
            raise TypeError(f"context must be a zmq.Context, not {type(context).__name__}")
        socket = (context or zmq.Context.instance()).socket(kind)
        socket.linger = 0
    elif context is not None:
        raise ValueError("give a context or a socket, not both")
    elif not isinstance(socket, zmq.Socket) or socket.type != kind:
        name = zmq.SocketType(kind).name
        raise TypeError(f"socket must be a zmq {name} socket, not {socket!r}")
    try:
        for address in binds:
            socket.bind(address)
        for address in connects:
            socket.connect(address)
        return ZMQStream(socket, io_loop)
    except BaseException:
        socket.close(linger=0)
        raise


def _read_user_id(msg: list[Any]) -> tuple[str | None, list[bytes]]:
    try:
        user_id: str | None = msg[-1].get("User-Id")
    except zmq.ZMQError:
        user_id = None
    return user_id, [frame.bytes for frame in msg]


def user_id_reader(stream: ZMQStream) -> UserIdReader | None:
    """How to read the caller's ``User-Id``, or None on a socket with no security.

    Only frames (``copy=False``) carry it, so a stream whose mechanism is
    NULL keeps receiving plain bytes, the faster way.
    """
    if stream.socket.get(zmq.MECHANISM) == zmq.NULL:
        return None
    return _read_user_id
