"""Security: refused clients get nothing through, decisions are logged without secrets,
and pickling is documented as trusted-peers-only with the safe alternative shown.

A CURVE server and a PLAIN server (ROUTER streams, one authenticator) take a
steady stream of checked messages from a legitimate client each, while
attackers try: an unknown CURVE key, the wrong server key, a NULL client at a
CURVE server, a wrong PLAIN password, an unknown PLAIN user. The test waits
for each server's monitor to report the failed handshakes, keeps the good
traffic flowing after, and then asserts that no attacker's message ever
arrived and that every good message did. Everything logged meanwhile, at
every level, is scanned for the passwords and the Z85 secret keys.
"""

from __future__ import annotations

import contextlib
import inspect
import re
from pathlib import Path
from typing import Any

import pytest
import zmq
from tornado.ioloop import IOLoop

import tzmq
from tests.auth.helpers import Keys, plain_client, plain_server
from tzmq import ZMQStream
from tzmq.auth import IOLoopAuthenticator

from .conftest import AllRecords
from .events import Events
from .figures import FIGURES, scaled
from .traffic import Checker, messages

README = Path(__file__).resolve().parents[2] / "README.md"
PASSWORD = "correct-horse-9c1e"
WRONG_PASSWORD = "wrong-horse-77b2"


class Guarded:
    """A ROUTER server behind a security mechanism, with its handshake events."""

    def __init__(self, ctx: zmq.Context[Any], setup: Any, expected: int) -> None:
        self.socket = ctx.socket(zmq.ROUTER)
        self.socket.linger = 0
        setup(self.socket)
        self.events = Events(self.socket)
        self.port = self.socket.bind_to_random_port("tcp://127.0.0.1")
        self.stream = ZMQStream(self.socket)
        self.checker = Checker(expected)
        self.strangers: list[list[bytes]] = []
        self.stream.on_recv(self._on_message)

    def _on_message(self, msg: list[bytes]) -> None:
        if msg[0] == b"legit":
            self.checker(msg[1:])
        else:
            self.strangers.append(msg)

    def client(self, ctx: zmq.Context[Any], name: bytes, setup: Any) -> zmq.Socket[Any]:
        sock = ctx.socket(zmq.DEALER)
        sock.linger = 0
        sock.routing_id = name
        setup(sock)
        sock.connect(f"tcp://127.0.0.1:{self.port}")
        return sock

    async def wait_for_refusals(self, kinds: list[str]) -> None:
        """Wait until each expected kind of failed handshake has been seen (at least)."""

        def seen() -> bool:
            return all(self.events.count(kind) >= kinds.count(kind) for kind in kinds)

        await self.events.until(seen, f"failed handshakes {kinds}")

    def close(self) -> None:
        self.events.close()
        self.stream.close()


@pytest.mark.gen_test(timeout=scaled(30, 300))
async def test_refused_clients_get_nothing_through_and_secrets_stay_out_of_logs(
    io_loop: IOLoop, tmp_path: Path, all_records: AllRecords
) -> None:
    count = scaled(1000, 20000)
    ctx: zmq.Context[Any] = zmq.Context()
    keys = Keys(tmp_path)
    server_key = keys.server
    client_key, stranger_key, fake_server_key = (
        keys.pair(n) for n in ("client", "stranger", "fake-server")
    )
    keys.allow("client")
    auth = IOLoopAuthenticator(ctx)
    auth.allow("127.0.0.1")
    auth.configure_curve(domain="*", location=str(keys.allowed))
    auth.configure_plain(domain="*", passwords={"admin": PASSWORD})
    auth.start()

    def wrong_server(sock: zmq.Socket[Any]) -> None:
        """The client's own key, but another server's public key."""
        sock.curve_serverkey = fake_server_key[0]
        sock.curve_publickey, sock.curve_secretkey = client_key

    curve = Guarded(ctx, keys.server_setup, count)
    plain = Guarded(ctx, plain_server(), count)
    auth_failed, protocol_failed = "HANDSHAKE_FAILED_AUTH", "HANDSHAKE_FAILED_PROTOCOL"
    attackers = {  # server: [(attacker, the refusal its server's monitor reports)]
        curve: [
            (
                curve.client(ctx, b"unknown-key", keys.client_setup(stranger_key)),
                auth_failed,  # ZAP says 400
            ),
            (
                curve.client(ctx, b"wrong-server", wrong_server),
                protocol_failed,  # cannot even decrypt the handshake
            ),
            (curve.client(ctx, b"null-client", lambda sock: None), protocol_failed),
        ],
        plain: [
            (
                plain.client(
                    ctx, b"wrong-password", plain_client(b"admin", WRONG_PASSWORD.encode())
                ),
                auth_failed,
            ),
            (
                plain.client(ctx, b"unknown-user", plain_client(b"mallory", PASSWORD.encode())),
                auth_failed,
            ),
        ],
    }
    legit = {  # streams: a send never blocks the loop the servers run on
        curve: ZMQStream(curve.client(ctx, b"legit", keys.client_setup(client_key))),
        plain: ZMQStream(plain.client(ctx, b"legit", plain_client(b"admin", PASSWORD.encode()))),
    }
    try:
        for server, refused in attackers.items():
            for sock, _ in refused:
                for i in range(3):
                    # NOBLOCK: a refused connection leaves the socket no pipe to queue
                    # in, and a blocking send would stall the loop the servers run on.
                    with contextlib.suppress(zmq.Again):
                        sock.send_multipart([b"must not arrive %d" % i], zmq.NOBLOCK)
            traffic = messages(count, seed=21, max_frame=1024)
            for msg in (next(traffic) for _ in range(count // 2)):
                legit[server].send_multipart(msg)
            # The event to wait on: each attacker's handshake refused at the server.
            await server.wait_for_refusals([kind for _, kind in refused])
            for msg in traffic:  # the server keeps serving the legitimate client
                legit[server].send_multipart(msg)
            await server.checker.wait(stall=5)
    finally:
        for stream in legit.values():
            stream.close()
        for server in (curve, plain):
            server.close()
        auth.stop()
        ctx.destroy(linger=0)
    for server in (curve, plain):
        server.checker.verify()
        assert server.strangers == []  # not one message from a refused client
        assert server.events.count("HANDSHAKE_SUCCEEDED") == 1  # the legitimate client only
        FIGURES.messages("legitimate client beside attackers", count, server.checker.count)
    FIGURES.bad_input("refused client (wrong CURVE key/server key/mechanism, PLAIN)", 5)
    # Decisions were logged, both ways, and no secret with them.
    decisions = [r for r in all_records.records if hasattr(r, "zap_decision")]
    assert {r.zap_decision.status_code for r in decisions} == {"200", "400"}
    text = all_records.text()
    secrets = [PASSWORD, WRONG_PASSWORD]
    secrets += [k[1].decode() for k in (server_key, client_key, stranger_key, fake_server_key)]
    leaked = [secret for secret in secrets if secret in text]
    assert not leaked, leaked
    assert "mallory" in text and client_key[0].decode() in text  # who asked is logged


def test_pickling_is_documented_as_trusted_peers_only() -> None:
    for method in (tzmq.Socket.recv_pyobj, tzmq.Socket.send_pyobj, ZMQStream.send_pyobj):
        doc = inspect.getdoc(method) or ""
        assert re.search(r"runs code", doc) and re.search(r"trusted peers", doc), method


def test_readme_shows_the_safe_alternative_to_pickling() -> None:
    text = README.read_text(encoding="utf-8")
    paragraphs = [p for p in re.split(r"\n\s*\n", text) if "pyobj" in p]
    assert paragraphs, "README does not mention send_pyobj/recv_pyobj"
    warned = [p for p in paragraphs if "trusted" in p and "send_json" in p]
    assert warned, paragraphs
