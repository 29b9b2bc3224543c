"""TopicLogger: every level method takes a topic and works (pyzmq's raise TypeError)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
import zmq

from tests.log.helpers import lineno, receive
from tzmq import _jsonapi
from tzmq.log import PUBHandler, TopicLogger

Pair = tuple[zmq.Socket[Any], zmq.Socket[Any]]


@pytest.fixture
def handler(pair: Pair) -> Iterator[PUBHandler]:
    h = PUBHandler(pair[0], root_topic="app")
    yield h
    h.close()


@pytest.fixture
def log(handler: PUBHandler) -> TopicLogger:
    logger = TopicLogger("tzmq.test.topics", level=0)
    logger.addHandler(handler)
    return logger


@pytest.mark.parametrize(
    ("method", "level"),
    [
        ("debug", "DEBUG"),
        ("info", "INFO"),
        ("warning", "WARNING"),
        ("warn", "WARNING"),
        ("error", "ERROR"),
        ("critical", "CRITICAL"),
        ("fatal", "CRITICAL"),
    ],
)
def test_level_methods_publish_under_their_topic(
    pair: Pair, handler: PUBHandler, log: TopicLogger, method: str, level: str
) -> None:
    handler.setFormatter(logging.Formatter("%(message)s|%(funcName)s"))
    getattr(log, method)("db.pool", "%d lost", 3)
    assert receive(pair[1], 1) == [
        [f"app.{level}.db.pool".encode(), b"3 lost|test_level_methods_publish_under_their_topic"]
    ]


def test_records_name_the_callers_line(pair: Pair, log: TopicLogger) -> None:
    line = lineno() + 1
    log.debug("here", "debugging")
    log.warning("there", "warned")

    def helper() -> None:
        log.error("deep", "reported for the caller", stacklevel=2)

    helper()
    line_of_helper_call = lineno() - 1
    got = receive(pair[1], 3)
    assert got[0] == [
        b"app.DEBUG.here",
        f"DEBUG test_topiclogger.py:{line} - debugging\n".encode(),
    ]
    assert got[1][1] == f"WARNING test_topiclogger.py:{line + 1} - warned\n".encode()
    assert got[2][1] == (
        f"ERROR test_topiclogger.py:{line_of_helper_call} - reported for the caller\n".encode()
    )


def test_exception_carries_the_traceback(pair: Pair, log: TopicLogger) -> None:
    try:
        {}["missing"]
    except KeyError:
        log.exception("lookup", "no %s", "key")
    topic, body = receive(pair[1], 1)[0]
    assert topic == b"app.ERROR.lookup"
    text = body.decode()
    assert " - no key\nTraceback (most recent call last):\n" in text
    assert text.endswith("KeyError: 'missing'")


def test_log_with_any_level_and_keywords(pair: Pair, handler: PUBHandler, log: TopicLogger) -> None:
    handler.structured = True
    log.log(25, "custom", "level %s", "25", extra={"job": 7})
    log.log(logging.INFO, "", "no topic", stack_info=True)
    first, second = receive(pair[1], 2)
    assert first[0] == b"app.Level 25.custom"
    fields = _jsonapi.loads(first[1])
    assert (fields["levelno"], fields["msg"], fields["extra"]) == (25, "level 25", {"job": 7})
    assert fields["filename"] == "test_topiclogger.py"
    assert second[0] == b"app.INFO"
    stack = _jsonapi.loads(second[1])["stack_info"]
    assert stack.startswith("Stack (most recent call last):")
    assert "test_log_with_any_level_and_keywords" in stack
    with pytest.raises(TypeError, match="level must be an int"):
        log.log("INFO", "topic", "msg")  # type: ignore[arg-type]


def test_level_threshold_applies(pair: Pair, handler: PUBHandler) -> None:
    log = TopicLogger("tzmq.test.threshold", logging.WARNING)
    log.addHandler(handler)
    log.debug("t", "hidden")
    log.info("t", "hidden")
    log.exception("t", "shown")
    assert receive(pair[1], 1)[0][0] == b"app.ERROR.t"
    assert not pair[1].poll(0)


def test_is_a_logging_logger(log: TopicLogger) -> None:
    assert isinstance(log, logging.Logger)
    assert log.name == "tzmq.test.topics"
    assert log.level == 0
    assert TopicLogger("named", "INFO").level == logging.INFO
