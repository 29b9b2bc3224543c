"""Secure: the echo service behind CURVE, with the IOLoop authenticator deciding who gets in.

Certificates are made on the fly in a temporary directory with
`tzmq.auth.create_certificates` (secret key files are 0600 from creation):
one for the server, one for a known client and one for a stranger. Only
the known client's public key is copied into the directory of allowed keys
that `tzmq.auth.IOLoopAuthenticator` checks (``configure_curve``).

* The stranger connects with the server's correct public key but a key of
  its own that is not allowed: its handshake fails (the client sees
  ``HANDSHAKE_FAILED_AUTH`` on a `tzmq.stream.SocketMonitor`), the
  authenticator logs a 400, and the message it tried to send never reaches
  the service.
* The known client is served: every one of its N echoes comes back, and the
  service sees each message's ``User-Id`` (the client's public key, Z85),
  set by the authenticator.

The service is ZMQStream callback code (``on_recv(..., copy=False)`` to read
the ``User-Id`` frame property); the clients are coroutines.

Run it::

    python -m demos.secure --messages 1000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import zmq

import tzmq
from demos._result import DemoResult, run_on_new_loop
from demos.echo import check_replies, coroutine_client
from tzmq.auth import Decision, IOLoopAuthenticator, create_certificates, load_certificate
from tzmq.stream import SocketMonitor


class _Audit(logging.Handler):
    """Keeps the authenticator's decisions (each log record carries ``zap_decision``)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.decisions: list[Decision] = []

    def emit(self, record: logging.LogRecord) -> None:
        decision = vars(record).get("zap_decision")
        if isinstance(decision, Decision):
            self.decisions.append(decision)


def _curve_client(ctx: tzmq.Context, secret_file: Path, server_key: bytes) -> tzmq.Socket:
    public, secret = load_certificate(secret_file)
    sock: tzmq.Socket = ctx.socket(zmq.DEALER)
    sock.linger = 0
    sock.curve_publickey, sock.curve_secretkey = public, secret
    sock.curve_serverkey = server_key
    return sock


async def _handshake_failed(sock: tzmq.Socket, endpoint: str, timeout: float) -> bool:
    """Connect ``sock``; True once libzmq reports that authentication refused it."""
    refused = zmq.Event.HANDSHAKE_FAILED_AUTH
    with SocketMonitor(sock, refused | zmq.Event.HANDSHAKE_SUCCEEDED) as monitor:
        sock.connect(endpoint)
        await sock.send(b"let me in")  # queued; must never reach the service

        async def first_outcome() -> bool:
            async for event in monitor:
                return event.event == refused
            return False

        with contextlib.suppress(asyncio.TimeoutError):
            return await asyncio.wait_for(first_outcome(), timeout)
    return False


async def _demo(messages: int, timeout: float, keys: Path) -> tuple[int, list[str], str]:
    problems: list[str] = []
    certificates, allowed = keys / "certificates", keys / "allowed"
    certificates.mkdir()
    allowed.mkdir()
    _, server_secret_file = create_certificates(certificates, "server")
    known_public_file, known_secret_file = create_certificates(certificates, "known")
    _, stranger_secret_file = create_certificates(certificates, "stranger")
    shutil.copy(known_public_file, allowed)  # the only key the server will accept
    server_public, server_secret = load_certificate(server_secret_file)
    known_key = load_certificate(known_public_file)[0].decode()
    stranger_key = load_certificate(stranger_secret_file)[0].decode()

    audit = _Audit()
    audit_log = logging.getLogger("demos.secure.auth")
    audit_log.setLevel(logging.DEBUG)
    audit_log.propagate = False  # kept for the checks, not printed
    audit_log.addHandler(audit)

    server_ctx: zmq.Context[Any] = zmq.Context()
    client_ctx = tzmq.Context()
    auth = IOLoopAuthenticator(server_ctx, log=audit_log)
    auth.allow("127.0.0.1")
    auth.configure_curve(domain="*", location=allowed)
    auth.start()
    users: Counter[str] = Counter()
    server = tzmq.ZMQStream(server_ctx.socket(zmq.ROUTER))
    stranger = known = None
    try:
        server.curve_server = True
        server.curve_publickey, server.curve_secretkey = server_public, server_secret
        endpoint = f"tcp://127.0.0.1:{server.bind_to_random_port('tcp://127.0.0.1')}"

        def serve(frames: list[zmq.Frame]) -> None:
            users[str(frames[-1].get("User-Id"))] += 1
            server.send_multipart(frames)  # the echo

        server.on_recv(serve, copy=False)

        stranger = _curve_client(client_ctx, Path(stranger_secret_file), server_public)
        if not await _handshake_failed(stranger, endpoint, timeout):
            problems.append("the stranger's handshake did not fail")
        known = _curve_client(client_ctx, Path(known_secret_file), server_public)
        known.connect(endpoint)
        replies = await coroutine_client(known, messages, timeout)
        if problem := check_replies(replies, messages):
            problems.append(f"known client: {problem}")
        if users != {known_key: messages}:
            problems.append(f"the service saw {dict(users)}, not {messages} from the known key")
        if await stranger.poll(0):
            problems.append("the stranger received something")
        let_in = {d.peer for d in audit.decisions if d.allowed}
        kept_out = {d.peer for d in audit.decisions if d.status_code == "400"}
        if (let_in, kept_out) != ({known_key}, {stranger_key}):
            problems.append(f"the authenticator allowed {let_in} and denied {kept_out}")
    finally:
        for sock in (stranger, known):
            if sock is not None:
                sock.close()
        server.close(linger=0)
        auth.stop()
        client_ctx.term()
        server_ctx.term()
        audit_log.removeHandler(audit)
    denials = sum(d.status_code == "400" for d in audit.decisions)
    summary = f"known key: {users[known_key]} echoes; stranger refused ({denials} ZAP denials)"
    return sum(users.values()), problems, summary


def run_demo(messages: int = 1000, timeout: float = 10.0) -> DemoResult:
    """Echo behind CURVE: a stranger's key is refused, the known key gets every reply."""
    if messages < 1:
        raise ValueError(f"messages must be >= 1, not {messages}")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as keys:
        served, problems, summary = run_on_new_loop(
            lambda: _demo(messages, timeout, Path(keys)), timeout + 5
        )
    detail = "; ".join(problems) or summary
    return DemoResult("secure", served, time.perf_counter() - started, not problems, detail)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m demos.secure",
        description="The echo service behind CURVE: unknown keys refused, known keys served.",
    )
    parser.add_argument("--messages", type=int, default=1000, help="echoes for the known client")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds before giving up")
    args = parser.parse_args(argv)
    result = run_demo(args.messages, args.timeout)
    print(result)
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
