"""The libzmq boundary: how one message crosses it, and what its errors mean.

Owns the non-blocking flags, the multipart send loop, the multipart receive
loop and the errno sets every caller reads: `SOCKET_GONE` (the socket was
closed behind our back or its context ended) and `REFUSED` (libzmq cannot
take the message *now*: the peer is at its high-water mark, or the socket's
state machine says it is not its turn, as on a REQ socket awaiting its
reply). `ZMQStream`, the future `Socket` and the log handler move messages
only through here.

Frames arrive already validated (`tzmq.stream._frames`). Only the first frame
of a message can be refused: once libzmq accepts the first frame it takes
the rest, so a refused message was not partly sent.

Thread-safety: pure functions over a socket; call them from the thread that
owns the socket (the IOLoop's).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import zmq

__all__ = [
    "NOBLOCK",
    "REFUSED",
    "SNDMORE",
    "SOCKET_GONE",
    "Send",
    "direct_send",
    "recv_message",
    "refused",
    "send_message",
]

# Plain ints: arithmetic on pyzmq's flag enums is a Python call per operation.
NOBLOCK = int(zmq.NOBLOCK)
SNDMORE = int(zmq.SNDMORE)
_NOBLOCK_MORE = NOBLOCK | SNDMORE

SOCKET_GONE = frozenset({zmq.ENOTSOCK, zmq.ETERM, zmq.EFAULT})
"""errnos of a socket closed behind its owner's back, or whose context ended."""

REFUSED = frozenset({zmq.EAGAIN, zmq.EFSM})
"""errnos of a send libzmq cannot take now but may later: queue it and wait for POLLOUT."""

Send = Callable[..., Any]
"""A bound ``send(data, flags[, copy, track])`` of one socket (see `direct_send`)."""

_backend_send = zmq.backend.Socket.send


def direct_send(socket: zmq.Socket[Any]) -> Send:
    """``socket.send`` without pyzmq's Python layer, which only adds the DRAFT options.

    tzmq passes ``routing_id``/``group`` through `send_message`'s ``kwargs``.
    A ``send`` set on the socket object itself (a wrapper, a spy) wins.
    """
    own: Send | None = socket.__dict__.get("send")
    return own if own is not None else _backend_send.__get__(socket)


def refused(error: zmq.ZMQError) -> bool:
    """True when ``error`` means "not now" (`REFUSED`), not "never"."""
    return error.errno in REFUSED


def send_message(
    socket: zmq.Socket[Any],
    send: Send,
    parts: Sequence[Any],
    flags: int = 0,
    copy: bool = True,
    track: bool = False,
    kwargs: dict[str, Any] | None = None,
) -> Any:
    """Hand one message to libzmq without blocking; return the last frame's result.

    ``parts`` is a sequence of frames; ``send`` is ``direct_send(socket)``.
    Raises `zmq.ZMQError` as libzmq does (`REFUSED` errnos only before the
    first frame went out). ``kwargs`` holds the DRAFT ``routing_id``/``group``,
    which only pyzmq's Python layer knows.
    """
    flags |= NOBLOCK
    if kwargs:
        return socket.send_multipart(parts, flags, copy=copy, track=track, **kwargs)
    last = len(parts) - 1
    if copy and not track:
        for index in range(last):
            send(parts[index], flags | SNDMORE)
        return send(parts[last], flags)
    for index in range(last):
        send(parts[index], flags | SNDMORE, copy, track)
    return send(parts[last], flags, copy, track)


def recv_message(
    recv: Callable[..., Any], copy: bool, flags: int = NOBLOCK, track: bool = False
) -> list[Any]:
    """Receive one whole multipart message: ``bytes`` frames, or `zmq.Frame` with ``copy=False``.

    ``recv`` is the socket's bound ``recv``; ``flags`` should hold `NOBLOCK`.
    Raises `zmq.Again` when nothing is waiting (the remaining frames of a
    message are always there once its first frame is), ``EFSM`` when the
    socket's state machine allows no receive now.
    """
    frame = recv(flags, False, track)
    if copy:
        msg = [frame.bytes]
        while frame.more:
            frame = recv(flags, False, track)
            msg.append(frame.bytes)
        return msg
    frames = [frame]
    while frame.more:
        frame = recv(flags, False, track)
        frames.append(frame)
    return frames
