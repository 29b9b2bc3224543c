"""IOLoopAuthenticator as a handler: concurrency, the ZAP endpoint, start and stop."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
import zmq
from tornado.ioloop import IOLoop

from tests.auth.helpers import FAILED_AUTH, AsyncProvider, Keys, Server, Setup, zap_domain
from tests.stream.helpers import Collector, wait_future
from tzmq import ZMQStream
from tzmq.auth import IOLoopAuthenticator


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
