"""Figures people can watch: the counters of every ZMQStream and future Socket.

Owns `SocketStats` (a frozen snapshot of one stream's or socket's figures),
`Counters` (the mutable counters behind it), the process-wide registry of
the live ones, `stats_snapshot` and `count_traffic`.

Each figure is counted where its invariant lives: the send queue
(`tzmq.stream._sendqueue`) counts what it sends, what had to wait, its peak
depth and its send callbacks' failures; `ZMQStream` what it receives, its
wake-up batches and its receive and close callbacks' failures; a future
socket's pending calls (`tzmq.stream._futurecalls`) all of their own.

Traffic (messages and bytes, in and out) has to be counted per message, and
on the leanest paths that costs about a tenth of what tzmq spends on a
message, so it is counted only while `count_traffic` is on. Everything else
is counted per batch, where a queue grows or when a callback fails, and is
always on.

Example::

    import tzmq.stream

    tzmq.stream.count_traffic()          # messages and bytes too, from now on
    ...
    print(stream.stats.messages_in, stream.stats.queued_peak)
    for figures in tzmq.stream.stats_snapshot():  # every live stream and socket
        print(figures.serial, figures.socket_type, figures.batches)

The registry holds counters weakly and forgets them when their stream or
socket closes: counting never keeps a socket alive.

Thread-safety: counters are written on their stream's IOLoop thread only.
`SocketStats` snapshots (``stream.stats``, ``socket.stats``),
`stats_snapshot` and `count_traffic` may be used from any thread; a snapshot
taken off the loop thread may be slightly stale, its figures a few messages
apart.
"""

from __future__ import annotations

import itertools
import threading
import weakref
from collections.abc import Sized
from dataclasses import dataclass

import zmq

__all__ = ["Counters", "SocketStats", "count_traffic", "stats_snapshot"]


@dataclass(frozen=True, slots=True)
class SocketStats:
    """The figures of one `ZMQStream` or future `Socket` at one moment.

    ``traffic`` says whether ``messages_in``, ``bytes_in``, ``messages_out``
    and ``bytes_out`` are being counted (see `count_traffic`); they count
    from the moment it was turned on. Bytes are payload bytes (the frames'
    lengths); a message is a whole multipart message.
    """

    kind: str
    """``"ZMQStream"`` or ``"Socket"`` (a future socket)."""
    socket_type: str
    """The zmq socket type: ``"ROUTER"``, ``"PUB"``, ..."""
    serial: int
    """Numbers the process's streams and sockets in the order they were made."""
    traffic: bool
    """Whether messages and bytes are being counted (see `count_traffic`)."""
    messages_in: int
    """Messages received."""
    bytes_in: int
    """Payload bytes received."""
    messages_out: int
    """Messages libzmq took."""
    bytes_out: int
    """Payload bytes libzmq took."""
    queued: int
    """Sends waiting in tzmq's send queue now."""
    queued_peak: int
    """The most sends that ever waited in it at once."""
    sends_waited: int
    """Sends queued rather than taken by libzmq at once (refused, or behind others)."""
    callback_errors: int
    """Callbacks that raised: a stream's receive, send and close callbacks
    (coroutine ones too); a future socket's decoding step (``recv_json``,
    ``recv_serialized``, ...)."""
    batches: int
    """Wake-ups in which the stream or socket received or sent something."""


_lock = threading.Lock()
_live: weakref.WeakValueDictionary[int, Counters] = weakref.WeakValueDictionary()
_serials = itertools.count(1)
_traffic = False


def _type_name(socket_type: int) -> str:
    try:
        return zmq.SocketType(socket_type).name
    except ValueError:
        return str(socket_type)


class Counters:
    """The counters of one stream or future socket, written by its owners on the loop thread.

    Registered (weakly) from birth until `retire`. ``queue`` is the owner's
    send queue (a container whose length is its depth).
    """

    __slots__ = (
        "__weakref__",
        "batches",
        "bytes_in",
        "bytes_out",
        "callback_errors",
        "kind",
        "messages_in",
        "messages_out",
        "queue",
        "queued_peak",
        "sends_waited",
        "serial",
        "socket_type",
        "traffic",
    )

    def __init__(self, kind: str, socket_type: int) -> None:
        self.kind = kind
        self.socket_type = _type_name(socket_type)
        self.messages_in = self.bytes_in = self.messages_out = self.bytes_out = 0
        self.queued_peak = self.sends_waited = self.callback_errors = self.batches = 0
        self.queue: Sized = ()
        with _lock:
            self.traffic = _traffic
            self.serial = next(_serials)
            _live[self.serial] = self

    def retire(self) -> None:
        """The stream or socket closed: leave the process-wide snapshot (idempotent)."""
        with _lock:
            _live.pop(self.serial, None)

    def waited(self, depth: int) -> None:
        """A send was queued (the hook the send queues call); the queue is now ``depth`` deep."""
        self.sends_waited += 1
        if depth > self.queued_peak:
            self.queued_peak = depth

    def failed(self) -> None:
        """A callback raised (the hook `tzmq.stream._callbacks` calls)."""
        self.callback_errors += 1

    def snapshot(self) -> SocketStats:
        return SocketStats(
            kind=self.kind,
            socket_type=self.socket_type,
            serial=self.serial,
            traffic=self.traffic,
            messages_in=self.messages_in,
            bytes_in=self.bytes_in,
            messages_out=self.messages_out,
            bytes_out=self.bytes_out,
            queued=len(self.queue),
            queued_peak=self.queued_peak,
            sends_waited=self.sends_waited,
            callback_errors=self.callback_errors,
            batches=self.batches,
        )


def stats_snapshot() -> list[SocketStats]:
    """The figures of every stream and future socket not yet closed, oldest first."""
    with _lock:
        live = sorted(_live.items())
    return [counters.snapshot() for _, counters in live]


def count_traffic(enabled: bool = True) -> bool:
    """Count messages and bytes in and out on every stream and future socket, or stop.

    Applies at once to the live ones and to those made later; returns the
    previous setting, to put back. Off by default: traffic is the one
    figure counted per message (see the module doc).
    """
    global _traffic
    with _lock:
        previous, _traffic = _traffic, bool(enabled)
        for counters in _live.values():
            counters.traffic = _traffic
    return previous
