"""IOLoopAuthenticator: real handshakes between sockets over tcp://127.0.0.1."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import zmq
from tornado.ioloop import IOLoop
from zmq.utils import z85

from tests.auth.helpers import DecisionLog, HandshakeMonitor, decision_log
from tests.stream.helpers import Collector, wait_future
from tzmq import ZMQStream
from tzmq.auth import (
    CURVE_ALLOW_ANY,
    IOLoopAuthenticator,
    create_certificates,
    load_certificate,
)

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


@pytest.fixture
def log() -> Iterator[DecisionLog]:
    with decision_log() as handler:
        yield handler


@pytest.fixture
def make_server(ctx: zmq.Context[Any], io_loop: IOLoop) -> Iterator[Callable[[Setup], Server]]:
    servers: list[Server] = []

    def make(setup: Setup = no_setup) -> Server:
        server = Server(ctx, io_loop, setup)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


@pytest.fixture
def auth(ctx: zmq.Context[Any], io_loop: IOLoop) -> Iterator[IOLoopAuthenticator]:
    # No io_loop argument: start() takes the current loop, the test's.
    authenticator = IOLoopAuthenticator(ctx)
    authenticator.start()
    yield authenticator
    authenticator.stop()


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


@pytest.fixture
def keys(tmp_path: Path) -> Keys:
    return Keys(tmp_path)


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


# -- NULL -----------------------------------------------------------------------------


@pytest.mark.gen_test
async def test_null_allowed_until_configured(
    auth: IOLoopAuthenticator, make_server: Callable[[Setup], Server], log: DecisionLog
) -> None:
    server = make_server(zap_domain(b"global"))
    server.client().send(b"hello")
    await server.got.wait_for(1)
    assert server.payloads() == [b"hello"]
    decision = await log.wait_for(lambda d: d.mechanism == "NULL")
    assert (decision.status_code, decision.address, decision.domain) == (
        "200",
        "127.0.0.1",
        "global",
    )


@pytest.mark.gen_test
async def test_null_deny(
    auth: IOLoopAuthenticator, make_server: Callable[[Setup], Server], log: DecisionLog
) -> None:
    auth.deny("127.0.0.1")
    server = make_server(zap_domain(b"global"))
    await assert_denied(server, server.client())
    decision = await log.wait_for(lambda d: d.mechanism == "NULL")
    assert (decision.status_code, decision.status_text) == ("400", "Address denied")


@pytest.mark.gen_test
async def test_null_allow_list(
    auth: IOLoopAuthenticator, make_server: Callable[[Setup], Server], log: DecisionLog
) -> None:
    auth.allow("127.0.0.1")
    server = make_server(zap_domain(b"global"))
    server.client().send(b"allowed")
    await server.got.wait_for(1)
    # The same, with only another address on the list.
    auth.stop()
    strict = IOLoopAuthenticator(auth.context)
    strict.allow("10.20.30.40")
    strict.start()
    try:
        denied = make_server(zap_domain(b"global"))
        await assert_denied(denied, denied.client())
        decision = await log.wait_for(lambda d: d.status_text == "Address not allowed")
        assert decision.address == "127.0.0.1"
    finally:
        strict.stop()


# -- PLAIN ----------------------------------------------------------------------------


@pytest.mark.gen_test
async def test_plain_right_password(
    auth: IOLoopAuthenticator, make_server: Callable[[Setup], Server], log: DecisionLog
) -> None:
    auth.configure_plain("*", {"admin": "secret"})
    server = make_server(plain_server())
    server.client(plain_client(b"admin", b"secret")).send(b"in")
    await server.got.wait_for(1)
    (frame,) = server.got.messages[0]
    assert frame.get("User-Id") == "admin"
    assert "secret" not in log.text()


@pytest.mark.parametrize(
    ("username", "password", "server_domain", "reason"),
    [
        (b"admin", b"wrong", b"", "Invalid password"),
        (b"intruder", b"secret", b"", "Invalid username"),
        (b"admin", b"secret", b"elsewhere", "Invalid domain"),
    ],
)
@pytest.mark.gen_test
async def test_plain_denied(
    auth: IOLoopAuthenticator,
    make_server: Callable[[Setup], Server],
    log: DecisionLog,
    username: bytes,
    password: bytes,
    server_domain: bytes,
    reason: str,
) -> None:
    auth.configure_plain("*", {"admin": "secret"})
    server = make_server(plain_server(server_domain))
    await assert_denied(server, server.client(plain_client(username, password)))
    decision = await log.wait_for(lambda d: d.mechanism == "PLAIN")
    assert (decision.status_text, decision.peer) == (reason, username.decode())
    assert password.decode() not in log.text()


@pytest.mark.gen_test
async def test_plain_password_file_reloaded(
    auth: IOLoopAuthenticator,
    make_server: Callable[[Setup], Server],
    log: DecisionLog,
    tmp_path: Path,
) -> None:
    passwords = tmp_path / "passwords"
    passwords.write_text("admin=first\n")
    auth.configure_plain("*", passwords)
    server = make_server(plain_server())
    server.client(plain_client(b"admin", b"first")).send(b"one")
    await server.got.wait_for(1)
    passwords.write_text("admin=second\n")
    server.client(plain_client(b"admin", b"second")).send(b"two")
    await server.got.wait_for(2)
    assert server.payloads() == [b"one", b"two"]


# -- CURVE ----------------------------------------------------------------------------


@pytest.mark.gen_test
async def test_curve_denied_until_configured(
    auth: IOLoopAuthenticator, make_server: Callable[[Setup], Server], keys: Keys
) -> None:
    server = make_server(keys.server_setup)
    await assert_denied(server, server.client(keys.client_setup(keys.pair("client"))))


@pytest.mark.gen_test
async def test_curve_allow_any(
    auth: IOLoopAuthenticator, make_server: Callable[[Setup], Server], keys: Keys
) -> None:
    auth.configure_curve(domain="*", location=CURVE_ALLOW_ANY)
    server = make_server(keys.server_setup)
    client_key = keys.pair("client")
    server.client(keys.client_setup(client_key)).send(b"in")
    await server.got.wait_for(1)
    (frame,) = server.got.messages[0]
    assert frame.get("User-Id") == client_key[0].decode()


@pytest.mark.gen_test
async def test_curve_wrong_key_gets_nothing_through(
    auth: IOLoopAuthenticator,
    make_server: Callable[[Setup], Server],
    keys: Keys,
    log: DecisionLog,
) -> None:
    good, bad = keys.pair("good"), keys.pair("bad")
    keys.allow("good")
    auth.configure_curve("*", keys.allowed)
    server = make_server(keys.server_setup)
    for _ in range(3):
        await assert_denied(server, server.client(keys.client_setup(bad)))
    # The server was receiving all along: an allowed client gets through, alone.
    server.client(keys.client_setup(good)).send(b"good")
    await server.got.wait_for(1)
    assert server.payloads() == [b"good"]
    denials = [d for d in log.decisions if not d.allowed]
    assert len(denials) == 3
    assert {(d.peer, d.status_text) for d in denials} == {(bad[0].decode(), "Unknown key")}
    assert bad[1].decode() not in log.text()
    assert good[1].decode() not in log.text()


@pytest.mark.gen_test
async def test_curve_key_added_and_removed_at_run_time(
    auth: IOLoopAuthenticator,
    make_server: Callable[[Setup], Server],
    keys: Keys,
    log: DecisionLog,
) -> None:
    client_key = keys.pair("client")
    auth.configure_curve("*", keys.allowed)
    server = make_server(keys.server_setup)

    def about_client(allowed: bool) -> Callable[[Any], bool]:
        return lambda d: d.peer == client_key[0].decode() and d.allowed is allowed

    first = server.client(keys.client_setup(client_key))
    await log.wait_for(about_client(False))
    first.close(linger=0)

    keys.allow("client")
    server.client(keys.client_setup(client_key)).send(b"after add")
    await server.got.wait_for(1)

    os.unlink(keys.allowed / "client.key")
    mark = len(log.decisions)
    third = server.client(keys.client_setup(client_key))
    third.send(b"after remove")
    await log.wait_for(about_client(False), since=mark)
    await server.monitor.wait_for(FAILED_AUTH, server.monitor.count(FAILED_AUTH) + 1)
    assert server.payloads() == [b"after add"]


class SyncProvider:
    def __init__(self, allowed: set[bytes]) -> None:
        self.allowed = allowed
        self.asked: list[tuple[str, bytes]] = []

    def callback(self, domain: str, key: bytes) -> bool:
        self.asked.append((domain, key))
        return key in self.allowed


@pytest.mark.gen_test
async def test_curve_sync_callback(
    auth: IOLoopAuthenticator, make_server: Callable[[Setup], Server], keys: Keys
) -> None:
    good, bad = keys.pair("good"), keys.pair("bad")
    provider = SyncProvider({good[0]})
    auth.configure_curve_callback("*", provider)
    server = make_server(keys.server_setup)
    server.client(keys.client_setup(good)).send(b"good")
    await server.got.wait_for(1)
    await assert_denied(server, server.client(keys.client_setup(bad)))
    assert ("*", good[0]) in provider.asked and ("*", bad[0]) in provider.asked
    assert server.payloads() == [b"good"]


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


@pytest.mark.gen_test
async def test_curve_async_callback(
    auth: IOLoopAuthenticator, make_server: Callable[[Setup], Server], keys: Keys
) -> None:
    good, bad = keys.pair("good"), keys.pair("bad")
    auth.configure_curve_callback("*", AsyncProvider({good[0]}))
    server = make_server(keys.server_setup)
    server.client(keys.client_setup(good)).send(b"good")
    await server.got.wait_for(1)
    await assert_denied(server, server.client(keys.client_setup(bad)))


@pytest.mark.gen_test
async def test_slow_callback_does_not_hold_up_other_peers(
    auth: IOLoopAuthenticator, make_server: Callable[[Setup], Server], keys: Keys
) -> None:
    slow, fast = keys.pair("slow"), keys.pair("fast")
    provider = AsyncProvider({slow[0], fast[0]}, slow=slow[0])
    auth.configure_curve_callback("*", provider)
    server = make_server(keys.server_setup)
    server.client(keys.client_setup(slow)).send(b"slow")
    await wait_future(provider.slow_started.wait())
    # The slow peer's decision is pending; a REP-based handler would sit on
    # it and never read the next request.
    server.client(keys.client_setup(fast)).send(b"fast")
    await server.got.wait_for(1)
    assert server.payloads() == [b"fast"]
    provider.release.set()
    await server.got.wait_for(2)
    assert server.payloads() == [b"fast", b"slow"]


@pytest.mark.gen_test
async def test_async_callback_failure_denies_with_500(
    auth: IOLoopAuthenticator,
    make_server: Callable[[Setup], Server],
    keys: Keys,
    log: DecisionLog,
) -> None:
    class Failing:
        async def callback(self, domain: str, key: bytes) -> bool:
            raise RuntimeError("directory service down")

    auth.configure_curve_callback("*", Failing())
    server = make_server(keys.server_setup)
    await assert_denied(server, server.client(keys.client_setup(keys.pair("c"))))
    assert FAILED_AUTH in dict(server.monitor.events)
    assert (FAILED_AUTH, 500) in server.monitor.events
    decision = await log.wait_for(lambda d: d.status_code == "500")
    assert decision.status_text == "Internal error"
    assert "directory service down" in log.text()


class NamedAuthenticator(IOLoopAuthenticator):
    def __init__(self, names: dict[bytes, str], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.names = names

    def curve_user_id(self, client_public_key: bytes) -> str:
        return self.names.get(client_public_key, "stranger")


@pytest.mark.gen_test
async def test_custom_curve_user_id_is_the_user_id_property(
    ctx: zmq.Context[Any],
    io_loop: IOLoop,
    make_server: Callable[[Setup], Server],
    keys: Keys,
) -> None:
    alice = keys.pair("alice")
    auth = NamedAuthenticator({z85.decode(alice[0]): "alice"}, ctx, io_loop=io_loop)
    auth.configure_curve("*", CURVE_ALLOW_ANY)
    auth.start()
    try:
        server = make_server(keys.server_setup)
        server.client(keys.client_setup(alice)).send_multipart([b"a", b"b"])
        server.client(keys.client_setup(keys.pair("bob"))).send(b"c")
        await server.got.wait_for(2)
        users = {frame.bytes: frame.get("User-Id") for m in server.got.messages for frame in m}
        assert users == {b"a": "alice", b"b": "alice", b"c": "stranger"}
    finally:
        auth.stop()


# -- the handler itself ---------------------------------------------------------------


@pytest.mark.gen_test
async def test_zap_endpoint_speaks_rfc27(
    auth: IOLoopAuthenticator, ctx: zmq.Context[Any], io_loop: IOLoop
) -> None:
    """A DEALER talking to the handler directly: replies per request, garbage dropped."""
    dealer = ctx.socket(zmq.DEALER)
    dealer.linger = 0
    dealer.connect("inproc://zeromq.zap.01")
    stream = ZMQStream(dealer, io_loop)
    got = Collector()
    stream.on_recv(got)
    stream.send_multipart([b"no delimiter", b"at all"])
    stream.send_multipart([b"", b"1.0"])
    stream.send_multipart([b"", b"2.0", b"r1", b"", b"127.0.0.1", b"", b"NULL"])
    stream.send_multipart([b"", b"1.0", b"r2", b"", b"127.0.0.1", b"", b"NULL"])
    stream.send_multipart([b"", b"1.0", b"r3", b"", b"127.0.0.1", b"", b"PLAIN", b"u"])
    replies = await got.wait_for(3)
    assert replies == [
        [b"", b"1.0", b"r1", b"500", b"Unsupported ZAP version", b"", b""],
        [b"", b"1.0", b"r2", b"200", b"OK", b"anonymous", b""],
        [b"", b"1.0", b"r3", b"400", b"Invalid credentials", b"", b""],
    ]
    stream.close(linger=0)


@pytest.mark.gen_test
async def test_start_and_stop_are_idempotent_and_quiet(
    ctx: zmq.Context[Any],
    io_loop: IOLoop,
    make_server: Callable[[Setup], Server],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    auth = IOLoopAuthenticator(ctx, io_loop=io_loop)
    auth.stop()
    auth.start()
    socket = auth.zap_socket
    assert socket is not None and type(socket) is zmq.Socket
    auth.start()
    assert auth.zap_socket is socket
    assert "started" in repr(auth)
    auth.stop()
    assert socket.closed and auth.zap_socket is None
    auth.stop()
    assert "stopped" in repr(auth)
    # And again, on the same context: the endpoint was released.
    auth.start()
    server = make_server(zap_domain(b"global"))
    server.client().send(b"after restart")
    await server.got.wait_for(1)
    auth.stop()
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


@pytest.mark.gen_test
async def test_stop_with_a_decision_pending(
    ctx: zmq.Context[Any],
    io_loop: IOLoop,
    make_server: Callable[[Setup], Server],
    keys: Keys,
    caplog: pytest.LogCaptureFixture,
) -> None:
    slow = keys.pair("slow")
    provider = AsyncProvider({slow[0]}, slow=slow[0])
    auth = IOLoopAuthenticator(ctx, io_loop=io_loop)
    auth.configure_curve_callback("*", provider)
    auth.start()
    server = make_server(keys.server_setup)
    server.client(keys.client_setup(slow)).send(b"never")
    await wait_future(provider.slow_started.wait())
    auth.stop()
    # The pending client is denied at once, not left to the handshake timeout.
    await server.monitor.wait_for(FAILED_AUTH)
    assert (FAILED_AUTH, 500) in server.monitor.events
    await wait_future(provider.cancelled.wait())
    assert server.got.messages == []
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage().split(":")[0] for r in warnings] == ["ZAP 500 Authenticator stopped"]
    assert all(r.exc_info is None for r in caplog.records)


def test_second_handler_in_a_context_fails_at_start(ctx: zmq.Context[Any], io_loop: IOLoop) -> None:
    first = IOLoopAuthenticator(ctx, io_loop=io_loop)
    first.start()
    second = IOLoopAuthenticator(ctx, io_loop=io_loop)
    with pytest.raises(zmq.ZMQError) as raised:
        second.start()
    assert raised.value.errno == zmq.EADDRINUSE
    assert second.zap_socket is None
    first.stop()


def test_context_subclass_gets_a_plain_zap_socket(io_loop: IOLoop) -> None:
    class OddSocket(zmq.Socket):  # type: ignore[type-arg]
        pass

    class OddContext(zmq.Context):  # type: ignore[type-arg]
        _socket_class = OddSocket

    context = OddContext()
    try:
        auth = IOLoopAuthenticator(context, io_loop=io_loop)
        auth.start()
        assert type(auth.zap_socket) is zmq.Socket
        auth.stop()
    finally:
        context.term()


def test_default_context_is_the_global_instance(
    ctx: zmq.Context[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(zmq.Context, "instance", classmethod(lambda cls: ctx))
    assert IOLoopAuthenticator().context is ctx


def test_bad_arguments_fail_at_the_call(ctx: zmq.Context[Any]) -> None:
    with pytest.raises(TypeError):
        IOLoopAuthenticator("not a context")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        IOLoopAuthenticator(ctx, io_loop=object())  # type: ignore[arg-type]
    with pytest.raises(LookupError):
        IOLoopAuthenticator(ctx, encoding="nope")


def test_terminated_context_then_stop_is_quiet(
    io_loop: IOLoop, caplog: pytest.LogCaptureFixture
) -> None:
    context = zmq.Context()
    auth = IOLoopAuthenticator(context, io_loop=io_loop)
    auth.start()
    assert auth.zap_socket is not None
    auth.zap_socket.close()
    context.term()
    auth.stop()
    auth.stop()
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
