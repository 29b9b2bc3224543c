"""The ``tzmq-logs`` command: print what PUBHandlers publish, live.

    tzmq-logs ADDRESS [ADDRESS ...] [--topic T ...] [--level L] [--bind]
              [--color {auto,always,never}]

Owns the command line, the console format and the process's signals; the
subscribing and decoding are `LogWatcher`'s. Each record is printed as it
arrives, flushed, one line per record: time, level (coloured on a
terminal), source (root topic and logger name, ``[subtopic]``, file:line
when known), message. A traceback or other multi-line text follows on
indented lines. Control characters from the wire are shown escaped, so a
publisher cannot drive the terminal. Ctrl-C (SIGINT) and SIGTERM stop it
with status 0 and no traceback; a closed stdout (``| head``) stops it too.

Runs on one thread: an asyncio loop, with the signals delivered to it.
Also runnable as ``python -m tzmq.log.watch``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import signal
import sys
import time
from collections.abc import Callable, Sequence
from typing import TextIO

import zmq

from .watcher import LogWatcher, parse_level

__all__ = ["ConsoleFormatter", "main"]

_RESET = "\033[0m"
# Levels at or above each threshold get its colour.
_COLOURS = [
    (logging.CRITICAL, "\033[1;31m"),
    (logging.ERROR, "\033[31m"),
    (logging.WARNING, "\033[33m"),
    (logging.INFO, "\033[32m"),
    (logging.NOTSET, "\033[2m"),
]
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _escape(text: str) -> str:
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


class ConsoleFormatter(logging.Formatter):
    """One line per record (continuation lines indented), optionally coloured.

    >>> record = logging.makeLogRecord({"name": "db", "levelno": 30,
    ...     "levelname": "WARNING", "msg": "slow", "created": 0.0, "msecs": 0.0})
    >>> ConsoleFormatter().format(record)[12:]
    ' WARNING  db: slow'
    """

    def __init__(self, colour: bool = False) -> None:
        super().__init__()
        self.colour = colour

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        level = f"{record.levelname:<8}"
        if self.colour:
            code = next(code for threshold, code in _COLOURS if record.levelno >= threshold)
            level = f"{code}{level}{_RESET}"
        source = record.name
        root = getattr(record, "root_topic", "")
        if root and root != source:
            # Structured records name their logger; the root tells publishers apart.
            source = f"{root} {source}"
        subtopic = getattr(record, "subtopic", "")
        if subtopic:
            source += f" [{subtopic}]"
        if record.filename and record.lineno:
            source += f" {record.filename}:{record.lineno}"
        text = record.getMessage()
        if record.exc_text:
            text = f"{text}\n{record.exc_text}"
        if record.stack_info:
            text = f"{text}\n{record.stack_info}"
        first, *rest = _escape(text.rstrip("\n")).split("\n")
        lines = [f"{stamp}.{int(record.msecs):03d} {level} {_escape(source)}: {first}"]
        lines.extend(f"    {line}" for line in rest)
        return "\n".join(lines)


class _Console(logging.Handler):
    """Writes each record and flushes, so a pipe reader sees it at once."""

    def __init__(self, stream: TextIO, on_closed: Callable[[], None]) -> None:
        super().__init__()
        self.stream = stream
        self.on_closed = on_closed

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.stream.write(self.format(record) + "\n")
            self.stream.flush()
        except BrokenPipeError:
            self.on_closed()
        except Exception:
            self.handleError(record)


def _level(text: str) -> int:
    try:
        return parse_level(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"unknown level {text!r}") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tzmq-logs",
        description="Print the log records that tzmq or pyzmq PUBHandlers publish, live.",
        epilog="Example: tzmq-logs tcp://127.0.0.1:5555 --topic worker --level WARNING",
    )
    parser.add_argument(
        "addresses",
        nargs="+",
        metavar="ADDRESS",
        help="a publisher's address, e.g. tcp://host:port",
    )
    parser.add_argument(
        "--topic",
        "-t",
        dest="topics",
        action="append",
        metavar="T",
        help="receive only topics starting with T (root.LEVEL.subtopic); repeatable; default all",
    )
    parser.add_argument(
        "--level",
        "-l",
        type=_level,
        default=logging.NOTSET,
        metavar="L",
        help="print only records at level L or above (a name such as WARNING, or a number)",
    )
    parser.add_argument(
        "--bind",
        action="store_true",
        help="bind the addresses, for publishers that connect (default: connect)",
    )
    parser.add_argument(
        "--color",
        choices=["auto", "always", "never"],
        default="auto",
        help="colour the level; auto (default): when stdout is a terminal and NO_COLOR is unset",
    )
    return parser


def _use_colour(choice: str, stream: TextIO) -> bool:
    if choice != "auto":
        return choice == "always"
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return stream.isatty()


async def _watch(options: argparse.Namespace) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, stop.set)
        except NotImplementedError:  # Windows: no loop signal handlers
            signal.signal(signum, lambda *_: loop.call_soon_threadsafe(stop.set))

    def stdout_closed() -> None:
        # The reader went away (| head): nothing more to print, and the
        # interpreter's last flush of stdout must not fail either.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        stop.set()

    console = _Console(sys.stdout, stdout_closed)
    console.setFormatter(ConsoleFormatter(_use_colour(options.color, sys.stdout)))
    # Outside the logging tree: remote records reach this console and nothing else.
    output = logging.Logger("tzmq-logs")
    output.addHandler(console)
    topics = options.topics if options.topics is not None else [""]
    watcher = LogWatcher(topics=topics, level=options.level, logger=output)
    try:
        for address in options.addresses:
            try:
                if options.bind:
                    watcher.bind(address)
                else:
                    watcher.connect(address)
            except zmq.ZMQError as error:
                print(f"tzmq-logs: {address}: {error}", file=sys.stderr)
                return 1
        shown = ", ".join(repr(t) for t in topics) if topics != [""] else "all topics"
        verb = "bound to" if options.bind else "connected to"
        print(
            f"tzmq-logs: {verb} {' '.join(options.addresses)} ({shown}); Ctrl-C stops",
            file=sys.stderr,
            flush=True,
        )
        await stop.wait()
    finally:
        watcher.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``tzmq-logs`` with ``argv`` (default: the process's); return the exit status."""
    options = _parser().parse_args(argv)
    logging.basicConfig(format="tzmq-logs: %(levelname)s %(message)s", stream=sys.stderr)
    try:
        return asyncio.run(_watch(options))
    except KeyboardInterrupt:
        # Ctrl-C before the loop's handler was in place: still a clean stop.
        return 0


if __name__ == "__main__":
    sys.exit(main())
