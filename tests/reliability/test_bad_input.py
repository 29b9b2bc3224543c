"""Bad input: each bad thing fails on its own, clearly, and the next good thing still works.

* Frames that do not decode (invalid UTF-8, invalid JSON, truncated pickles)
  fail their own ``recv_string``/``recv_json``/``recv_pyobj`` future with the
  decoder's exception; the good message behind each one arrives intact.
  Sends of things that are not frames fail at the call and send nothing.
* Messages over MAXMSGSIZE: libzmq drops the sender's connection (no part of
  the message arrives, not even its small first frame); the server's other
  peers are not disturbed, and the offender is heard again once reconnected.
* Malformed ZAP requests at a running IOLoopAuthenticator get the reply RFC 27
  prescribes (or none, when no reply can be addressed), and every good request
  behind them is answered; real PLAIN handshakes work before and after.
* Malformed monitor frames: ``on_event`` logs and skips each, delivering every
  good event in order; ``async for`` raises `MonitorMessageError`.
* Odd log records (non-str messages, unformattable arguments, huge, any
  unicode) through PUBHandler and LogWatcher: each arrives with its text or
  fails in the handler's ``handleError``; the watcher rejects nothing and the
  record behind each one arrives.

Hypothesis draws the bad inputs; each property keeps one loop and one set of
sockets for all its examples (a fresh pair per example would be most of the cost).
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import struct
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import zmq
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from tornado.ioloop import IOLoop

import tzmq
from tests.auth.helpers import SUCCEEDED, Server, assert_denied, plain_client, plain_server
from tests.log.helpers import Recorder, await_subscriptions, fresh_logger
from tzmq import ZMQStream, _jsonapi
from tzmq.auth import IOLoopAuthenticator
from tzmq.log import PUBHandler
from tzmq.log._wire import split_topic
from tzmq.stream import MonitorEvent, MonitorMessageError, SocketMonitor

from .conftest import AllRecords, Complaints
from .events import Events
from .figures import FIGURES, SOAK, scaled
from .traffic import Checker, messages

EXAMPLES = scaled(150, 2000)
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    derandomize=not SOAK,  # make test: the same examples every run; soak: fresh ones
)


@contextmanager
def running_loop() -> Iterator[Callable[[Callable[[], Awaitable[Any]]], Any]]:
    """A private IOLoop for a property's examples; yields ``run(coroutine_function)``."""
    loop = IOLoop(make_current=False)
    try:
        yield lambda fn: loop.run_sync(fn, timeout=10)
    finally:
        loop.close(all_fds=True)


async def _failure(future: Awaitable[Any]) -> BaseException | None:
    try:
        await asyncio.wait_for(future, 5)
    except TimeoutError:
        raise AssertionError("a receive never completed") from None
    except Exception as error:
        return error
    return None


# -- undecodable frames for the future socket's deserialising receives --------------

_BROKEN_UTF8 = [b"\xff", b"\xc0\x80", b"\xed\xa0\x80", b"\xe2\x82", b"\xf8\x88\x80\x80\x80"]

invalid_utf8 = st.builds(
    lambda head, bad, tail: head.encode() + bad + tail.encode(),
    st.text(max_size=20),
    st.sampled_from(_BROKEN_UTF8),
    st.text(max_size=20),
)


def _is_json(data: bytes) -> bool:
    try:
        _jsonapi.loads(data)
    except ValueError:
        return False
    return True


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=10,
)
invalid_json = st.one_of(
    invalid_utf8,
    st.text(max_size=40).map(str.encode),
    st.tuples(json_values, st.integers(0, 200)).map(
        lambda pair: _jsonapi.dumps(pair[0])[: pair[1]]  # a document cut short
    ),
).filter(lambda data: not _is_json(data))


def _truncated_pickle(obj: Any, protocol: int, cut: int) -> bytes:
    data = pickle.dumps(obj, protocol)
    return data[: cut % len(data)]


# Prefixes of pickles of plain data: undecodable, and unable to name a callable.
truncated_pickles = st.builds(
    _truncated_pickle,
    json_values | st.binary(max_size=40) | st.tuples(st.integers(), st.text(max_size=10)),
    st.integers(0, pickle.HIGHEST_PROTOCOL),
    st.integers(0, 10_000),
)

DECODERS: dict[str, tuple[Any, tuple[type[BaseException], ...], Any, Any]] = {
    # name: (strategy, the errors a bad frame may raise, good payload, its encoding)
    "recv_string": (invalid_utf8, (UnicodeDecodeError,), "good \u2603", str.encode),
    "recv_json": (invalid_json, (ValueError,), {"good": [1, 2.5, "\u2603"]}, _jsonapi.dumps),
    "recv_pyobj": (
        truncated_pickles,
        (pickle.UnpicklingError, EOFError),
        ("good", 1, b"\x00"),
        pickle.dumps,
    ),
}


@pytest.mark.parametrize("method", sorted(DECODERS))
def test_undecodable_frames_fail_their_own_receive(method: str) -> None:
    strategy, errors, good, encode = DECODERS[method]
    with running_loop() as run:
        ctx = tzmq.Context()
        pull = ctx.socket(zmq.PULL)
        push = ctx.socket(zmq.PUSH, socket_class=zmq.Socket)
        pull.linger = push.linger = 0
        pull.bind(f"inproc://undecodable-{method}")
        push.connect(f"inproc://undecodable-{method}")
        tried = 0

        @SETTINGS
        @given(bad=st.lists(strategy, min_size=1, max_size=4), receive_first=st.booleans())
        def check(bad: list[bytes], receive_first: bool) -> None:
            nonlocal tried

            async def exchange() -> None:
                receive = getattr(pull, method)
                futures: list[asyncio.Future[Any]] = []
                if receive_first:  # the calls wait, then the frames arrive
                    futures = [receive() for _ in range(2 * len(bad))]
                for frame in bad:
                    push.send(frame)
                    push.send(encode(good))
                if not receive_first:  # the frames wait, then the calls come
                    futures = [receive() for _ in range(2 * len(bad))]
                for bad_call, good_call in zip(futures[::2], futures[1::2], strict=True):
                    error = await _failure(bad_call)
                    assert isinstance(error, errors) and str(error), repr(error)
                    assert await asyncio.wait_for(good_call, 5) == good

            run(exchange)
            tried += len(bad)

        try:
            check()
        finally:
            pull.close()
            push.close()
            ctx.term()
    FIGURES.bad_input(f"undecodable frame for {method}", tried)


not_frames = st.one_of(
    st.text(min_size=1, max_size=10),
    st.integers(),
    st.floats(),
    st.none(),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.builds(object),
)
bad_messages = st.one_of(
    not_frames,  # not a list of frames at all
    st.just([]),  # no frames
    st.lists(st.binary(max_size=5), max_size=3)
    .flatmap(lambda good: st.tuples(st.just(good), not_frames, st.integers(0, len(good))))
    .map(lambda t: [*t[0][: t[2]], t[1], *t[0][t[2] :]]),  # a bad frame among good ones
)
unencodable = st.one_of(  # each raises TypeError or ValueError in simplejson
    st.builds(object),
    st.sets(st.integers(), min_size=1, max_size=3),
    invalid_utf8,  # simplejson takes bytes as UTF-8 text
    st.sampled_from([float("nan"), float("inf"), {(1, 2): "tuple key"}]),
    st.lists(st.builds(object), min_size=1, max_size=2).map(lambda v: {"nested": v}),
)


def test_sends_of_bad_input_fail_at_the_call_and_send_nothing() -> None:
    """On a stream and on a future socket, under hypothesis: a bad multipart message
    or an object JSON cannot encode raises at the call; the good message sent right
    after is the next one the peer receives."""
    with running_loop() as run:
        ctx = tzmq.Context()
        pull = ctx.socket(zmq.PULL, socket_class=zmq.Socket)
        pull.linger = 0
        pull.bind("inproc://bad-sends")
        senders: list[Any] = []

        async def start() -> None:
            for _ in range(2):
                push = ctx.socket(zmq.PUSH)
                push.linger = 0
                push.connect("inproc://bad-sends")
                senders.append(push)
            senders[0] = ZMQStream(senders[0])  # a stream on a future socket's shadow

        run(start)
        sequence = 0

        @SETTINGS
        @given(msg=bad_messages, obj=unencodable, via_stream=st.booleans())
        def check(msg: Any, obj: Any, via_stream: bool) -> None:
            nonlocal sequence
            sender = senders[0] if via_stream else senders[1]

            async def exchange() -> None:
                nonlocal sequence
                with pytest.raises((TypeError, ValueError)):
                    sender.send_multipart(msg)
                with pytest.raises((TypeError, ValueError)):
                    sender.send_json(obj)
                good = b"good %d" % sequence
                sequence += 1
                sent = sender.send(good)
                if sent is not None:
                    await asyncio.wait_for(sent, 5)
                assert pull.poll(5000)
                assert pull.recv_multipart() == [good]

            run(exchange)

        try:
            check()
        finally:
            senders[0].close()
            senders[1].close()
            pull.close()
            ctx.term()
    FIGURES.bad_input("send of a malformed message or unencodable object", 2 * sequence)


# -- MAXMSGSIZE ---------------------------------------------------------------------


LIMIT = 4096
OVERSIZE = [  # (frames of the message, which frame is too big)
    ([b"x" * (LIMIT + 1)], 0),
    ([b"head", b"y" * 65536], 1),
    ([b"head", b"z" * (1 << 20), b"tail"], 1),
    ([b"w" * (LIMIT * 2), b"tail"], 0),
    ([b"a", b"b", b"c" * (LIMIT + 1)], 2),
]


@pytest.mark.parametrize("server_kind", ["stream", "future"])
@pytest.mark.gen_test(timeout=20)
async def test_oversize_messages_drop_only_their_sender(
    io_loop: IOLoop, server_kind: str, complaints: Complaints
) -> None:
    ctx = tzmq.Context()
    router = ctx.socket(zmq.ROUTER)
    router.linger = 0
    router.maxmsgsize = LIMIT
    port = router.bind_to_random_port("tcp://127.0.0.1")
    events = Events(router)
    got: dict[bytes, list[list[bytes]]] = {b"offender": [], b"bystander": []}
    bystander_checker = Checker(2000)
    heard = asyncio.Event()

    def on_message(msg: list[bytes]) -> None:
        got[msg[0]].append(msg[1:])
        if msg[0] == b"bystander":
            bystander_checker(msg[1:])
        else:
            heard.set()

    serving: asyncio.Task[None] | None = None
    stream: ZMQStream | None = None
    if server_kind == "stream":
        stream = ZMQStream(router)
        stream.on_recv(on_message)
    else:

        async def serve() -> None:
            async for msg in router:
                on_message(msg)

        serving = asyncio.ensure_future(serve())
    peers = {}
    for name in got:
        peer = ctx.socket(zmq.DEALER, socket_class=zmq.Socket)
        peer.linger = 0
        peer.routing_id = name
        peer.reconnect_ivl = 10
        peer.connect(f"tcp://127.0.0.1:{port}")
        peers[name] = peer
    bystander = messages(2000, seed=9, max_frame=LIMIT - 64)
    try:
        await events.wait_for("HANDSHAKE_SUCCEEDED", 2)
        for attempt, (frames, _) in enumerate(OVERSIZE, 1):
            for _ in range(2000 // len(OVERSIZE) // 2):
                peers[b"bystander"].send_multipart(next(bystander))
            peers[b"offender"].send_multipart(frames)
            await events.wait_for("DISCONNECTED", attempt)
            FIGURES.bad_input("message over MAXMSGSIZE")
            for _ in range(2000 // len(OVERSIZE) // 2):
                peers[b"bystander"].send_multipart(next(bystander))
            # The offender reconnects and is heard again. A handshake can end
            # while the ROUTER still holds the old connection under the same
            # routing id; it then refuses the new one and what was sent on it
            # is lost, so the offender says it again until it is heard.
            await events.wait_for("HANDSHAKE_SUCCEEDED", 2 + attempt)
            heard.clear()
            for _ in range(10):
                peers[b"offender"].send(b"back %d" % attempt)
                try:
                    await asyncio.wait_for(heard.wait(), 0.5)
                    break
                except TimeoutError:
                    continue
            assert heard.is_set(), f"the offender was not heard again after attempt {attempt}"
        await bystander_checker.wait(stall=5)
    finally:
        if serving is not None:
            serving.cancel()
        events.monitor.close()
        for peer in peers.values():
            peer.close()
        if stream is not None:
            stream.close()
        router.close()
        ctx.term()
    bystander_checker.verify()  # all 2000, in order, intact: never disturbed
    # Of the offender only its small messages (each said until heard, so
    # perhaps twice): no frame of an oversize one, ever.
    said = [msg for i, msg in enumerate(got[b"offender"]) if got[b"offender"][i - 1 : i] != [msg]]
    assert said == [[b"back %d" % i] for i in range(1, len(OVERSIZE) + 1)]
    assert events.names.count("DISCONNECTED") >= len(OVERSIZE)
    complaints.assert_clean()
    FIGURES.messages("bystander beside MAXMSGSIZE offender", 2000, bystander_checker.count)


# -- malformed ZAP requests ---------------------------------------------------------

PASSWORD = "pw-never-logged-7f3a"

zap_fields = st.one_of(
    st.sampled_from([b"", b"1.0", b"2.0", b"NULL", b"PLAIN", b"CURVE", b"127.0.0.1"]),
    st.binary(max_size=40),
    st.binary(min_size=250, max_size=300),
)
zap_frames = st.lists(zap_fields, min_size=1, max_size=10)
# PLAIN requests, well or badly framed, with the password where a password goes: the
# second credential, after the username. Anywhere else its bytes are not a password
# (a username, an address, a mechanism), and those are logged on purpose.
plain_requests = st.builds(
    lambda envelope, version, fields, before, after: [
        *envelope,
        version,
        b"rid",
        *fields,
        b"PLAIN",
        *before,
        PASSWORD.encode(),
        *after,
    ],
    st.sampled_from([[b""], [b"route", b""], [b"no delimiter"]]),
    st.sampled_from([b"1.0", b"2.0", b""]),
    st.lists(st.sampled_from([b"", b"127.0.0.1", b"domain", b"x" * 300]), min_size=3, max_size=3),
    st.lists(st.sampled_from([b"admin", b"mallory", b""]), min_size=1, max_size=1),  # user
    st.lists(st.sampled_from([b"extra", b""]), max_size=1),
)


def _expected_reply(frames: list[bytes]) -> tuple[list[bytes], bytes] | None:
    """What a DEALER sending ``frames`` gets back first: (envelope + version + id, status
    class) by RFC 27's framing rules, or None when nothing can be addressed."""
    if b"" not in frames:
        return None
    delimiter = frames.index(b"")
    body = frames[delimiter + 1 :]
    if len(body) < 2:
        return None
    head = [*frames[:delimiter], b"", b"1.0", body[1]]
    if body[0] != b"1.0" or len(body) < 6:
        return head, b"500"
    return head, b""


def test_malformed_zap_requests_at_a_running_authenticator(all_records: AllRecords) -> None:
    """Hypothesis floods the ZAP endpoint; after each malformed request a good one must
    be answered. A PLAIN client with the right password gets in before and after; one
    with a wrong password never does. No password sent as one is ever logged."""
    with running_loop() as run:
        ctx = tzmq.Context()
        state: dict[str, Any] = {}

        async def start() -> None:
            auth = IOLoopAuthenticator(ctx)
            auth.configure_plain(domain="*", passwords={"admin": PASSWORD})
            auth.start()
            zap = ctx.socket(zmq.DEALER)
            zap.linger = 0
            zap.connect("inproc://zeromq.zap.01")
            server = Server(ctx, IOLoop.current(), plain_server())
            state.update(auth=auth, zap=zap, server=server)
            await _plain_handshakes(server, ctx, "before")

        run(start)
        zap = state["zap"]
        probes = 0

        @SETTINGS
        @given(frames=st.one_of(zap_frames, plain_requests))
        @example(frames=[b"no delimiter", b"at all"])
        @example(frames=[b"", b"1.0"])
        @example(frames=[b"", b"2.0", b"r", b"", b"127.0.0.1", b"", b"NULL"])
        @example(frames=[b"", b"1.0", b"r", b"", b"127.0.0.1", b"", b"PLAIN", PASSWORD.encode()])
        def check(frames: list[bytes]) -> None:
            nonlocal probes

            async def exchange() -> None:
                nonlocal probes
                probes += 1
                probe_id = b"probe-%d" % probes
                await zap.send_multipart(frames)
                await zap.send_multipart([b"", b"1.0", probe_id, b"", b"127.0.0.1", b"", b"NULL"])
                replies = []
                while True:
                    reply = await asyncio.wait_for(zap.recv_multipart(), 5)
                    replies.append(reply)
                    if reply[:3] == [b"", b"1.0", probe_id]:
                        break
                assert replies[-1][3:6] == [b"200", b"OK", b"anonymous"]
                expected = _expected_reply(frames)
                if expected is None:
                    assert len(replies) == 1, replies  # dropped, no reply
                    return
                assert len(replies) == 2, replies
                head, status = expected
                reply = replies[0]
                assert reply[: len(head)] == head and len(reply) == len(head) + 4
                assert reply[len(head)] in ((status,) if status else (b"200", b"400", b"500"))

            run(exchange)

        try:
            check()
            run(lambda: _plain_handshakes(state["server"], ctx, "after"))
        finally:
            state["server"].close()
            zap.close()
            state["auth"].stop()
            ctx.destroy(linger=0)  # and the handshake clients
    FIGURES.bad_input("malformed ZAP request at a running authenticator", probes)
    logged = all_records.text()
    assert PASSWORD not in logged
    assert "ZAP request dropped" in logged and "ZAP 200" in logged and "ZAP 400" in logged


async def _plain_handshakes(server: Server, ctx: zmq.Context[Any], tag: str) -> None:
    """The right password gets a message through; a wrong one is refused."""
    before = len(server.got.messages)
    succeeded = server.monitor.count(SUCCEEDED)
    good = server.client(plain_client(b"admin", PASSWORD.encode()))
    good.send(tag.encode())
    await server.got.wait_for(before + 1)
    assert server.payloads()[-1] == tag.encode()
    # The monitor's event can come after the message (on a Proactor loop it
    # often does): assert_denied counts successes from here on.
    await server.monitor.wait_for(SUCCEEDED, succeeded + 1)
    await assert_denied(server, server.client(plain_client(b"admin", b"wrong")))
    FIGURES.bad_input("PLAIN client with a wrong password")


# -- malformed monitor frames -------------------------------------------------------


class InjectingSocket(zmq.Socket[Any]):
    """A socket whose monitor endpoint is a PAIR of ours: we decide what it says.

    `SocketMonitor` asks the socket to monitor itself to an inproc address and
    connects a PAIR there; this socket binds its own PAIR at that address
    instead, so a test can write any frames a monitor could receive.
    """

    injector: zmq.Socket[Any] | None = None

    def monitor(self, addr: str | bytes, events: int = zmq.EVENT_ALL) -> None:
        injector = zmq.Socket(self.context, zmq.PAIR)
        injector.linger = 0
        injector.bind(addr if isinstance(addr, str) else addr.decode())
        object.__setattr__(self, "injector", injector)

    def disable_monitor(self) -> None:
        if self.injector is not None:
            self.injector.close()


# Events a 16-bit header can carry; MONITOR_STOPPED would end the monitoring.
_KNOWN_EVENTS = [
    int(e) for e in zmq.Event if e.name and e.name != "MONITOR_STOPPED" and int(e) < 0x10000
]


def _event_frames(event: int, value: int, endpoint: str) -> list[bytes]:
    return [struct.pack("=HI", event, value), endpoint.encode()]


good_events = st.tuples(
    st.sampled_from(_KNOWN_EVENTS), st.integers(0, 2**32 - 1), st.text(max_size=30)
)
malformed_monitor_messages = st.one_of(
    st.lists(st.binary(max_size=10), min_size=1, max_size=4).filter(lambda f: len(f) != 2),
    st.tuples(st.binary(max_size=12).filter(lambda b: len(b) != 6), st.binary(max_size=10)).map(
        list
    ),
    st.tuples(
        st.integers(0, 0xFFFF).filter(lambda e: e not in {int(v) for v in zmq.Event}),
        st.binary(max_size=10),
    ).map(lambda t: [struct.pack("=HI", t[0], 1), t[1]]),
    st.tuples(st.sampled_from(_KNOWN_EVENTS), invalid_utf8).map(
        lambda t: [struct.pack("=HI", t[0], 1), t[1]]
    ),
)


def test_malformed_monitor_frames_are_logged_and_skipped() -> None:
    """on_event mode: every good event arrives, in order; each malformed message is one
    warning, and monitoring goes on."""
    with running_loop() as run:
        ctx: zmq.Context[Any] = zmq.Context()
        target = ctx.socket(zmq.DEALER, socket_class=InjectingSocket)
        target.linger = 0
        delivered: list[tuple[int, int, str]] = []
        arrived = asyncio.Event()
        warnings: list[str] = []
        capture = logging.Handler(logging.WARNING)
        capture.emit = lambda record: warnings.append(record.getMessage())  # type: ignore[method-assign]
        logging.getLogger("tzmq.stream").addHandler(capture)
        state: dict[str, Any] = {}
        tried = 0

        async def start() -> None:
            monitor = SocketMonitor(target)

            def on_event(event: MonitorEvent) -> None:
                delivered.append((int(event.event), event.value, event.endpoint))
                arrived.set()

            monitor.on_event(on_event)
            state["monitor"] = monitor

        run(start)
        injector = target.injector
        assert injector is not None

        @SETTINGS
        @given(
            sequence=st.lists(
                st.one_of(
                    good_events.map(lambda e: ("good", e)),
                    malformed_monitor_messages.map(lambda m: ("bad", m)),
                ),
                max_size=8,
            )
        )
        def check(sequence: list[tuple[str, Any]]) -> None:
            nonlocal tried
            delivered.clear()
            warnings.clear()
            expected = [item for kind, item in sequence if kind == "good"]
            sentinel = (int(zmq.Event.CONNECTED), len(sequence), "sentinel")
            for kind, item in sequence:
                injector.send_multipart(_event_frames(*item) if kind == "good" else item)
            injector.send_multipart(_event_frames(*sentinel))

            async def until_sentinel() -> None:
                while not delivered or delivered[-1] != sentinel:
                    arrived.clear()
                    await asyncio.wait_for(arrived.wait(), 5)

            run(until_sentinel)
            assert delivered == [*expected, sentinel]
            bad = len(sequence) - len(expected)
            assert len(warnings) == bad, warnings
            assert all(w.startswith("skipped a malformed monitor message") for w in warnings)
            tried += bad

        try:
            check()
        finally:
            logging.getLogger("tzmq.stream").removeHandler(capture)
            state["monitor"].close()
            target.close()
            ctx.term()
    FIGURES.bad_input("malformed monitor message (callback mode)", tried)


@pytest.mark.gen_test
async def test_malformed_monitor_frame_ends_async_iteration_with_a_clear_error(
    io_loop: IOLoop,
) -> None:
    ctx: zmq.Context[Any] = zmq.Context()
    target = ctx.socket(zmq.DEALER, socket_class=InjectingSocket)
    target.linger = 0
    monitor = SocketMonitor(target)
    seen: list[str] = []

    async def iterate() -> None:
        async for event in monitor:
            seen.append(event.name)

    iterating = asyncio.ensure_future(iterate())
    try:
        assert target.injector is not None
        target.injector.send_multipart(_event_frames(int(zmq.Event.CONNECTED), 1, "tcp://a"))
        target.injector.send_multipart([b"\x01\x00", b"short header"])
        with pytest.raises(MonitorMessageError, match="6 bytes, not 2"):
            await asyncio.wait_for(iterating, 5)
        assert seen == ["CONNECTED"]
    finally:
        monitor.close()
        target.close()
        ctx.term()
    FIGURES.bad_input("malformed monitor message (async for)")


# -- odd log records ----------------------------------------------------------------


class _Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no text for you")


class _Topical:
    def __str__(self) -> str:
        return "weird.sub::text from __str__ %s"


ODD_OBJECTS = [b"bytes \xff", {"a": [1]}, [1, 2], None, 12.5, _Unprintable(), _Topical()]
odd_messages = st.one_of(
    st.text(st.characters(exclude_categories=()), max_size=60),  # surrogates too
    st.sampled_from(ODD_OBJECTS),
    st.sampled_from(["%d", "%s %s", "%(key)s", "100%", "%.2f", "a::b::c %s", "::%s"]),
)
odd_args = st.lists(
    st.one_of(st.integers(), st.text(max_size=5), st.sampled_from(ODD_OBJECTS)), max_size=2
).map(tuple)


class RecordingHandler(PUBHandler):
    """A PUBHandler that keeps what ``handleError`` was called with (instead of printing)."""

    errors: list[BaseException]

    def handleError(self, record: logging.LogRecord) -> None:
        error = sys.exc_info()[1]
        assert error is not None
        self.errors.append(error)


def _expected(msg: Any, args: tuple[Any, ...], structured: bool) -> str | type[BaseException]:
    """What the watcher should re-emit for ``msg % args``, or the error the handler meets."""
    record = logging.LogRecord("odd", logging.INFO, __file__, 1, msg, args or None, None)
    try:
        _, text = split_topic(record.msg)
        if text is not None:
            record.msg = text
        message = record.getMessage()
    except Exception as error:
        return type(error)
    if structured:
        return message
    # A plain body is UTF-8 with lone surrogates backslash-escaped.
    return message.encode("utf-8", "backslashreplace").decode("utf-8")


HUGE = "\u00e9" * (4 << 20)


def _short(got: list[str], expected: Any) -> str:
    """A failure message that does not print a 4 MiB record."""
    return f"got {[g[:80] for g in got]} ({[len(g) for g in got]}), expected {str(expected)[:80]}"


@pytest.mark.parametrize("structured", [False, True], ids=["plain", "structured"])
def test_odd_log_records_arrive_or_fail_in_the_handler(structured: bool) -> None:
    with running_loop() as run:
        ctx: zmq.Context[Any] = zmq.Context()
        xpub = ctx.socket(zmq.XPUB)
        xpub.linger = 0
        port = xpub.bind_to_random_port("tcp://127.0.0.1")
        received = Recorder()
        target = fresh_logger(f"tzmq.reliability.watched.{structured}", received)
        state: dict[str, Any] = {}

        async def start() -> None:
            from tzmq.log import LogWatcher

            state["watcher"] = LogWatcher(f"tcp://127.0.0.1:{port}", logger=target, context=ctx)

        run(start)
        await_subscriptions(xpub, [b""])
        handler = RecordingHandler(xpub, structured=structured)
        handler.errors = []
        source = fresh_logger(f"tzmq.reliability.odd.{structured}", handler)
        bystander = Recorder()
        unaffected = fresh_logger(f"tzmq.reliability.bystander.{structured}", bystander)
        sentinels = 0

        @SETTINGS
        @given(msg=odd_messages, args=odd_args)
        @example(msg=HUGE, args=())
        @example(msg="%d", args=("not a number",))
        @example(msg=_Unprintable(), args=())
        @example(msg="lone \ud800 surrogate", args=())
        def check(msg: Any, args: tuple[Any, ...]) -> None:
            nonlocal sentinels
            sentinels += 1
            before, errors_before = len(received.records), len(handler.errors)
            expected = _expected(msg, args, structured)
            source.info(msg, *args)
            source.info("sentinel %d", sentinels)
            unaffected.info("bystander %d", sentinels)

            sentinel = f"sentinel {sentinels}"

            async def until_sentinel() -> None:
                while not any(r.msg == sentinel for r in received.records[before:]):
                    received_now = len(received.records)
                    try:
                        await received.wait_for(received_now + 1)
                    except AssertionError:
                        raise AssertionError(f"{sentinel} never arrived") from None

            run(until_sentinel)
            between = [r.getMessage() for r in received.records[before:] if r.msg != sentinel]
            new_errors = [type(e) for e in handler.errors[errors_before:]]
            if isinstance(expected, str):
                assert between == [expected], _short(between, expected)
                assert new_errors == []
            else:
                assert between == [], _short(between, expected)
                assert new_errors == [expected]

        try:
            check()
        finally:
            state["watcher"].close()
            handler.close()
            xpub.close()
            ctx.term()
    assert state["watcher"].rejected == 0
    assert [r.getMessage() for r in bystander.records] == [
        f"bystander {i}" for i in range(1, sentinels + 1)
    ]
    FIGURES.bad_input(f"odd log record ({'structured' if structured else 'plain'})", sentinels)
