"""The implementations compared: raw blocking pyzmq, the two streams, the two future sockets.

Owns which implementations exist in this run, and the floors (yardsticks of
`benchmarks._floor`) beside them. The future-socket rows appear only when
``tzmq.Socket`` and ``tzmq.Context`` exist; pyzmq's future socket is shown
beside tzmq's and not alone.

Thread-safety: immutable data, safe anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import zmq
from zmq.eventloop import future as pyzmq_future
from zmq.eventloop import zmqstream as pyzmq_zmqstream

import tzmq

from ._floor import BareContext, BareStream, FramesContext
from ._harness import BenchError, Sample, run_async, run_sync

__all__ = [
    "FLOOR_FRAMES",
    "FLOOR_OF",
    "FUTURE",
    "RAW",
    "STREAM",
    "Impl",
    "available",
    "measure",
]

RAW = "raw"
STREAM = "stream"
FUTURE = "future"

TZMQ_STREAM = "tzmq.ZMQStream"
TZMQ_SOCKET = "tzmq.Socket"
FLOOR_STREAM = "floor: stream"
FLOOR_SOCKET = "floor: future"
FLOOR_FRAMES = "floor: frames"

FLOOR_OF = {TZMQ_STREAM: FLOOR_STREAM, TZMQ_SOCKET: FLOOR_SOCKET}
"""The yardstick row (see `benchmarks._floor`) that each tzmq row is read against."""


@dataclass(frozen=True)
class Impl:
    """One implementation: ``factory`` is its stream class or its Context class
    (a future Context, or for the raw family a Context of other blocking sockets)."""

    name: str
    family: str
    factory: Any = None
    floor: bool = False
    """A yardstick (`benchmarks._floor`), run only by the cases that ask for floors."""

    def context(self) -> zmq.Context[Any]:
        """A fresh context: ``factory()`` for future and raw sockets that have one, else plain."""
        if self.family != STREAM and self.factory is not None:
            context: zmq.Context[Any] = self.factory()
            return context
        return zmq.Context()


def has_tzmq_future() -> bool:
    return hasattr(tzmq, "Socket") and hasattr(tzmq, "Context")


def available() -> list[Impl]:
    impls = [
        Impl("raw", RAW),
        Impl(FLOOR_FRAMES, RAW, FramesContext, floor=True),
        Impl(TZMQ_STREAM, STREAM, tzmq.ZMQStream),
        Impl("pyzmq ZMQStream", STREAM, pyzmq_zmqstream.ZMQStream),
        Impl(FLOOR_STREAM, STREAM, BareStream, floor=True),
    ]
    if has_tzmq_future():
        impls += [
            Impl(TZMQ_SOCKET, FUTURE, tzmq.Context),  # type: ignore[attr-defined,unused-ignore]
            Impl("pyzmq future", FUTURE, pyzmq_future.Context),
            Impl(FLOOR_SOCKET, FUTURE, BareContext, floor=True),
        ]
    return impls


def measure(impl: Impl, timeout: float, raw: Any, stream: Any, future: Any) -> Sample:
    """Run the body of a case that fits ``impl``: ``raw(owned)`` in this thread,
    ``stream(owned)`` or ``future(owned)`` on a fresh event loop. A raw body
    makes the socket under test with ``owned.native``, so the frames floor runs it too."""
    if impl.family == RAW:
        if raw is None:
            raise BenchError(f"{impl.name} has no such measurement")
        return run_sync(impl.context, raw, timeout)
    return run_async(impl.context, future if impl.family == FUTURE else stream, timeout)
