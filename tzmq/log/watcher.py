"""The subscribing side: LogWatcher turns published records back into local logging.

Owns one SUB socket, driven by a `tzmq.ZMQStream`, connected (or bound) to
any number of `PUBHandler` publishers. Each message is decoded by
`tzmq.log._wire` (plain and structured bodies both) and handed to a local
logger, so one process can collect, filter and store the logs of many.
Messages that are not log records (a wrong frame count, a topic that names
no level, a broken structured body) are counted in ``rejected`` and
reported on the ``tzmq.log.watcher`` logger, at most one warning, plus one
summary, per second; the watcher keeps going.

Thread-safety: IOLoop thread only. Make the watcher on the loop's thread
(or before the loop runs) and call its methods there; records are handed
to logging on that thread.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import zmq
from tornado.ioloop import IOLoop

from ..stream import StreamClosedError, ZMQStream
from . import _wire

__all__ = ["LogWatcher", "parse_level"]

_log = logging.getLogger("tzmq.log.watcher")

# While garbage keeps arriving, one warning per window, and a count at its end.
_REPORT_WINDOW = 1.0


class LogWatcher:
    """Subscribe to log publishers and re-emit their records into local logging.

    Example: print the warnings of two workers with this process's handlers::

        logging.basicConfig(format="%(name)s %(levelname)s %(message)s")
        watcher = LogWatcher(
            ["tcp://10.0.0.1:5555", "tcp://10.0.0.2:5555"], topics=["worker"],
            level=logging.WARNING,
        )
        IOLoop.current().start()

    ``addresses`` are connected to (`bind` serves publishers that connect
    instead); ``topics`` are subscription prefixes of the whole topic,
    ``"<root>.<LEVEL>.<subtopic>"``, everything by default. Records below
    ``level`` are skipped. Each record is handled by ``logger`` if given,
    else by ``logging.getLogger(record.name)``: the remote logger's name
    for structured records, the root topic (or ``"remote"``) for plain
    ones. Records also carry ``topic``, ``root_topic`` and ``subtopic``
    attributes. Do not let the records reach a `PUBHandler` that publishes
    to the same subscribers: that would be a loop.

    ``context`` is used if given; otherwise the watcher makes a context of
    its own, terminated by `close`.
    """

    received: int
    """Log records received (whatever their level)."""
    rejected: int
    """Messages received that were not log records."""

    def __init__(
        self,
        addresses: str | Iterable[str] = (),
        topics: str | bytes | Iterable[str | bytes] = ("",),
        *,
        level: int | str = logging.NOTSET,
        logger: logging.Logger | str | None = None,
        context: zmq.Context[Any] | None = None,
        io_loop: IOLoop | None = None,
    ) -> None:
        addresses = [addresses] if isinstance(addresses, str) else list(addresses)
        for address in addresses:
            if not isinstance(address, str):
                raise TypeError(f"addresses must be str, not {type(address).__name__}")
        topics = [topics] if isinstance(topics, (str, bytes)) else list(topics)
        subscriptions = [_topic_bytes(topic) for topic in topics]
        self.level = parse_level(level)
        self.logger = _logger(logger)
        if context is not None and not isinstance(context, zmq.Context):
            raise TypeError(f"context must be a zmq.Context, not {type(context).__name__}")
        self.received = 0
        self.rejected = 0
        self._unreported: int | None = None
        self._report_timer: object | None = None
        self._own_context = context is None
        self._context: zmq.Context[Any] = zmq.Context() if context is None else context
        socket: zmq.Socket[Any] = self._context.socket(zmq.SUB)
        try:
            socket.linger = 0
            for topic in subscriptions:
                socket.subscribe(topic)
            for address in addresses:
                socket.connect(address)
            self._stream = ZMQStream(socket, io_loop)
        except BaseException:
            socket.close(linger=0)
            if self._own_context:
                self._context.term()
            raise
        self._stream.on_recv(self._on_message)

    @property
    def socket(self) -> zmq.Socket[Any]:
        """The SUB socket (for options such as ``rcvhwm``)."""
        if self._stream.closed():
            raise StreamClosedError("LogWatcher is closed")
        return self._stream.socket

    @property
    def io_loop(self) -> IOLoop:
        """The loop the watcher receives on."""
        return self._stream.io_loop

    def connect(self, address: str) -> None:
        """Receive from a publisher bound at ``address``."""
        self.socket.connect(address)

    def bind(self, address: str) -> str:
        """Receive from publishers that connect to ``address``; return the endpoint.

        ``tcp://127.0.0.1:*`` picks a free port: the endpoint names it.
        """
        socket = self.socket
        socket.bind(address)
        endpoint = socket.getsockopt(zmq.LAST_ENDPOINT)
        return endpoint.decode() if isinstance(endpoint, bytes) else str(endpoint)

    def subscribe(self, topic: str | bytes) -> None:
        """Also receive records whose topic starts with ``topic``."""
        self.socket.subscribe(_topic_bytes(topic))

    def unsubscribe(self, topic: str | bytes) -> None:
        """Undo one `subscribe` (or one of the constructor's topics)."""
        self.socket.unsubscribe(_topic_bytes(topic))

    def close(self) -> None:
        """Stop receiving; close the socket, and the context if it is the watcher's.

        Idempotent.
        """
        if self._report_timer is not None:
            self.io_loop.remove_timeout(self._report_timer)
            self._report_timer = None
        self._stream.close(linger=0)
        if self._own_context and not self._context.closed:
            self._context.term()

    # -- receiving ----------------------------------------------------------------

    def _on_message(self, frames: list[bytes]) -> None:
        try:
            record = _wire.decode(frames)
        except _wire.WireError as error:
            self._reject(frames, error)
            return
        self.received += 1
        if record.levelno < self.level:
            return
        target = self.logger or logging.getLogger(record.name)
        target.handle(record)

    def _reject(self, frames: list[bytes], error: _wire.WireError) -> None:
        self.rejected += 1
        if self._unreported is not None:
            self._unreported += 1
            return
        first = frames[0][:40] if frames else b""
        _log.warning(
            "dropped a message that is not a log record (%d frames, first %r): %s",
            len(frames),
            first,
            error,
        )
        self._unreported = 0
        self._report_timer = self.io_loop.call_later(_REPORT_WINDOW, self._end_report_window)

    def _end_report_window(self) -> None:
        unreported, self._unreported = self._unreported, None
        self._report_timer = None
        if unreported:
            _log.warning("dropped %d more messages that are not log records", unreported)


def _topic_bytes(topic: str | bytes) -> bytes:
    if isinstance(topic, bytes):
        return topic
    if isinstance(topic, str):
        return topic.encode("utf-8")
    raise TypeError(f"topics must be str or bytes, not {type(topic).__name__}")


def parse_level(level: int | str) -> int:
    """A level number from a number, a name in any case, or "Level 25"."""
    if isinstance(level, int) and not isinstance(level, bool):
        return level
    if not isinstance(level, str):
        raise TypeError(f"level must be an int or a level name, not {type(level).__name__}")
    text = level.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    number = _wire.level_number(text)
    if number is None:
        number = _wire.level_number(text.upper())
    if number is None:
        raise ValueError(f"unknown logging level {level!r}")
    return number


def _logger(logger: logging.Logger | str | None) -> logging.Logger | None:
    if logger is None or isinstance(logger, logging.Logger):
        return logger
    if isinstance(logger, str):
        return logging.getLogger(logger)
    raise TypeError(f"logger must be a logging.Logger or a name, not {type(logger).__name__}")
