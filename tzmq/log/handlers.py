"""Publish `logging` records on a zmq PUB socket: PUBHandler and TopicLogger.

Owns the publishing side of tzmq's log forwarding. A drop-in for pyzmq's
``zmq.log.handlers`` (same names, signatures and wire layout: see
`tzmq.log._wire`), with these differences, all on purpose:

* A record at a level with no formatter of its own (a custom level such as
  25) is formatted like the nearest standard level below it and published
  under its own level name; pyzmq drops it with a ``KeyError``.
* ``close()`` closes the socket and the context that the handler created,
  and only those: a socket or context it was given stays open.
* Logging is safe from any thread, never blocks, and works in threads with
  no event loop, with a socket from an async context too (pyzmq issue 1967).
* The default ERROR format no longer appends ``repr(exc_info)`` (``- None``
  on every error without an exception); the traceback follows the message.
* ``root_topic`` is never assigned in ``__init__``, so a subclass may make it
  a read-only property (ipykernel's and ipyparallel's engine handlers).
* ``structured=True`` publishes the record's fields as JSON, from which
  `tzmq.log.LogWatcher` rebuilds the record with its level, logger name,
  time, file, line and exception text.
* `TopicLogger`'s level methods work (pyzmq's raise ``TypeError`` in 27.x).

Thread-safety: a record is sent by the thread that logs it, under a lock
that every send and ``close()`` take, with ``NOBLOCK``. So the socket is
never used by two threads at once, and never closed under a send; the lock
is also the full memory barrier libzmq asks for when a socket changes
threads. Sending this way needs no running loop and no helper thread, which
is why it is preferred to a handoff (to the IOLoop, or to a sender thread
through a queue): logging must work in plain scripts, in worker threads that
have no loop, at interpreter exit after loops are gone, and the records from
one thread must keep their order. The lock is held only for the copy into
libzmq's pipe, microseconds: a PUB socket never blocks a send, it drops the
message at the high-water mark or when no one subscribes. A send that would
block on another kind of socket (``zmq.Again``) is dropped too. Dropped
records, and records logged after ``close()`` or in a forked child (libzmq
sockets do not survive ``fork``), are counted in ``dropped``. The socket
must not be used by anyone else while the handler uses it.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from copy import copy
from typing import Any

import zmq

from ..stream._wire import SOCKET_GONE, direct_send, send_message
from . import _wire
from ._wire import TOPIC_DELIM

__all__ = ["TOPIC_DELIM", "PUBHandler", "TopicLogger"]

# Frames are sent with zmq.Socket's own method: a subclass (an async socket)
# may return futures from send() or need a loop in the calling thread.
# A socket or context closed by its owner: the record cannot go anywhere.
# Bound the wait for records still queued when an own socket closes.
_OWN_LINGER_MS = 1000

_PLAIN = logging.Formatter("%(message)s\n")

# TopicLogger puts two frames of its own (a method, then _topic_log) between
# the caller and Logger._log. Since 3.11 findCaller counts both in stacklevel;
# before, it started above the frame that called _log, so one.
_OWN_FRAMES = 1 if sys.version_info >= (3, 11) else 0


def _default_formatters() -> dict[int, logging.Formatter | None]:
    located = logging.Formatter("%(levelname)s %(filename)s:%(lineno)d - %(message)s\n")
    return {
        logging.DEBUG: located,
        logging.INFO: _PLAIN,
        logging.WARNING: located,
        logging.ERROR: located,
        logging.CRITICAL: located,
    }


class PUBHandler(logging.Handler):
    """A logging handler that publishes records on a zmq PUB socket.

    ``interface_or_socket`` is a socket to publish on (used as it is, never
    closed by the handler) or an address to bind a new PUB socket to, in
    ``context`` or else in a context of the handler's own. A record is
    published as the frames ``[b"<root_topic>.<LEVEL>.<subtopic>", text]``;
    the subtopic comes from the message: ``log.info("db.pool::lost %s", x)``.

    Example::

        handler = PUBHandler("tcp://127.0.0.1:5555", root_topic="worker.3")
        logging.getLogger().addHandler(handler)
        logging.getLogger("db").warning("pool::%d connections lost", 3)
        # -> [b"worker.3.WARNING.pool", b"WARNING db.py:12 - 3 connections lost\\n"]
        handler.close()

    ``structured=True`` sends the record's fields as JSON instead of the
    formatted text (see `tzmq.log.LogWatcher`).
    """

    formatters: dict[int, logging.Formatter | None]
    ctx: zmq.Context[Any]
    socket: zmq.Socket[Any]
    dropped: int
    """Records not published: refused by the socket, or logged after close()."""

    def __init__(
        self,
        interface_or_socket: str | zmq.Socket[Any],
        context: zmq.Context[Any] | None = None,
        root_topic: str | bytes = "",
        *,
        structured: bool = False,
    ) -> None:
        logging.Handler.__init__(self)
        # Not through the property: a subclass may make root_topic read-only.
        self._root_topic = _text(root_topic)
        self.structured = bool(structured)
        self.formatters = _default_formatters()
        self.dropped = 0
        self._send_lock = threading.Lock()
        self._pid = os.getpid()
        self._closed = False
        self._own_socket = False
        self._own_context = False
        if isinstance(interface_or_socket, zmq.Socket):
            if interface_or_socket.closed:
                raise ValueError("PUBHandler was given a closed socket")
            self.socket = interface_or_socket
            self.ctx = interface_or_socket.context
        elif isinstance(interface_or_socket, str):
            if context is not None and not isinstance(context, zmq.Context):
                raise TypeError(f"context must be a zmq.Context, not {type(context).__name__}")
            self._bind(interface_or_socket, context)
        else:
            raise TypeError(
                "PUBHandler needs a zmq.Socket or an address to bind, "
                f"not {type(interface_or_socket).__name__}"
            )

    def _bind(self, address: str, context: zmq.Context[Any] | None) -> None:
        ctx: zmq.Context[Any] = zmq.Context() if context is None else context
        socket: zmq.Socket[Any] = ctx.socket(zmq.PUB)
        try:
            socket.linger = _OWN_LINGER_MS
            socket.bind(address)
        except BaseException:
            socket.close(linger=0)
            if context is None:
                ctx.term()
            raise
        self.ctx, self.socket = ctx, socket
        self._own_socket = True
        self._own_context = context is None

    # -- topics and formats -------------------------------------------------------

    @property
    def root_topic(self) -> str:
        """The first part of every topic published (none when empty)."""
        return self._root_topic

    @root_topic.setter
    def root_topic(self, value: str | bytes) -> None:
        self.setRootTopic(value)

    def setRootTopic(self, root_topic: str | bytes) -> None:
        """Set the root topic; bytes are decoded as UTF-8.

        A subscriber must subscribe to a prefix of it (or to everything,
        ``b""``) to receive this handler's records.
        """
        self._root_topic = _text(root_topic)

    def setFormatter(self, fmt: logging.Formatter | None, level: int = logging.NOTSET) -> None:
        """Set the formatter for ``level``, or for every level when NOTSET.

        ``None`` means the message alone. Levels without a formatter of their
        own use the one of the nearest level below that has one.
        """
        if level == logging.NOTSET:
            self.formatter = fmt
            for known in self.formatters:
                self.formatters[known] = fmt
        else:
            self.formatters[level] = fmt

    def _formatter_for(self, levelno: int) -> logging.Formatter:
        formatters = self.formatters
        if levelno in formatters:
            fmt = formatters[levelno]
        else:
            below = [level for level in formatters if level <= levelno]
            nearest = max(below) if below else min(formatters, default=None)
            fmt = self.formatter if nearest is None else formatters[nearest]
        return _PLAIN if fmt is None else fmt

    def format(self, record: logging.LogRecord) -> str:
        """Format ``record`` with the formatter for its level."""
        return self._formatter_for(record.levelno).format(record)

    # -- publishing ---------------------------------------------------------------

    def emit(self, record: logging.LogRecord) -> None:
        """Publish ``record``; never blocks (see the module's thread-safety note)."""
        try:
            subtopic, text = _wire.split_topic(record.msg)
            if text is not None:
                record = copy(record)  # the caller's record stays as it was logged
                record.msg = text
            if self.structured:
                body = _wire.encode_structured(record, subtopic, self._exc_text(record))
            else:
                body = self.format(record).encode("utf-8", "backslashreplace")
            topic = _wire.build_topic(self.root_topic, record.levelname, subtopic)
            self._publish(topic, body)
        except Exception:
            self.handleError(record)

    def _exc_text(self, record: logging.LogRecord) -> str | None:
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter_for(record.levelno).formatException(record.exc_info)
        return record.exc_text or None

    def _publish(self, topic: bytes, body: bytes) -> None:
        if os.getpid() != self._pid:
            self.dropped += 1
            return
        with self._send_lock:
            if self._closed or self.socket.closed:
                self.dropped += 1
                return
            try:
                send_message(self.socket, direct_send(self.socket), (topic, body))
            except zmq.Again:
                self.dropped += 1
            except zmq.ZMQError as error:
                if error.errno not in SOCKET_GONE:
                    raise
                self.dropped += 1

    def close(self) -> None:
        """Stop publishing; close the socket and context the handler made.

        Records still queued get up to a second (the own socket's LINGER,
        which may be changed on ``handler.socket``) to reach subscribers.
        Idempotent; records logged afterwards are counted in ``dropped``.
        """
        term = False
        if os.getpid() != self._pid:
            # A forked child: the parent's socket is not ours to touch.
            self._closed = True
        else:
            with self._send_lock:
                if not self._closed:
                    self._closed = True
                    if self._own_socket:
                        self.socket.close()
                    term = self._own_context
        if term:
            # Outside the lock: term() waits for LINGER, loggers must not.
            self.ctx.term()
        super().close()


class TopicLogger(logging.Logger):
    """A Logger whose methods take a topic before the message.

    The topic becomes the record's subtopic under a `PUBHandler`::

        log = TopicLogger("app")
        log.addHandler(PUBHandler(socket, root_topic="worker"))
        log.warning("db.pool", "%d connections lost", 3)
        # -> [b"worker.WARNING.db.pool", b"WARNING app.py:3 - 3 connections lost\\n"]

    The keyword arguments of `logging.Logger` (``exc_info``, ``stack_info``,
    ``stacklevel``, ``extra``) work as there, and records name the caller's
    file and line. ``warn`` is kept, without a deprecation warning, for code
    written against pyzmq's TopicLogger.
    """

    def __init__(self, name: str, level: int | str = logging.NOTSET) -> None:
        super().__init__(name, level)

    def _topic_log(
        self, level: int, topic: str, msg: object, args: tuple[object, ...], kwargs: Any
    ) -> None:
        # Only the methods below call this, so the caller is a fixed depth up.
        kwargs["stacklevel"] = kwargs.get("stacklevel", 1) + 1 + _OWN_FRAMES
        self._log(level, f"{topic}{TOPIC_DELIM}{msg}", args, **kwargs)

    def log(  # type: ignore[override]
        self, level: int, topic: str, msg: object, *args: object, **kwargs: Any
    ) -> None:
        """Log ``msg % args`` at ``level`` under ``topic``."""
        if not isinstance(level, int):
            raise TypeError(f"level must be an int, not {type(level).__name__}")
        if self.isEnabledFor(level):
            self._topic_log(level, topic, msg, args, kwargs)

    def debug(self, topic: str, msg: object, *args: object, **kwargs: Any) -> None:  # type: ignore[override]
        """Log at DEBUG under ``topic``."""
        if self.isEnabledFor(logging.DEBUG):
            self._topic_log(logging.DEBUG, topic, msg, args, kwargs)

    def info(self, topic: str, msg: object, *args: object, **kwargs: Any) -> None:  # type: ignore[override]
        """Log at INFO under ``topic``."""
        if self.isEnabledFor(logging.INFO):
            self._topic_log(logging.INFO, topic, msg, args, kwargs)

    def warning(self, topic: str, msg: object, *args: object, **kwargs: Any) -> None:  # type: ignore[override]
        """Log at WARNING under ``topic``."""
        if self.isEnabledFor(logging.WARNING):
            self._topic_log(logging.WARNING, topic, msg, args, kwargs)

    warn = warning  # type: ignore[assignment]  # pyzmq's name

    def error(self, topic: str, msg: object, *args: object, **kwargs: Any) -> None:  # type: ignore[override]
        """Log at ERROR under ``topic``."""
        if self.isEnabledFor(logging.ERROR):
            self._topic_log(logging.ERROR, topic, msg, args, kwargs)

    def exception(  # type: ignore[override]
        self, topic: str, msg: object, *args: object, exc_info: Any = True, **kwargs: Any
    ) -> None:
        """Log at ERROR under ``topic`` with the exception being handled."""
        if self.isEnabledFor(logging.ERROR):
            kwargs["exc_info"] = exc_info
            self._topic_log(logging.ERROR, topic, msg, args, kwargs)

    def critical(self, topic: str, msg: object, *args: object, **kwargs: Any) -> None:  # type: ignore[override]
        """Log at CRITICAL under ``topic``."""
        if self.isEnabledFor(logging.CRITICAL):
            self._topic_log(logging.CRITICAL, topic, msg, args, kwargs)

    fatal = critical  # type: ignore[assignment]


def _text(topic: str | bytes) -> str:
    if isinstance(topic, bytes):
        return topic.decode("utf-8")
    if not isinstance(topic, str):
        raise TypeError(f"root_topic must be str or bytes, not {type(topic).__name__}")
    return topic
