"""Validation of outgoing message frames, shared by every send path.

A multipart message must be checked whole *before* its first frame reaches
libzmq: a bad third frame found after two were sent would leave a partial
message on the wire. Pure functions: safe from any thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import zmq

__all__ = [
    "all_bytes",
    "check_frame",
    "check_message",
    "draft_options",
    "nbytes",
    "snapshot",
]

_FAST_TYPES = (bytes, zmq.Frame)


def check_frame(part: Any, index: int = 0) -> None:
    """Raise ``TypeError`` unless ``part`` can be sent as one zmq frame."""
    kind = type(part)
    if kind is bytes or kind is zmq.Frame:
        return
    if isinstance(part, str):
        raise TypeError(
            f"frame {index} is a str; encode it first or use send_string() (got {part[:40]!r})"
        )
    if isinstance(part, (bytearray, zmq.Frame)):
        return
    try:
        view = part if isinstance(part, memoryview) else memoryview(part)
    except TypeError:
        raise TypeError(
            f"frame {index} is {kind.__name__}, which is not bytes-like "
            "(bytes, bytearray, memoryview, zmq.Frame or a buffer)"
        ) from None
    # libzmq takes one contiguous block: a strided view would fail only when
    # its frame is sent, after the frames before it went out.
    if not view.contiguous:
        raise TypeError(f"frame {index} is a non-contiguous buffer; copy it with bytes() first")


def all_bytes(parts: Sequence[Any]) -> bool:
    """True when every frame is ``bytes``: immutable, so a queue may keep them as they are."""
    # A loop, not all(<generator>): this runs on every queued multipart
    # message, and a generator is an object and a frame more.
    for part in parts:  # noqa: SIM110
        if type(part) is not bytes:
            return False
    return True


def check_message(msg: Any) -> Sequence[Any]:
    """Validate a multipart message; return it as a sequence of frames.

    Raises ``TypeError`` for a message that is not a sequence of bytes-like
    frames and ``ValueError`` for one with no frames.
    """
    if type(msg) is list and msg:
        # The common case (every echo reply): a list of bytes, checked in one
        # pass, inline (all_bytes() would be a call more on every reply).
        for part in msg:
            if type(part) is not bytes:
                break
        else:
            return msg
    if isinstance(msg, (bytes, str, bytearray, memoryview, zmq.Frame)):
        raise TypeError(
            "send_multipart() takes a list of frames, not a single "
            f"{type(msg).__name__}; use send() for one frame"
        )
    if not isinstance(msg, (list, tuple)):
        if not isinstance(msg, Sequence):
            raise TypeError(f"a message is a list of frames, not {type(msg).__name__}")
        msg = list(msg)
    frames: Sequence[Any] = msg
    if not frames:
        raise ValueError("a message needs at least one frame")
    for index, part in enumerate(frames):
        if type(part) not in _FAST_TYPES:
            check_frame(part, index)
    return frames


def draft_options(routing_id: Any, group: Any) -> dict[str, Any] | None:
    """The DRAFT ``routing_id``/``group`` send options as keyword arguments, checked now.

    None when neither is given. A queued send reaches libzmq later, inside
    the loop: a value libzmq cannot take must fail here, at the call.
    """
    if routing_id is None and group is None:
        return None
    if not zmq.DRAFT_API:
        raise zmq.ZMQError(
            zmq.ENOTSUP, "routing_id and group need libzmq and pyzmq built with the DRAFT API"
        )
    options: dict[str, Any] = {}
    if routing_id is not None:
        if type(routing_id) is not int or not 0 < routing_id < 2**32:
            raise TypeError(f"routing_id must be an int in 1..2**32-1, not {routing_id!r}")
        options["routing_id"] = routing_id
    if group is not None:
        if not isinstance(group, (str, bytes)):
            raise TypeError(f"group must be a str or bytes, not {type(group).__name__}")
        options["group"] = group
    return options


def snapshot(parts: Sequence[Any]) -> list[Any]:
    """Copy mutable buffers so a queued message is what the caller sent.

    Called only when a message must wait (queued or handed to another
    thread): a bytearray the caller reuses must not change what goes out.
    """
    return [
        part if type(part) is bytes or isinstance(part, zmq.Frame) else bytes(part)
        for part in parts
    ]


def nbytes(parts: Sequence[Any]) -> int:
    """Payload size of a message, for byte-based queue limits."""
    total = 0
    for part in parts:
        total += len(part) if type(part) is bytes else memoryview(part).nbytes
    return total
