"""A userspace network impairment: a TCP relay that delays, stalls and can reset.

Used by the cross-host test where the kernel has no ``sch_netem`` (``tc qdisc
add ... netem`` fails with "Specified qdisc kind is unknown"). It stands on
the path between a client and a service and, for every chunk (a TCP segment's
worth of bytes, `SEGMENT`) it forwards in either direction:

* delays it by ``delay`` (50 ms: the netem delay the issue asks for);
* for a ``loss`` share of chunks (5%), holds it ``penalty`` longer (200 ms, a
  TCP retransmission timeout's worth): TCP turns a lost segment into exactly
  that, a late but intact byte stream, so this is what 5% loss looks like to
  the application above TCP;
* keeps order: a held chunk holds back everything behind it, as a
  retransmission does (head-of-line blocking);
* optionally resets one connection (RST) after ``reset_after`` chunks, which
  a connection-level fault like a NAT timeout or a middlebox restart would
  do, forcing the zmq client to reconnect.

The delays are the impairment itself (a delay line), not a way of waiting for
something. Run it in the service's network namespace (see `peer`).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import time
from dataclasses import dataclass, field

SEGMENT = 1448
"""Bytes per forwarded chunk: a TCP segment on Ethernet, so "5% of chunks" is 5% of packets."""


@dataclass
class Impairment:
    seed: int = 0
    delay: float = 0.05
    loss: float = 0.05
    penalty: float = 0.2
    reset_after: int = 0
    chunks: int = 0
    held: int = 0
    resets: int = 0
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def hold(self) -> float:
        """How long the next chunk waits before it is forwarded."""
        self.chunks += 1
        if self._rng.random() < self.loss:
            self.held += 1
            return self.delay + self.penalty
        return self.delay

    def figures(self) -> dict[str, float]:
        """What the relay did: chunks forwarded, held as if lost, connections reset."""
        return {"chunks": self.chunks, "held": self.held, "resets": self.resets}

    def reset_due(self) -> bool:
        """True once, when the connection carrying the next chunk should be reset."""
        if self.reset_after and not self.resets and self.chunks >= self.reset_after:
            self.resets += 1
            return True
        return False


def _reset(writer: asyncio.StreamWriter) -> None:
    """Abort with an RST (SO_LINGER 0), as a middlebox dropping the connection would."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def _pump(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    impairment: Impairment,
    on_reset: asyncio.Event,
) -> None:
    """Forward reader -> writer through the delay line, in order."""
    line: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
    last = 0.0

    async def deliver() -> None:
        while True:
            release, chunk = await line.get()
            wait = release - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if not chunk:
                writer.write_eof() if writer.can_write_eof() else writer.close()
                return
            writer.write(chunk)
            await writer.drain()

    sender = asyncio.ensure_future(deliver())
    try:
        while True:
            data = await reader.read(65536)
            # One roll per segment, as a network loses segments, not reads.
            for start in range(0, max(len(data), 1), SEGMENT):
                if impairment.reset_due():
                    on_reset.set()
                    return
                last = max(time.monotonic() + impairment.hold(), last)
                line.put_nowait((last, data[start : start + SEGMENT]))
            if not data:
                await sender
                return
    except (ConnectionError, OSError):
        return
    finally:
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError, OSError):
            await sender


class Relay:
    """A listening relay; `close` ends it and every connection it carries."""

    def __init__(self, impairment: Impairment) -> None:
        self.impairment = impairment
        self.server: asyncio.base_events.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await self._relay(client_r, client_w)
        except asyncio.CancelledError:
            # close() ends us; asyncio's stream server (3.11) would log a traceback
            # for a connection task that ends cancelled.
            pass
        finally:
            self._connections.discard(task)

    async def _relay(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            target_r, target_w = await asyncio.open_connection(*self.target)
        except OSError:
            _reset(client_w)
            return
        reset = asyncio.Event()
        pumps = [
            asyncio.ensure_future(_pump(client_r, target_w, self.impairment, reset)),
            asyncio.ensure_future(_pump(target_r, client_w, self.impairment, reset)),
        ]
        resetting = asyncio.ensure_future(reset.wait())
        try:
            await asyncio.wait([*pumps, resetting], return_when=asyncio.FIRST_COMPLETED)
            if reset.is_set():
                _reset(client_w)
                _reset(target_w)
            else:
                await asyncio.wait(pumps)
        finally:
            for task in [*pumps, resetting]:
                task.cancel()
            await asyncio.gather(*pumps, resetting, return_exceptions=True)
            for writer in (client_w, target_w):
                writer.close()

    async def start(self, host: str, port: int, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.server = await asyncio.start_server(self.handle, host, port)

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        if self.server is not None:
            await self.server.wait_closed()


async def serve_relay(
    host: str, port: int, target_host: str, target_port: int, impairment: Impairment
) -> Relay:
    """Listen on host:port; relay each connection to target through ``impairment``."""
    relay = Relay(impairment)
    await relay.start(host, port, target_host, target_port)
    return relay
