"""Real handshakes over tcp://127.0.0.1 for NULL, PLAIN and CURVE through IOLoopAuthenticator."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import zmq
from tornado.ioloop import IOLoop
from zmq.utils import z85

from tests.auth.helpers import (
    FAILED_AUTH,
    AsyncProvider,
    DecisionLog,
    Keys,
    NamedAuthenticator,
    Server,
    Setup,
    SyncProvider,
    assert_denied,
    plain_client,
    plain_server,
    zap_domain,
)
from tzmq.auth import CURVE_ALLOW_ANY, IOLoopAuthenticator


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
    await assert_denied(server, server.client(keys.client_setup(client_key)))
    await log.wait_for(about_client(False), since=mark)
    assert server.payloads() == [b"after add"]


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
    assert (FAILED_AUTH, 500) in server.monitor.events
    decision = await log.wait_for(lambda d: d.status_code == "500")
    assert decision.status_text == "Internal error"
    assert "directory service down" in log.text()


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
