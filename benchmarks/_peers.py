"""The far ends of the benchmarks, each a plain blocking pyzmq socket in a thread.

Owns `Counter` (a PULL that counts what it is sent), `Sender` (a PUSH that
sends on a signal), `EchoClient` (a DEALER doing lock-step round trips),
`QueueingClient` (a DEALER that queues all its requests to a REP first) and
`RawEchoServer` (a ROUTER echo loop: the raw baseline's, or a far end).
Each far end is the same for every implementation measured, so it costs
them all the same.

Thread-safety: each peer makes, uses and closes its socket in its own thread.
The measuring thread reads a peer's counters after the peer's `Signal` fired
(or, for a capped run, reads ``count`` while it runs: a plain int, so reading
it from another thread is safe, if a message or two stale).
"""

from __future__ import annotations

import abc
from time import monotonic, perf_counter
from typing import Any

import zmq

from ._harness import Owned, Peer, Signal, bind_random

__all__ = ["Counter", "EchoClient", "QueueingClient", "RawEchoServer", "Sender"]

# Socket timeouts in the peers are short so that they notice `Peer.stopping`
# promptly; a slow implementation still gets the whole measurement timeout.
_POLL_MS = 100
_WARMUP = [b"warm-up"]


def _wait_gate(gate: Signal, peer: Peer) -> bool:
    while not gate.wait(_POLL_MS / 1000):
        if peer.stopping:
            return False
    return True


class Counter:
    """A PULL socket in a thread that counts ``n`` messages.

    With ``warmup``, it first takes that many messages and sets ``ready``, so
    the connection is up before the clock starts. With ``gate``, it connects
    only once the gate is set: a peer that is not reading yet. With ``hold``,
    it reads past the warm-up only once ``go`` is set. ``unbounded`` sets its
    HWM to 0. ``t_end`` is when the ``n``-th message arrived.
    """

    def __init__(
        self,
        owned: Owned,
        endpoint: str,
        n: int,
        *,
        multipart: bool = False,
        warmup: int = 0,
        gate: Signal | None = None,
        hold: bool = False,
        unbounded: bool = False,
        timeout: float,
    ) -> None:
        self.count = 0
        self.t_end = 0.0
        self.ready = Signal()
        self.done = Signal()
        self._ctx = owned.ctx
        self._endpoint = endpoint
        self._n = n
        self._multipart = multipart
        self._warmup = warmup
        self._gate = gate
        self.go = owned.signal()
        if not hold:
            self.go.set()
        self._unbounded = unbounded
        self._timeout = timeout
        self.peer = owned.peer("counter", self._run)

    def _run(self, peer: Peer) -> None:
        if self._gate is not None and not _wait_gate(self._gate, peer):
            return
        sock = self._ctx.socket(zmq.PULL, socket_class=zmq.Socket)
        try:
            sock.rcvtimeo = _POLL_MS
            if self._unbounded:
                sock.rcvhwm = 0
            sock.connect(self._endpoint)
            recv = sock.recv_multipart if self._multipart else sock.recv
            deadline = monotonic() + self._timeout
            taken = 0
            while taken < self._warmup:
                try:
                    recv()
                except zmq.Again:
                    if peer.stopping or monotonic() > deadline:
                        return
                    continue
                taken += 1
            self.ready.set()
            # One wait, not a poll of `peer.stopping`: a wake-up every 100 ms
            # would add instructions in proportion to time, not to work.
            # `Owned.close` sets ``go`` before it stops the peers.
            if not self.go.wait(self._timeout) or peer.stopping:
                return
            n = self._n
            while self.count < n and not peer.stopping:
                try:
                    recv()
                except zmq.Again:
                    if monotonic() > deadline:
                        return
                    continue
                self.count += 1
            if self.count == n:
                self.t_end = perf_counter()
                self.done.set()
        finally:
            sock.close(linger=0)


class Sender:
    """A PUSH socket in a thread: connects, sends one warm-up message, waits for
    ``go``, sends ``msg`` ``n`` times, then waits for ``release`` before closing
    (closing with linger 0 earlier could drop messages still in flight)."""

    def __init__(self, owned: Owned, endpoint: str, msg: list[bytes], n: int) -> None:
        self.go = Signal()
        self.release = Signal()
        self._ctx = owned.ctx
        self._endpoint = endpoint
        self._msg = msg
        self._n = n
        self.peer = owned.peer("sender", self._run)

    def _run(self, peer: Peer) -> None:
        sock = self._ctx.socket(zmq.PUSH, socket_class=zmq.Socket)
        try:
            sock.sndtimeo = _POLL_MS
            sock.connect(self._endpoint)
            if not self._send(sock.send_multipart, _WARMUP, 1, peer):
                return
            if not _wait_gate(self.go, peer):
                return
            if len(self._msg) == 1:
                if not self._send(sock.send, self._msg[0], self._n, peer):
                    return
            elif not self._send(sock.send_multipart, self._msg, self._n, peer):
                return
            _wait_gate(self.release, peer)
        finally:
            sock.close(linger=0)

    @staticmethod
    def _send(send: Any, item: Any, n: int, peer: Peer) -> bool:
        sent = 0
        while sent < n:
            try:
                send(item)
            except zmq.Again:
                if peer.stopping:
                    return False
                continue
            sent += 1
        return True


class _Client(abc.ABC):
    """A DEALER client thread: ``completed`` round trips took ``elapsed`` seconds;
    ``done`` fires when the client stops, whether it finished or gave up at its deadline."""

    def __init__(self, owned: Owned, name: str, endpoint: str, n: int, timeout: float) -> None:
        self.done = Signal()
        self.elapsed = 0.0
        self.completed = 0
        self._ctx = owned.ctx
        self._endpoint = endpoint
        self._n = n
        self._timeout = timeout
        self.peer = owned.peer(name, self._run)

    @abc.abstractmethod
    def _run(self, peer: Peer) -> None:
        """The thread's body: sets ``completed`` and ``elapsed``, then ``done``."""


class EchoClient(_Client):
    """A DEALER in a thread doing ``warmup`` then ``n`` timed lock-step round trips;
    ``elapsed`` covers the timed ones."""

    def __init__(self, owned: Owned, endpoint: str, n: int, warmup: int, timeout: float) -> None:
        self._warmup = warmup  # before the thread starts
        super().__init__(owned, "echo-client", endpoint, n, timeout)

    def _run(self, peer: Peer) -> None:
        sock = self._ctx.socket(zmq.DEALER, socket_class=zmq.Socket)
        try:
            sock.rcvtimeo = sock.sndtimeo = _POLL_MS
            sock.connect(self._endpoint)
            deadline = monotonic() + self._timeout
            if self._round_trips(sock, self._warmup, peer, deadline) < self._warmup:
                return
            start = perf_counter()
            self.completed = self._round_trips(sock, self._n, peer, deadline)
            self.elapsed = perf_counter() - start
        finally:
            sock.close(linger=0)
            self.done.set()

    @staticmethod
    def _round_trips(sock: zmq.Socket[Any], n: int, peer: Peer, deadline: float) -> int:
        send, recv = sock.send, sock.recv
        payload = b"x" * 16
        for index in range(n):
            while True:
                try:
                    send(payload)
                    break
                except zmq.Again:
                    if peer.stopping or monotonic() > deadline:
                        return index
            while True:
                try:
                    recv()
                    break
                except zmq.Again:
                    if peer.stopping or monotonic() > deadline:
                        return index
        return n


class QueueingClient(_Client):
    """A DEALER in a thread that sends ``n`` requests to a REP at once (HWM 0),
    then takes the ``n`` replies; ``elapsed`` runs from the first send to the
    last reply taken."""

    def __init__(self, owned: Owned, endpoint: str, n: int, timeout: float) -> None:
        super().__init__(owned, "queueing-client", endpoint, n, timeout)

    def _run(self, peer: Peer) -> None:
        sock = self._ctx.socket(zmq.DEALER, socket_class=zmq.Socket)
        try:
            sock.rcvtimeo = _POLL_MS
            sock.sndhwm = sock.rcvhwm = 0
            sock.connect(self._endpoint)
            deadline = monotonic() + self._timeout
            request = [b"", b"x" * 16]  # the empty delimiter a REP expects
            start = perf_counter()
            for _ in range(self._n):
                sock.send_multipart(request)
            while self.completed < self._n:
                try:
                    sock.recv_multipart()
                except zmq.Again:
                    if peer.stopping or monotonic() > deadline:
                        break
                    continue
                self.completed += 1
                self.elapsed = perf_counter() - start
        finally:
            sock.close(linger=0)
            self.done.set()


class RawEchoServer:
    """A ROUTER blocking ``recv_multipart``/``send_multipart`` loop in a thread,
    serving ``n`` messages. ``endpoint`` is set before ``bound``.

    The echo of the raw baselines (``native``: a socket of the context's own
    class, so the frames floor's context makes its kind), or a plain far end.
    """

    def __init__(self, owned: Owned, n: int, transport: str, native: bool = False) -> None:
        self.bound = Signal()
        self.endpoint = ""
        self._ctx = owned.ctx
        self._n = n
        self._transport = transport
        self._native = native
        self.peer = owned.peer("raw-echo", self._run)

    def _run(self, peer: Peer) -> None:
        if self._native:
            sock = self._ctx.socket(zmq.ROUTER)
        else:
            sock = self._ctx.socket(zmq.ROUTER, socket_class=zmq.Socket)
        try:
            sock.rcvtimeo = sock.sndtimeo = _POLL_MS
            self.endpoint = bind_random(sock, self._transport)
            self.bound.set()
            recv, send = sock.recv_multipart, sock.send_multipart
            for _ in range(self._n):
                while True:
                    try:
                        msg = recv()
                        break
                    except zmq.Again:
                        if peer.stopping:
                            return
                send(msg)
        finally:
            sock.close(linger=0)
