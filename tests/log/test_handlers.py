"""PUBHandler: pyzmq's topics and bodies, and the places where tzmq does better."""

from __future__ import annotations

import logging
import logging.config
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import zmq

from tests.log.helpers import WAIT_MS, fresh_logger, receive, subscribed_pair
from tests.log.helpers import lineno as _lineno
from tzmq import _jsonapi
from tzmq.log import PUBHandler
from tzmq.log import handlers as handlers_module

LEVELS = [logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL]


@pytest.fixture
def handler(pair: tuple[zmq.Socket[Any], zmq.Socket[Any]]) -> Iterator[PUBHandler]:
    h = PUBHandler(pair[0])
    yield h
    h.close()


@pytest.fixture
def log(request: pytest.FixtureRequest, handler: PUBHandler) -> Iterator[logging.Logger]:
    logger = fresh_logger(f"tzmq.test.{request.node.name}", handler)
    yield logger
    logger.handlers.clear()


def one(sub: zmq.Socket[Any]) -> list[bytes]:
    return receive(sub, 1)[0]


# -- topics and bodies -----------------------------------------------------------------


@pytest.mark.parametrize("root", ["", "app", "svc.worker.3"])
@pytest.mark.parametrize(
    ("message", "subtopic", "text"),
    [
        ("plain text", "", "plain text"),
        ("db::lost", "db", "lost"),
        ("db.pool.primary::lost", "db.pool.primary", "lost"),
        ("::no subtopic", "", "no subtopic"),
        ("a::b::c", "a", "b::c"),
        ("db::", "db", ""),
    ],
)
@pytest.mark.parametrize("level", LEVELS)
def test_topic_for_every_level_and_subtopic_shape(
    pair: tuple[zmq.Socket[Any], zmq.Socket[Any]],
    handler: PUBHandler,
    log: logging.Logger,
    root: str,
    message: str,
    subtopic: str,
    text: str,
    level: int,
) -> None:
    handler.root_topic = root
    handler.setFormatter(logging.Formatter("%(message)s\n"))
    log.log(level, message)
    expected = ".".join(p for p in (root, logging.getLevelName(level), subtopic) if p)
    assert one(pair[1]) == [expected.encode(), f"{text}\n".encode()]


def test_default_bodies_match_pyzmq(
    pair: tuple[zmq.Socket[Any], zmq.Socket[Any]], log: logging.Logger
) -> None:
    log.info("sub::hello %s", "world")
    line = _lineno() + 1
    log.debug("details")
    log.warning("careful")
    log.error("failed")
    log.critical("down")
    got = receive(pair[1], 5)
    assert got[0] == [b"INFO.sub", b"hello world\n"]
    assert got[1] == [b"DEBUG", f"DEBUG test_handlers.py:{line} - details\n".encode()]
    assert got[2] == [b"WARNING", f"WARNING test_handlers.py:{line + 1} - careful\n".encode()]
    # pyzmq appends " - None" (repr of exc_info) to every error: not here.
    assert got[3] == [b"ERROR", f"ERROR test_handlers.py:{line + 2} - failed\n".encode()]
    assert got[4] == [b"CRITICAL", f"CRITICAL test_handlers.py:{line + 3} - down\n".encode()]


def test_root_topic_property_setter_and_bytes(
    ctx: zmq.Context[Any], pair: tuple[zmq.Socket[Any], zmq.Socket[Any]]
) -> None:
    handler = PUBHandler(pair[0], root_topic=b"b\xc3\xa9ta")
    assert handler.root_topic == "béta"
    log = fresh_logger("tzmq.test.root", handler)
    log.info("x")
    handler.setRootTopic(b"raw")
    log.info("y")
    handler.root_topic = "prop"
    log.info("z")
    assert [m[0] for m in receive(pair[1], 3)] == [
        "béta.INFO".encode(),
        b"raw.INFO",
        b"prop.INFO",
    ]
    with pytest.raises(TypeError):
        handler.setRootTopic(3)  # type: ignore[arg-type]
    handler.close()


def test_unicode_and_non_str_messages(
    pair: tuple[zmq.Socket[Any], zmq.Socket[Any]], handler: PUBHandler, log: logging.Logger
) -> None:
    handler.setFormatter(None)

    class Odd:
        def __str__(self) -> str:
            return "odd::object"

    log.info("données.é::héllo ✓ %s", "ünï")
    log.info(42)
    log.info({"k": [1, 2]})
    log.info(Odd())
    log.info("lone \udcff surrogate")
    got = receive(pair[1], 5)
    assert got[0] == ["INFO.données.é".encode(), "héllo ✓ ünï\n".encode()]
    assert got[1] == [b"INFO", b"42\n"]
    assert got[2] == [b"INFO", b"{'k': [1, 2]}\n"]
    assert got[3] == [b"INFO.odd", b"object\n"]
    assert got[4] == [b"INFO", b"lone \\udcff surrogate\n"]


def test_exception_traceback_is_published(
    pair: tuple[zmq.Socket[Any], zmq.Socket[Any]], log: logging.Logger
) -> None:
    try:
        raise ValueError("bad välue")
    except ValueError:
        log.exception("db::query failed")
    topic, body = one(pair[1])
    assert topic == b"ERROR.db"
    text = body.decode()
    assert text.startswith("ERROR test_handlers.py:")
    assert " - query failed\nTraceback (most recent call last):\n" in text
    assert text.endswith("ValueError: bad välue")
    assert "None" not in text


def test_the_callers_record_is_not_changed(
    pair: tuple[zmq.Socket[Any], zmq.Socket[Any]], handler: PUBHandler, log: logging.Logger
) -> None:
    seen: list[logging.LogRecord] = []
    spy = logging.Handler()
    spy.emit = seen.append  # type: ignore[method-assign]
    log.addHandler(spy)
    log.info("sub::text")
    assert one(pair[1]) == [b"INFO.sub", b"text\n"]
    assert seen[0].msg == "sub::text"


# -- formatters and custom levels ------------------------------------------------------


def test_custom_levels_are_published(
    monkeypatch: pytest.MonkeyPatch,
    pair: tuple[zmq.Socket[Any], zmq.Socket[Any]],
    handler: PUBHandler,
    log: logging.Logger,
) -> None:
    monkeypatch.setitem(logging._levelToName, 27, "NOTICE")
    monkeypatch.setitem(logging._nameToLevel, "NOTICE", 27)
    log.log(25, "between info and warning")
    log.log(27, "sub::named")
    log.log(5, "below debug")
    log.log(99, "above critical")
    got = receive(pair[1], 4)
    # Each is formatted like the nearest standard level below (DEBUG for 5).
    assert got[0] == [b"Level 25", b"between info and warning\n"]
    assert got[1] == [b"NOTICE.sub", b"named\n"]
    assert got[2][0] == b"Level 5"
    assert got[2][1].startswith(b"Level 5 test_handlers.py:")
    assert got[3][0] == b"Level 99"
    assert got[3][1].endswith(b" - above critical\n")


def test_set_formatter_per_level_and_for_all(
    pair: tuple[zmq.Socket[Any], zmq.Socket[Any]], handler: PUBHandler, log: logging.Logger
) -> None:
    handler.setFormatter(logging.Formatter("custom25 %(message)s"), level=25)
    handler.setFormatter(logging.Formatter("E! %(message)s"), level=logging.ERROR)
    log.log(25, "a")
    log.error("b")
    log.info("c")
    handler.setFormatter(logging.Formatter("all %(levelname)s %(message)s"))
    log.log(25, "d")
    log.debug("e")
    log.critical("f")
    bodies = [m[1] for m in receive(pair[1], 6)]
    assert bodies == [
        b"custom25 a",
        b"E! b",
        b"c\n",
        b"all Level 25 d",
        b"all DEBUG e",
        b"all CRITICAL f",
    ]
    assert handler.formatter is not None


def test_dict_config_builds_a_handler(
    pair: tuple[zmq.Socket[Any], zmq.Socket[Any]], request: pytest.FixtureRequest
) -> None:
    name = f"tzmq.test.{request.node.name}"
    logging.config.dictConfig(
        {
            "version": 1,
            "incremental": False,
            "disable_existing_loggers": False,
            "handlers": {
                "zmq": {
                    "class": "tzmq.log.handlers.PUBHandler",
                    "interface_or_socket": pair[0],
                    "root_topic": "cfg",
                }
            },
            "loggers": {name: {"level": "INFO", "handlers": ["zmq"], "propagate": False}},
        }
    )
    log = logging.getLogger(name)
    handler = log.handlers[0]
    try:
        log.info("configured")
        assert one(pair[1]) == [b"cfg.INFO", b"configured\n"]
    finally:
        log.handlers.clear()
        handler.close()


# -- read-only root_topic subclasses (ipykernel, ipyparallel) -------------------------


class _Engine:
    id: int | None = None


class EnginePUBHandler(PUBHandler):
    """The shape of ipyparallel's and ipykernel's engine handlers."""

    engine: _Engine | None = None

    def __init__(self, engine: _Engine, *args: Any, **kwargs: Any) -> None:
        PUBHandler.__init__(self, *args, **kwargs)
        self.engine = engine

    @property  # type: ignore[override]
    def root_topic(self) -> str:
        if isinstance(getattr(self.engine, "id", None), int):
            return f"engine.{self.engine.id}"  # type: ignore[union-attr]
        return "engine"


def test_read_only_root_topic_subclass(pair: tuple[zmq.Socket[Any], zmq.Socket[Any]]) -> None:
    engine = _Engine()
    handler = EnginePUBHandler(engine, pair[0])
    keyword = EnginePUBHandler(engine, interface_or_socket=pair[0], root_topic="ignored")
    log = fresh_logger("tzmq.test.engine", handler)
    log.info("starting")
    engine.id = 3
    log.info("registered")
    assert receive(pair[1], 2) == [
        [b"engine.INFO", b"starting\n"],
        [b"engine.3.INFO", b"registered\n"],
    ]
    assert keyword.root_topic == "engine.3"
    handler.close()
    keyword.close()


# -- threads, blocking and the socket's owner ----------------------------------------


@pytest.mark.parametrize("through", ["logger", "emit"])
def test_thread_storm_every_record_once_and_intact(
    monkeypatch: pytest.MonkeyPatch, ctx: zmq.Context[Any], through: str
) -> None:
    """Threads log at once; no two ever use the socket together; all records arrive."""
    threads, per_thread = 8, 300
    xpub, sub = subscribed_pair(ctx, hwm=0)  # this test is about threads, not the mark
    handler = PUBHandler(xpub)
    handler.setFormatter(None)
    log = fresh_logger(f"tzmq.test.storm.{through}", handler)

    inside = 0
    overlaps = 0
    guard = threading.Lock()
    real_send = handlers_module.send_message

    def watched_send(sock: zmq.Socket[Any], *args: Any) -> Any:
        nonlocal inside, overlaps
        with guard:
            inside += 1
            overlaps += inside > 1
        # Give other threads the GIL mid-send, where an unguarded send would overlap.
        threading.Event().wait(0)
        try:
            return real_send(sock, *args)
        finally:
            with guard:
                inside -= 1

    monkeypatch.setattr(handlers_module, "send_message", watched_send)
    start = threading.Barrier(threads)

    def worker(t: int) -> None:
        start.wait()
        for n in range(per_thread):
            payload = f"t{t}.n{n}::{'é' * (n % 7)}{t}:{n}"
            if through == "logger":
                log.info(payload)
            else:
                handler.emit(log.makeRecord(log.name, logging.INFO, "f", 1, payload, None, None))

    workers = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    got = receive(sub, threads * per_thread)
    for w in workers:
        w.join()
    assert overlaps == 0
    assert handler.dropped == 0
    expected = {
        (f"INFO.t{t}.n{n}".encode(), f"{'é' * (n % 7)}{t}:{n}\n".encode())
        for t in range(threads)
        for n in range(per_thread)
    }
    assert len(got) == len(expected)
    assert {(m[0], m[1]) for m in got} == expected
    assert all(len(m) == 2 for m in got)
    # One thread's records keep their order.
    for t in range(threads):
        mine = [m[0] for m in got if m[0].startswith(f"INFO.t{t}.".encode())]
        assert mine == [f"INFO.t{t}.n{n}".encode() for n in range(per_thread)]
    assert not sub.poll(0)
    handler.close()


def test_close_during_a_storm_is_quiet_and_accounted(ctx: zmq.Context[Any]) -> None:
    threads, per_thread = 4, 500
    handler = PUBHandler("tcp://127.0.0.1:*")
    # libzmq copies a socket's options into each listener when it binds, so
    # the handler's own endpoint keeps the default SNDHWM of 1000, and a PUB
    # drops silently past it when the machine is slow to move bytes. An
    # endpoint bound after the change has no mark.
    handler.socket.sndhwm = 0
    port = handler.socket.bind_to_random_port("tcp://127.0.0.1")
    # Time enough for what was sent before the close to reach the SUB on a
    # loaded machine (the default second is a policy, not what this checks).
    handler.socket.linger = 10_000
    errors: list[logging.LogRecord] = []
    handler.handleError = errors.append  # type: ignore[method-assign]
    sub = ctx.socket(zmq.SUB)
    sub.linger = 0
    sub.rcvhwm = 0
    sub.connect(f"tcp://127.0.0.1:{port}")
    sub.subscribe(b"")
    log = fresh_logger("tzmq.test.closing", handler)
    _wait_until_subscribed(log, sub)
    start = threading.Barrier(threads + 1)

    def worker() -> None:
        start.wait()
        for n in range(per_thread):
            log.info("n%d", n)

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for w in workers:
        w.start()
    start.wait()
    received = len(receive(sub, 100))
    handler.close()  # while the workers log
    for w in workers:
        w.join()
    assert errors == []
    assert handler.socket.closed and handler.ctx.closed
    # Every record was either sent before the close (and lingered out) or dropped.
    sent = threads * per_thread - handler.dropped
    assert sent >= received
    receive(sub, sent - received)
    assert not sub.poll(50)


def _wait_until_subscribed(log: logging.Logger, sub: zmq.Socket[Any]) -> None:
    """Publish probes until the SUB receives one (a PUB cannot tell), then drain them."""
    for _ in range(WAIT_MS // 20):
        log.info("probe")
        if sub.poll(20):
            break
    else:
        raise AssertionError("the subscription never reached the publisher")
    while sub.poll(50):
        assert sub.recv_multipart() == [b"INFO", b"probe\n"]


def test_socket_from_an_async_context_is_used_without_its_send(ctx: zmq.Context[Any]) -> None:
    """pyzmq #1967: a socket whose send needs a loop in the calling thread."""

    class LoopBoundSocket(zmq.Socket):  # type: ignore[type-arg]
        def send(self, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("no running event loop")

        def send_multipart(self, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("no running event loop")

    xpub = ctx.socket(zmq.XPUB, socket_class=LoopBoundSocket)
    xpub.linger = 0
    sub = ctx.socket(zmq.SUB)
    sub.linger = 0
    sub.connect(f"tcp://127.0.0.1:{xpub.bind_to_random_port('tcp://127.0.0.1')}")
    sub.subscribe(b"")
    assert xpub.poll(WAIT_MS)
    xpub.recv()
    handler = PUBHandler(xpub)
    handler.handleError = pytest.fail  # type: ignore[method-assign, assignment]
    log = fresh_logger("tzmq.test.loopbound", handler)
    worker = threading.Thread(target=log.warning, args=("from::a thread",))
    worker.start()
    worker.join()
    assert one(sub)[0] == b"WARNING.from"
    handler.close()


def test_never_blocks_a_socket_that_cannot_send(ctx: zmq.Context[Any]) -> None:
    push = ctx.socket(zmq.PUSH)  # no peer: a blocking send would wait forever
    push.linger = 0
    push.bind("inproc://nobody")
    handler = PUBHandler(push)
    log = fresh_logger("tzmq.test.nobody", handler)
    for n in range(100):
        log.error("lost %d", n)
    assert handler.dropped == 100
    handler.close()


def test_forked_child_publishes_nothing(
    pair: tuple[zmq.Socket[Any], zmq.Socket[Any]], handler: PUBHandler, log: logging.Logger
) -> None:
    handler._pid = -1  # as seen from a child after fork()
    log.info("from the child")
    handler.close()
    assert handler.dropped == 1
    assert not pair[0].closed
    assert not pair[1].poll(0)


# -- close -------------------------------------------------------------------------------


def test_close_own_socket_and_own_context() -> None:
    handler = PUBHandler("tcp://127.0.0.1:*")
    assert handler.socket.type == zmq.PUB
    assert handler.socket.last_endpoint.startswith(b"tcp://127.0.0.1:")
    handler.close()
    assert handler.socket.closed
    assert handler.ctx.closed
    handler.close()  # idempotent
    fresh_logger("tzmq.test.after_close", handler).info("too late")
    assert handler.dropped == 1


def test_close_own_socket_in_a_given_context(ctx: zmq.Context[Any]) -> None:
    handler = PUBHandler("inproc://given-context", context=ctx)
    assert handler.ctx is ctx
    handler.close()
    assert handler.socket.closed
    assert not ctx.closed


def test_close_leaves_a_given_socket_and_its_context(
    ctx: zmq.Context[Any], pair: tuple[zmq.Socket[Any], zmq.Socket[Any]]
) -> None:
    handler = PUBHandler(pair[0])
    assert handler.ctx is ctx
    handler.close()
    assert not pair[0].closed
    assert not ctx.closed
    pair[0].send_multipart([b"still", b"usable"])
    assert one(pair[1]) == [b"still", b"usable"]


def test_bind_failure_raises_and_closes_what_it_made(ctx: zmq.Context[Any]) -> None:
    taken = ctx.socket(zmq.PUB)
    taken.linger = 0
    port = taken.bind_to_random_port("tcp://127.0.0.1")
    with pytest.raises(zmq.ZMQError):
        PUBHandler(f"tcp://127.0.0.1:{port}")
    with pytest.raises(zmq.ZMQError):
        PUBHandler(f"tcp://127.0.0.1:{port}", context=ctx)
    assert not ctx.closed


def test_bad_arguments_fail_at_the_call(ctx: zmq.Context[Any]) -> None:
    with pytest.raises(TypeError, match=r"zmq\.Socket or an address"):
        PUBHandler(5555)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"context must be a zmq\.Context"):
        PUBHandler("inproc://x", context="ctx")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="root_topic"):
        PUBHandler("inproc://y", context=ctx, root_topic=3)  # type: ignore[arg-type]
    closed = ctx.socket(zmq.PUB)
    closed.close()
    with pytest.raises(ValueError, match="closed socket"):
        PUBHandler(closed)


# -- structured mode ---------------------------------------------------------------------


def test_structured_body_carries_the_record(ctx: zmq.Context[Any]) -> None:
    xpub, sub = subscribed_pair(ctx)
    handler = PUBHandler(xpub, root_topic="svc", structured=True)
    log = fresh_logger("tzmq.test.structured", handler)
    try:
        raise KeyError("k")
    except KeyError:
        line = _lineno() + 1
        log.error("db::failed %s", {"not": "json-safe args"}, exc_info=True, extra={"user": "ann"})
    topic, body = one(sub)
    assert topic == b"svc.ERROR.db"
    assert body.startswith(b'{"tzmq.log":1,')
    fields = _jsonapi.loads(body)
    assert fields["name"] == "tzmq.test.structured"
    assert fields["levelno"] == logging.ERROR
    assert fields["msg"] == "failed {'not': 'json-safe args'}"
    assert fields["filename"] == "test_handlers.py"
    assert fields["lineno"] == line
    assert fields["funcName"] == "test_structured_body_carries_the_record"
    assert fields["topic"] == "db"
    assert fields["exc_text"].startswith("Traceback (most recent call last):")
    assert fields["exc_text"].endswith("KeyError: 'k'")
    assert fields["extra"] == {"user": "ann"}
    assert fields["thread"] == threading.get_ident()
    handler.close()
