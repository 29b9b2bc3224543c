"""Helpers for auth tests: ZAP request frames, the decision log, handshake events, and
servers, clients, keys and credentials providers for real handshakes on 127.0.0.1."""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import zmq
from tornado import gen
from tornado.ioloop import IOLoop

from tests.stream.helpers import Collector
from tzmq import ZMQStream
from tzmq.auth import Decision, IOLoopAuthenticator, create_certificates, load_certificate
from tzmq.stream import MonitorEvent, SocketMonitor

WAIT = timedelta(seconds=5)


def zap_request(
    mechanism: bytes = b"NULL",
    *credentials: bytes,
    domain: bytes = b"",
    address: bytes = b"127.0.0.1",
    identity: bytes = b"",
    request_id: bytes = b"1",
    version: bytes = b"1.0",
    envelope: tuple[bytes, ...] = (b"\x00route",),
) -> list[bytes]:
    """A ZAP request as the handler's ROUTER socket receives it."""
    return [
        *envelope,
        b"",
        version,
        request_id,
        domain,
        address,
        identity,
        mechanism,
        *credentials,
    ]


class DecisionLog(logging.Handler):
    """Every record of the ``tzmq.auth`` logger, and the decisions among them.

    ``await wait_for(predicate)`` resolves with the first decision (past or
    future) that matches, within the suite's bound: the event a test waits
    on instead of sleeping.
    """

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.decisions: list[Decision] = []
        self._waiters: list[tuple[Callable[[Decision], bool], asyncio.Future[Decision]]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        decision = getattr(record, "zap_decision", None)
        if decision is None:
            return
        self.decisions.append(decision)
        for predicate, future in list(self._waiters):
            if not future.done() and predicate(decision):
                future.set_result(decision)

    def text(self) -> str:
        """Every message as formatted, with tracebacks: what a log file would hold."""
        formatter = logging.Formatter()
        return "\n".join(formatter.format(r) for r in self.records)

    async def wait_for(self, predicate: Callable[[Decision], bool], since: int = 0) -> Decision:
        """The first decision from index ``since`` on that matches (bounded wait)."""
        for decision in self.decisions[since:]:
            if predicate(decision):
                return decision
        future: asyncio.Future[Decision] = asyncio.get_running_loop().create_future()
        self._waiters.append((predicate, future))
        try:
            return await gen.with_timeout(WAIT, future)
        except gen.TimeoutError:
            raise AssertionError(
                f"no matching ZAP decision within {WAIT.total_seconds()}s; saw {self.decisions}"
            ) from None


@contextmanager
def decision_log() -> Iterator[DecisionLog]:
    """Capture the ``tzmq.auth`` logger at DEBUG for the duration."""
    logger = logging.getLogger("tzmq.auth")
    handler = DecisionLog()
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


# A public certificate as pyzmq 27's zmq.auth.certs writes it, byte for byte
# apart from the date (metadata goes to the secret file only there).
PYZMQ_PUBLIC = """#   ****  Generated on 2024-05-01 12:00:00.000000 by pyzmq  ****
#   ZeroMQ CURVE Public Certificate
#   Exchange securely, or use a secure mechanism to verify the contents
#   of this file after exchange. Store public certificates in your home
#   directory, in the .curve subdirectory.

metadata
curve
    public-key = "{public}"
"""

PYZMQ_SECRET = """#   ****  Generated on 2024-05-01 12:00:00.000000 by pyzmq  ****
#   ZeroMQ CURVE **Secret** Certificate
#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.

metadata
    name = alice
curve
    public-key = "{public}"
    secret-key = "{secret}"
"""


def write_pyzmq_public(path: str, public: bytes) -> None:
    """Write a public certificate the way pyzmq does."""
    with open(path, "w", encoding="utf8") as f:
        f.write(PYZMQ_PUBLIC.format(public=public.decode("ascii")))


HANDSHAKE_EVENTS = (
    zmq.EVENT_HANDSHAKE_SUCCEEDED
    | zmq.EVENT_HANDSHAKE_FAILED_AUTH
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
)


class HandshakeMonitor:
    """A socket's handshake events (via `tzmq.stream.SocketMonitor`), counted and awaitable.

    Each event is ``(event, value)``; for ``EVENT_HANDSHAKE_FAILED_AUTH`` the
    value is the ZAP status code.
    """

    def __init__(self, socket: zmq.Socket[Any], io_loop: IOLoop) -> None:
        self._monitor = SocketMonitor(socket, HANDSHAKE_EVENTS, io_loop)
        self.events: list[tuple[int, int]] = []
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._monitor.on_event(self._on_event)

    def _on_event(self, event: MonitorEvent) -> None:
        self.events.append((int(event.event), event.value))
        for kind, count, future in list(self._waiters):
            if not future.done() and self.count(kind) >= count:
                future.set_result(None)

    def count(self, event: int) -> int:
        return sum(1 for kind, _ in self.events if kind == event)

    async def wait_for(self, event: int, count: int = 1) -> None:
        """Wait (bounded) until ``event`` has happened ``count`` times in all."""
        if self.count(event) >= count:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((event, count, future))
        try:
            await gen.with_timeout(WAIT, future)
        except gen.TimeoutError:
            raise AssertionError(
                f"event {event} x{count} not seen within {WAIT.total_seconds()}s: {self.events}"
            ) from None

    def close(self) -> None:
        self._monitor.close()


# -- real handshakes ------------------------------------------------------------------

Setup = Callable[[zmq.Socket[Any]], None]

FAILED_AUTH = zmq.EVENT_HANDSHAKE_FAILED_AUTH
SUCCEEDED = zmq.EVENT_HANDSHAKE_SUCCEEDED


def no_setup(socket: zmq.Socket[Any]) -> None:
    pass


class Server:
    """A PULL socket on 127.0.0.1 that collects frames (copy=False) and watches handshakes."""

    def __init__(self, ctx: zmq.Context[Any], io_loop: IOLoop, setup: Setup) -> None:
        self.ctx = ctx
        self.socket = ctx.socket(zmq.PULL)
        self.socket.linger = 0
        setup(self.socket)
        self.monitor = HandshakeMonitor(self.socket, io_loop)
        self.port = self.socket.bind_to_random_port("tcp://127.0.0.1")
        self.stream = ZMQStream(self.socket, io_loop)
        self.got = Collector()
        self.stream.on_recv(self.got, copy=False)

    def client(self, setup: Setup = no_setup) -> zmq.Socket[Any]:
        client = self.ctx.socket(zmq.PUSH)
        client.linger = 0
        setup(client)
        client.connect(f"tcp://127.0.0.1:{self.port}")
        return client

    def payloads(self) -> list[bytes]:
        return [frame.bytes for msg in self.got.messages for frame in msg]

    def close(self) -> None:
        self.monitor.close()
        self.stream.close(linger=0)


class Keys:
    """Certificates made with create_certificates: one server, clients on demand."""

    def __init__(self, root: Path) -> None:
        self.private = root / "private"
        self.allowed = root / "allowed"
        self.private.mkdir()
        self.allowed.mkdir()
        self.server = self.pair("server")

    def pair(self, name: str) -> tuple[bytes, bytes]:
        _, secret_file = create_certificates(self.private, name)
        public, secret = load_certificate(secret_file)
        assert secret is not None
        return public, secret

    def allow(self, name: str) -> None:
        shutil.copy(self.private / f"{name}.key", self.allowed / f"{name}.key")

    def server_setup(self, socket: zmq.Socket[Any]) -> None:
        socket.curve_server = True
        socket.curve_publickey, socket.curve_secretkey = self.server

    def client_setup(self, pair: tuple[bytes, bytes]) -> Setup:
        def setup(socket: zmq.Socket[Any]) -> None:
            socket.curve_serverkey = self.server[0]
            socket.curve_publickey, socket.curve_secretkey = pair

        return setup


def zap_domain(domain: bytes) -> Setup:
    def setup(socket: zmq.Socket[Any]) -> None:
        socket.zap_domain = domain

    return setup


def plain_server(domain: bytes = b"") -> Setup:
    def setup(socket: zmq.Socket[Any]) -> None:
        socket.plain_server = True
        if domain:
            socket.zap_domain = domain

    return setup


def plain_client(username: bytes, password: bytes) -> Setup:
    def setup(socket: zmq.Socket[Any]) -> None:
        socket.plain_username = username
        socket.plain_password = password

    return setup


async def assert_denied(server: Server, client: zmq.Socket[Any]) -> None:
    """The client's messages never arrive: its handshake is refused by ZAP.

    The wait ends on an event, not a sleep: the server's monitor reporting
    the handshake failed on authentication. libzmq gives a message to the
    application only after a handshake succeeded, and does not reconnect
    after an authentication failure, so nothing can follow.
    """
    failed = server.monitor.count(FAILED_AUTH)
    succeeded = server.monitor.count(SUCCEEDED)
    received = len(server.got.messages)
    for i in range(3):
        client.send(b"must not arrive %d" % i)
    await server.monitor.wait_for(FAILED_AUTH, failed + 1)
    assert server.monitor.count(SUCCEEDED) == succeeded
    assert len(server.got.messages) == received


class SyncProvider:
    """Allows the keys in ``allowed`` at once, and records what it was asked."""

    def __init__(self, allowed: set[bytes]) -> None:
        self.allowed = allowed
        self.asked: list[tuple[str, bytes]] = []

    def callback(self, domain: str, key: bytes) -> bool:
        self.asked.append((domain, key))
        return key in self.allowed


class AsyncProvider:
    """Decides after an await; holds the key named ``slow`` until ``release`` is set."""

    def __init__(self, allowed: set[bytes], slow: bytes = b"") -> None:
        self.allowed = allowed
        self.slow = slow
        self.slow_started = asyncio.Event()
        self.release = asyncio.Event()
        self.cancelled = asyncio.Event()

    async def callback(self, domain: str, key: bytes) -> bool:
        if key == self.slow:
            self.slow_started.set()
            try:
                await self.release.wait()
            except asyncio.CancelledError:
                self.cancelled.set()
                raise
        await asyncio.sleep(0)
        return key in self.allowed


class NamedAuthenticator(IOLoopAuthenticator):
    """Maps known raw keys to names; everyone else is "stranger"."""

    def __init__(self, names: dict[bytes, str], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.names = names

    def curve_user_id(self, client_public_key: bytes) -> str:
        return self.names.get(client_public_key, "stranger")
