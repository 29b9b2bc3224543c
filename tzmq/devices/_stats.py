"""What a proxy counts: messages, frames and bytes through each socket.

Owns the counters one direction of a proxy keeps, the immutable snapshot a
proxy reports (`ProxyStatistics`), and libzmq's wire layout of that snapshot:
the eight ``uint64`` frames ``zmq_proxy_steerable`` sends in reply to
``STATISTICS``.

Thread-safety: `Counters` belong to the IOLoop thread of their proxy; the
snapshots are immutable and may go anywhere.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = ["Counters", "ProxyStatistics", "Traffic"]

# libzmq memcpy's each uint64_t into its frame: native byte order.
_UINT64 = struct.Struct("=Q")


@dataclass(frozen=True)
class Traffic:
    """Traffic through one socket in one direction.

    ``messages`` counts whole multipart messages; ``frames`` counts their
    parts, which is what libzmq calls messages in its statistics.
    """

    messages: int = 0
    frames: int = 0
    bytes: int = 0


@dataclass(frozen=True)
class ProxyStatistics:
    """A snapshot of a proxy's counters.

    Every message read is accounted for: ``frontend_received`` is
    ``backend_sent`` plus the frontend's messages that were refused, still
    queued (at most one) or, after close, unsent; likewise the other way.
    ``captured`` counts copies handed to the capture socket. ``dropped``
    counts messages and copies libzmq refused with an error (a
    ``ROUTER_MANDATORY`` peer that is gone); ``unsent`` counts messages and
    copies still queued at close that libzmq would not take. Neither is
    silent: both are also logged.
    """

    frontend_received: Traffic = Traffic()
    frontend_sent: Traffic = Traffic()
    backend_received: Traffic = Traffic()
    backend_sent: Traffic = Traffic()
    captured: int = 0
    dropped: int = 0
    unsent: int = 0

    def to_frames(self) -> list[bytes]:
        """libzmq's ``STATISTICS`` reply: eight native-order ``uint64`` frames.

        In order: frontend received frames and bytes, frontend sent frames and
        bytes, then the same four for the backend.
        """
        values: list[int] = []
        for traffic in (
            self.frontend_received,
            self.frontend_sent,
            self.backend_received,
            self.backend_sent,
        ):
            values += (traffic.frames, traffic.bytes)
        return [_UINT64.pack(value) for value in values]

    @classmethod
    def from_frames(cls, frames: list[bytes]) -> ProxyStatistics:
        """Parse a ``STATISTICS`` reply (ours or libzmq's); whole-message counts are unknown.

        Raises ``ValueError`` unless ``frames`` is eight frames of eight bytes.
        """
        if len(frames) != 8 or any(len(frame) != _UINT64.size for frame in frames):
            raise ValueError(
                f"a STATISTICS reply is 8 frames of {_UINT64.size} bytes, not "
                f"{[len(frame) for frame in frames]}"
            )
        values = [_UINT64.unpack(frame)[0] for frame in frames]
        fr, fs, br, bs = (Traffic(0, values[i], values[i + 1]) for i in range(0, 8, 2))
        return cls(fr, fs, br, bs)


class Counters:
    """Mutable counters for one socket's receiving or sending side."""

    __slots__ = ("bytes", "frames", "messages")

    def __init__(self) -> None:
        self.messages = 0
        self.frames = 0
        self.bytes = 0

    def add(self, frames: int, nbytes: int) -> None:
        self.messages += 1
        self.frames += frames
        self.bytes += nbytes

    def snapshot(self) -> Traffic:
        return Traffic(self.messages, self.frames, self.bytes)
