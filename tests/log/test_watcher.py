"""LogWatcher: published records come back into local logging; garbage is refused."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import zmq
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from tornado.ioloop import IOLoop

from tests.log.helpers import Recorder, await_subscriptions, fresh_logger, lineno
from tzmq import StreamClosedError, _jsonapi
from tzmq.log import LogWatcher, PUBHandler, _wire
from tzmq.log import watcher as watcher_module


def endpoint(sock: zmq.Socket[Any]) -> str:
    return str(sock.last_endpoint.decode())


@pytest.fixture
def local() -> Iterator[tuple[logging.Logger, Recorder]]:
    """Where the watcher re-emits: a logger outside the tree, with a Recorder."""
    recorder = Recorder()
    logger = logging.Logger("tzmq.test.local")
    logger.addHandler(recorder)
    yield logger, recorder


def watch(
    ctx: zmq.Context[Any], xpub: zmq.Socket[Any], logger: logging.Logger | None, **kw: Any
) -> LogWatcher:
    """A watcher connected to ``xpub``, returned once its subscriptions arrived."""
    topics = kw.pop("topics", [""])
    watcher = LogWatcher(endpoint(xpub), topics, logger=logger, context=ctx, **kw)
    await_subscriptions(xpub, [t.encode() if isinstance(t, str) else t for t in topics])
    return watcher


# -- plain and structured records ------------------------------------------------------


@pytest.mark.gen_test
async def test_plain_records_are_re_emitted(
    ctx: zmq.Context[Any], xpub: zmq.Socket[Any], local: tuple[logging.Logger, Recorder]
) -> None:
    logger, recorder = local
    watcher = watch(ctx, xpub, logger)
    handler = PUBHandler(xpub, root_topic="worker.1")
    log = fresh_logger("tzmq.test.plain", handler)
    line = lineno() + 1
    log.debug("db.pool::checking %d", 3)
    log.info("héllo ✓")
    log.warning("careful")
    log.log(25, "custom")
    records = await recorder.wait_for(4)
    debug, info, warning, custom = records
    assert (debug.name, debug.levelno, debug.levelname) == ("worker.1", 10, "DEBUG")
    assert debug.getMessage() == "checking 3"
    assert (debug.filename, debug.lineno) == ("test_watcher.py", line)
    assert (debug.topic, debug.root_topic, debug.subtopic) == (  # type: ignore[attr-defined]
        "worker.1.DEBUG.db.pool",
        "worker.1",
        "db.pool",
    )
    assert (info.levelno, info.getMessage(), info.lineno) == (20, "héllo ✓", 0)
    assert (warning.levelno, warning.getMessage()) == (30, "careful")
    assert (custom.levelno, custom.levelname, custom.getMessage()) == (25, "Level 25", "custom")
    assert (watcher.received, watcher.rejected) == (4, 0)
    handler.close()
    watcher.close()


@pytest.mark.gen_test
async def test_structured_records_are_rebuilt(
    ctx: zmq.Context[Any], xpub: zmq.Socket[Any], local: tuple[logging.Logger, Recorder]
) -> None:
    logger, recorder = local
    watcher = watch(ctx, xpub, logger)
    handler = PUBHandler(xpub, root_topic="svc", structured=True)
    log = fresh_logger("tzmq.test.structured.origin", handler)
    originals = Recorder()
    log.addHandler(originals)
    try:
        raise ValueError("bäd")
    except ValueError:
        log.exception("db::query %s failed", "q1", extra={"request": "r-7", "obj": object()})
    log.warning("lone \udcff surrogate")
    worker = threading.Thread(target=log.critical, args=("from a thread",))
    worker.start()
    worker.join()
    error, surrogate, critical = await recorder.wait_for(3)
    original = originals.records[0]
    assert error.name == "tzmq.test.structured.origin"
    assert (error.levelno, error.levelname) == (logging.ERROR, "ERROR")
    assert error.getMessage() == "query q1 failed"
    assert error.created == original.created
    assert error.msecs == pytest.approx(original.msecs)
    for field in ("pathname", "filename", "module", "lineno", "funcName", "process", "thread"):
        assert getattr(error, field) == getattr(original, field), field
    assert error.exc_text is not None
    assert error.exc_text.startswith("Traceback (most recent call last):")
    assert error.exc_text.endswith("ValueError: bäd")
    assert error.request == "r-7"  # type: ignore[attr-defined]
    assert not hasattr(error, "obj")
    assert error.subtopic == "db"  # type: ignore[attr-defined]
    formatted = logging.Formatter("%(name)s:%(lineno)d %(message)s").format(error)
    assert formatted.startswith(f"tzmq.test.structured.origin:{original.lineno} query q1 failed\n")
    assert formatted.endswith("ValueError: bäd")
    assert surrogate.getMessage() == "lone \udcff surrogate"
    assert critical.thread == worker.ident
    assert critical.threadName == worker.name
    handler.close()
    watcher.close()


@pytest.mark.gen_test
async def test_records_go_to_their_own_loggers_and_the_level_filters(
    ctx: zmq.Context[Any], xpub: zmq.Socket[Any]
) -> None:
    routed = Recorder()
    target = fresh_logger("tzmq.test.routed", routed)
    watcher = watch(ctx, xpub, None, level="warning")
    handler = PUBHandler(xpub, root_topic="tzmq.test.routed")
    log = fresh_logger("tzmq.test.routing.origin", handler)
    log.info("below the watcher's level")
    log.error("shown")
    records = await routed.wait_for(1)
    assert [r.getMessage() for r in records] == ["shown"]
    assert watcher.received == 2
    handler.close()
    watcher.close()
    target.handlers.clear()


@pytest.mark.gen_test
async def test_collects_from_many_publishers_by_topic(
    ctx: zmq.Context[Any], local: tuple[logging.Logger, Recorder]
) -> None:
    logger, recorder = local
    publishers = [ctx.socket(zmq.XPUB) for _ in range(3)]
    for pub in publishers:
        pub.linger = 0
        pub.bind("tcp://127.0.0.1:*")
    watcher = LogWatcher(
        [endpoint(p) for p in publishers], ["worker", "boss.ERROR"], logger=logger, context=ctx
    )
    for pub in publishers:
        await_subscriptions(pub, [b"worker", b"boss.ERROR"])
    handlers = [
        PUBHandler(publishers[0], root_topic="worker.0"),
        PUBHandler(publishers[1], root_topic="worker.1"),
        PUBHandler(publishers[2], root_topic="boss"),
    ]
    for n, handler in enumerate(handlers):
        log = fresh_logger(f"tzmq.test.many.{n}", handler)
        log.info("info from %d", n)
        log.error("error from %d", n)
    records = await recorder.wait_for(5)
    assert sorted((r.name, r.getMessage()) for r in records) == [
        ("boss", "error from 2"),
        ("worker.0", "error from 0"),
        ("worker.0", "info from 0"),
        ("worker.1", "error from 1"),
        ("worker.1", "info from 1"),
    ]
    for handler in handlers:
        handler.close()
    watcher.close()


@pytest.mark.gen_test
async def test_bind_serves_publishers_that_connect(
    ctx: zmq.Context[Any], local: tuple[logging.Logger, Recorder]
) -> None:
    logger, recorder = local
    watcher = LogWatcher(logger=logger, context=ctx)
    address = watcher.bind("tcp://127.0.0.1:*")
    assert address.startswith("tcp://127.0.0.1:")
    pub = ctx.socket(zmq.XPUB)
    pub.linger = 0
    pub.connect(address)
    # The bound SUB hears of the new peer on its loop: keep the loop running meanwhile.
    await IOLoop.current().run_in_executor(None, await_subscriptions, pub, [b""])
    watcher.subscribe("extra")
    watcher.unsubscribe("extra")
    handler = PUBHandler(pub)
    fresh_logger("tzmq.test.bind", handler).warning("connected in")
    (record,) = await recorder.wait_for(1)
    assert (record.name, record.getMessage()) == ("remote", "connected in")
    handler.close()
    watcher.close()


# -- garbage ----------------------------------------------------------------------------

GARBAGE = [
    [b"INFO"],
    [b"INFO", b"text", b"extra"],
    [b"\xff\xfe.INFO", b"bad utf-8 topic"],
    [b"worker.NOLEVEL.sub", b"no level in the topic"],
    [b"", b"empty topic"],
    [b"INFO", b'{"tzmq.log":1,"name":'],
    [b"INFO", b'{"tzmq.log":2,"name":"x","levelno":20,"msg":"m","created":1}'],
    [b"INFO", b'{"tzmq.log":1,"name":"x","levelno":"20","msg":"m","created":1}'],
    [b"INFO", b'{"tzmq.log":1,"name":"x","levelno":20,"msg":"m","created":true}'],
    [b"INFO", b'{"tzmq.log":1,"name":"x","levelno":20,"msg":"m","created":1,"lineno":"7"}'],
    [b"INFO", b'{"tzmq.log":1,"name":"x","levelno":20,"msg":"m","created":1,"extra":[1]}'],
    [b"ERROR", b'{"tzmq.log":1,"name":"x","levelno":20,"msg":"m","created":1}'],
    [b"INFO", b'{"tzmq.log":1,"levelno":20,"msg":"m","created":1}'],
]


@pytest.mark.gen_test
async def test_garbage_is_rejected_reported_and_survived(
    monkeypatch: pytest.MonkeyPatch,
    ctx: zmq.Context[Any],
    xpub: zmq.Socket[Any],
    local: tuple[logging.Logger, Recorder],
) -> None:
    monkeypatch.setattr(watcher_module, "_REPORT_WINDOW", 0.05)
    reports = Recorder()
    report_log = logging.getLogger("tzmq.log.watcher")
    report_log.addHandler(reports)
    logger, recorder = local
    watcher = watch(ctx, xpub, logger)
    try:
        for frames in GARBAGE:
            xpub.send_multipart(frames)
        xpub.send_multipart([b"app.WARNING.sub", b"still alive\n"])
        (record,) = await recorder.wait_for(1)
        assert (record.name, record.getMessage()) == ("app", "still alive")
        assert (watcher.received, watcher.rejected) == (1, len(GARBAGE))
        first, summary = await reports.wait_for(2)
        assert first.levelno == logging.WARNING
        assert "1 frames" in first.getMessage()
        assert "expected 2 frames" in first.getMessage()
        assert (
            summary.getMessage()
            == f"dropped {len(GARBAGE) - 1} more messages that are not log records"
        )
    finally:
        report_log.removeHandler(reports)
        watcher.close()


@pytest.mark.gen_test
async def test_a_structured_record_with_a_level_unknown_here(
    ctx: zmq.Context[Any], xpub: zmq.Socket[Any], local: tuple[logging.Logger, Recorder]
) -> None:
    logger, recorder = local
    watcher = watch(ctx, xpub, logger)
    body = _jsonapi.dumps(
        {"tzmq.log": 1, "name": "x", "levelno": 5, "levelname": "TRACE", "msg": "m", "created": 2}
    )
    xpub.send_multipart([b"app.TRACE", b"plain: TRACE is not known here"])
    xpub.send_multipart([b"app.TRACE.sub", body])
    (record,) = await recorder.wait_for(1)
    assert (record.levelno, record.levelname, record.created) == (5, "TRACE", 2.0)
    assert record.subtopic == "sub"  # type: ignore[attr-defined]
    assert watcher.rejected == 1
    watcher.close()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=80), max_size=4))
def test_decode_accepts_or_refuses_anything(frames: list[bytes]) -> None:
    try:
        record = _wire.decode(frames)
    except _wire.WireError:
        return
    assert isinstance(record, logging.LogRecord)
    assert isinstance(record.getMessage(), str)


_NAMES = st.text(alphabet=st.characters(blacklist_categories=("Lu", "Lt", "Cs")), max_size=12).map(
    lambda t: t.strip(".")
)


@settings(max_examples=200, deadline=None)
@given(
    root=_NAMES,
    subtopic=_NAMES,
    message=st.text(max_size=40),
    level=st.sampled_from([logging.DEBUG, logging.INFO, 25, logging.ERROR]),
    structured=st.booleans(),
)
def test_round_trip(root: str, subtopic: str, message: str, level: int, structured: bool) -> None:
    """Any text survives; roots and subtopics that name no level (no capitals) too."""
    record = logging.LogRecord("a.b", level, "/p/f.py", 7, "%s", (message,), None, "fn")
    if structured:
        body = _wire.encode_structured(record, subtopic, None)
    else:
        # A plain body is text: it cannot hold lone surrogates, and one that
        # starts like pyzmq's "LEVEL file:line - " format is read as that.
        assume(not any(0xD800 <= ord(c) <= 0xDFFF for c in message))
        assume(not message.startswith(record.levelname))
        body = f"{message}\n".encode()
    decoded = _wire.decode([_wire.build_topic(root, record.levelname, subtopic), body])
    assert (decoded.levelno, decoded.getMessage()) == (level, message)
    assert (decoded.root_topic, decoded.subtopic) == (root, subtopic)  # type: ignore[attr-defined]
    if structured:
        assert (decoded.name, decoded.lineno, decoded.funcName) == ("a.b", 7, "fn")
    else:
        assert decoded.name == (root or "remote")


# -- life cycle and arguments --------------------------------------------------------------


@pytest.mark.gen_test
async def test_close_own_and_given_context(io_loop: IOLoop, ctx: zmq.Context[Any]) -> None:
    own = LogWatcher("tcp://127.0.0.1:1", io_loop=io_loop)
    own_context = own._context
    own.close()
    own.close()
    assert own_context.closed
    with pytest.raises(StreamClosedError):
        own.connect("tcp://127.0.0.1:2")
    given = LogWatcher(context=ctx)
    socket = given.socket
    given.close()
    assert socket.closed
    assert not ctx.closed


def test_bad_arguments_fail_at_the_call(ctx: zmq.Context[Any]) -> None:
    with pytest.raises(TypeError, match="topics"):
        LogWatcher(topics=[3], context=ctx)  # type: ignore[list-item]
    with pytest.raises(TypeError, match="addresses"):
        LogWatcher([b"tcp://127.0.0.1:1"], context=ctx)  # type: ignore[list-item]
    with pytest.raises(ValueError, match="unknown logging level"):
        LogWatcher(level="LOUD", context=ctx)
    with pytest.raises(TypeError, match="logger"):
        LogWatcher(logger=3, context=ctx)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="context"):
        LogWatcher(context="ctx")  # type: ignore[arg-type]
    with pytest.raises(zmq.ZMQError):
        LogWatcher("no-such-transport://x")
    with pytest.raises(zmq.ZMQError):
        LogWatcher("no-such-transport://x", context=ctx)
    assert not ctx.closed


@pytest.mark.parametrize(
    ("level", "number"),
    [("warning", 30), ("ERROR", 40), ("Level 25", 25), ("25", 25), (7, 7)],
)
def test_levels_by_name_or_number(ctx: zmq.Context[Any], level: Any, number: int) -> None:
    watcher = LogWatcher(level=level, context=ctx)
    assert watcher.level == number
    watcher.close()
