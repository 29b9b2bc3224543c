"""Shared machinery of the benchmarks: settings, samples, owned sockets, peer threads.

Owns the rules every measurement follows: sockets bind 127.0.0.1 on a random
port or a fresh inproc:// name, every wait is bounded, and a measurement
closes each socket it made and terminates its context before it returns (an
`Owned` does that in ``close()``). Nothing here decides what is measured.

Thread-safety: a peer thread (`Peer`) makes, uses and closes its own sockets;
it talks to the measuring thread only through `Signal`s and plain attributes
that the measuring thread reads after the peer signalled or stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import zmq

__all__ = [
    "MESSAGES",
    "QUICK",
    "BenchError",
    "Owned",
    "Peer",
    "Sample",
    "Settings",
    "Signal",
    "bind_random",
    "bounded",
    "milliseconds",
    "run_async",
    "run_sync",
    "send_loop",
    "settle",
    "wait_for",
]


MESSAGES: dict[str, list[bytes]] = {
    "16B": [b"x" * 16],
    "3x200B": [b"a" * 200, b"b" * 200, b"c" * 200],
}
"""The messages sent: one 16 B frame, or three frames of 200 B."""


def send_loop(sock: Any, msg: list[bytes], n: int) -> None:
    """Send ``msg`` ``n`` times: ``send`` for one frame, ``send_multipart`` for more."""
    item: Any = msg[0] if len(msg) == 1 else msg
    send = sock.send if len(msg) == 1 else sock.send_multipart
    for _ in range(n):
        send(item)


class BenchError(RuntimeError):
    """A measurement could not be made (a peer hung, a socket refused...)."""


@dataclass(frozen=True)
class Settings:
    """Sizes and bounds of one run."""

    backlog: int = 30_000
    live: int = 30_000
    echo: int = 5_000
    echo_warmup: int = 200
    send: int = 30_000
    queued: int = 200_000
    rounds: int = 5
    timeout: float = 20.0
    """Bound on any single wait; a measurement that hits it reports what it got."""
    drain_cap: float = 3.0
    """Time allowed to drain the queued sends (pyzmq's future socket needs minutes)."""


QUICK = Settings(
    backlog=3_000,
    live=3_000,
    echo=500,
    echo_warmup=50,
    send=3_000,
    queued=20_000,
    rounds=1,
    timeout=10.0,
    drain_cap=1.0,
)


@dataclass(frozen=True)
class Sample:
    """One measurement: ``value`` in the case's unit, and how much of it was done."""

    value: float
    done: int
    total: int
    seconds: float

    @classmethod
    def rate(cls, done: int, total: int, seconds: float) -> Sample:
        return cls(done / seconds if seconds > 0 else 0.0, done, total, seconds)

    @classmethod
    def round_trips(cls, done: int, total: int, seconds: float) -> Sample:
        """Microseconds per round trip over the ``done`` that completed (at least one)."""
        if not done:
            raise BenchError("no round trip completed")
        return cls(seconds / done * 1e6, done, total, seconds)

    @property
    def partial(self) -> bool:
        return self.done < self.total


def milliseconds(seconds: float) -> int:
    return max(1, int(seconds * 1000))


def bind_random(sock: zmq.Socket[Any], transport: str) -> str:
    """Bind ``sock`` to a random tcp port on 127.0.0.1 or a fresh inproc name."""
    if transport == "inproc":
        address = f"inproc://bench-{uuid.uuid4().hex}"
        sock.bind(address)
        return address
    if transport != "tcp":
        raise ValueError(f"unknown transport {transport!r}")
    port = sock.bind_to_random_port("tcp://127.0.0.1")
    return f"tcp://127.0.0.1:{port}"


class Signal:
    """A one-shot flag set by one thread, awaited by a thread or a coroutine."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []

    def is_set(self) -> bool:
        return self._event.is_set()

    def set(self) -> None:
        with self._lock:
            self._event.set()
            waiters, self._waiters = self._waiters, []
        for loop, future in waiters:
            # The loop may be gone already if its measurement timed out.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_resolve, future)

    def wait(self, timeout: float) -> bool:
        return self._event.wait(timeout)

    async def wait_async(self, timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._lock:
            if self._event.is_set():
                return True
            self._waiters.append((loop, future))
        return await wait_for(future, timeout)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def wait_for(awaitable: Awaitable[Any], timeout: float) -> bool:
    """Wait up to ``timeout`` seconds; True if it finished (its outcome is not consumed)."""
    future = asyncio.ensure_future(awaitable)
    done, _ = await asyncio.wait({future}, timeout=timeout)
    return bool(done)


async def settle(task: asyncio.Future[Any], timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for ``task``: re-raise its error if it
    failed, cancel it if it is still running; True if it finished."""
    if await wait_for(task, timeout):
        task.result()
        return True
    task.cancel()
    return False


async def bounded(awaitable: Awaitable[Any], timeout: float, what: str) -> Any:
    """Await ``awaitable`` for up to ``timeout`` seconds; cancel it and raise after that."""
    future = asyncio.ensure_future(awaitable)
    done, _ = await asyncio.wait({future}, timeout=timeout)
    if not done:
        future.cancel()
        raise BenchError(f"{what} did not finish within {timeout:.0f} s")
    return future.result()


class Peer(threading.Thread):
    """A helper thread running ``body()``; `finish` joins it and re-raises its error.

    Bodies poll ``self.stopping`` at least every ~100 ms (sockets there use
    short timeouts), so `finish` is bounded.
    """

    def __init__(self, name: str, body: Callable[[Peer], None]) -> None:
        super().__init__(name=f"bench-{name}", daemon=True)
        self._body = body
        self.error: BaseException | None = None
        self.stopping = False

    def run(self) -> None:
        try:
            self._body(self)
        except BaseException as error:
            self.error = error

    def finish(self, timeout: float) -> None:
        self.stopping = True
        self.join(timeout)
        if self.is_alive():
            raise BenchError(f"{self.name} did not stop within {timeout:.0f} s")
        if self.error is not None:
            raise self.error


class Owned:
    """The context of one measurement, with everything made from it.

    ``close()`` sets its signals, stops the peer threads, closes the streams and sockets with
    linger 0, then terminates the context, each step bounded: if a peer will
    not stop or ``term()`` does not return (a socket left open somewhere), the
    context is abandoned and `BenchError` raised, so one broken
    implementation cannot hang the run.
    """

    def __init__(self, context: zmq.Context[Any]) -> None:
        self.ctx = context
        self._closables: list[Any] = []
        self._peers: list[Peer] = []
        self._signals: list[Signal] = []

    def plain(self, kind: int) -> zmq.Socket[Any]:
        """A plain blocking socket owned by the measuring thread."""
        sock: zmq.Socket[Any] = self.adopt(self.ctx.socket(kind, socket_class=zmq.Socket))
        return sock

    def native(self, kind: int) -> Any:
        """A socket of the context's own class (a future socket for a future Context)."""
        return self.adopt(self.ctx.socket(kind))

    def adopt(self, closable: Any) -> Any:
        """Close ``closable`` (a socket or stream) with linger 0 in `close`."""
        self._closables.append(closable)
        return closable

    def signal(self) -> Signal:
        """A fresh `Signal` that `close` sets before it stops the peers, so a
        peer may wait for it in one bounded wait instead of polling."""
        signal = Signal()
        self._signals.append(signal)
        return signal

    def peer(self, name: str, body: Callable[[Peer], None]) -> Peer:
        """Start ``body(peer)`` in a thread; `close` stops and joins it."""
        thread = Peer(name, body)
        self._peers.append(thread)
        thread.start()
        return thread

    def close(self, timeout: float) -> None:
        errors: list[BaseException] = []
        for signal in self._signals:
            signal.set()
        for thread in self._peers:
            try:
                thread.finish(timeout)
            except BaseException as error:
                errors.append(error)
        for closable in reversed(self._closables):
            try:
                closable.close(linger=0)
            except Exception as error:
                errors.append(error)
        if not any(thread.is_alive() for thread in self._peers):
            terminator = threading.Thread(target=self.ctx.term, name="bench-term", daemon=True)
            terminator.start()
            terminator.join(timeout)
            if terminator.is_alive():
                errors.append(BenchError("the context did not terminate: a socket left open?"))
        if errors:
            raise errors[0]


def run_async(
    context: Callable[[], zmq.Context[Any]],
    body: Callable[[Owned], Awaitable[Sample]],
    timeout: float,
) -> Sample:
    """Run ``body`` on a fresh event loop (a Tornado IOLoop wraps it on demand)."""

    async def main() -> Sample:
        owned = Owned(context())
        try:
            return await body(owned)
        finally:
            owned.close(timeout)

    return asyncio.run(main())


def run_sync(
    context: Callable[[], zmq.Context[Any]], body: Callable[[Owned], Sample], timeout: float
) -> Sample:
    """Run ``body`` in this thread with no event loop (the raw baselines)."""
    owned = Owned(context())
    try:
        return body(owned)
    finally:
        owned.close(timeout)
