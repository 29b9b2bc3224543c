"""The tzmq-logs command, run as a subprocess against a live publisher on 127.0.0.1."""

from __future__ import annotations

import contextlib
import queue
import re
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zmq

from tests.log.helpers import fresh_logger, lineno
from tzmq.log import PUBHandler

# A fresh interpreter imports tornado and zmq first: allow for a slow machine.
START_MS = 15000
LINE_WAIT = 5.0


class Command:
    """A running tzmq-logs, its output read line by line with bounded waits."""

    def __init__(self, argv: list[str], read_stdout: bool = True) -> None:
        self.proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stderr: list[str] = []
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._readers = [threading.Thread(target=self._read_stderr)]
        if read_stdout:
            self._readers.append(threading.Thread(target=self._read_stdout))
        for reader in self._readers:
            reader.start()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line.rstrip("\n"))

    def line(self) -> str:
        try:
            line = self.lines.get(timeout=LINE_WAIT)
        except queue.Empty:
            raise AssertionError(f"no output line in {LINE_WAIT}s; stderr: {self.stderr}") from None
        assert line is not None, f"output ended; stderr: {self.stderr}"
        return line

    def stop(self, signum: int | None = signal.SIGINT) -> int:
        if signum is not None and self.proc.poll() is None:
            self.proc.send_signal(signum)
        try:
            status = self.proc.wait(timeout=LINE_WAIT)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            for reader in self._readers:
                reader.join(LINE_WAIT)
            assert self.proc.stdout is not None and self.proc.stderr is not None
            if not self.proc.stdout.closed:
                self.proc.stdout.close()
            self.proc.stderr.close()
        return status


@pytest.fixture
def commands() -> Iterator[list[Command]]:
    """Every command a test starts is stopped, whatever happens."""
    started: list[Command] = []
    yield started
    for command in started:
        if command.proc.poll() is None:
            command.stop(signal.SIGKILL)


def start(commands: list[Command], argv: list[str], read_stdout: bool = True) -> Command:
    command = Command(argv, read_stdout)
    commands.append(command)
    return command


def module_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "tzmq.log.watch", *args]


def subscribed(xpub: zmq.Socket[Any], command: Command, topics: list[bytes]) -> None:
    """Wait until the command's subscriptions reached the publisher."""
    missing = set(topics)
    deadline = time.monotonic() + START_MS / 1000
    while missing:
        left_ms = int((deadline - time.monotonic()) * 1000)
        assert left_ms > 0 and xpub.poll(left_ms), f"not subscribed; stderr: {command.stderr}"
        event = xpub.recv()
        if event[:1] == b"\x01":
            missing.discard(event[1:])


def test_prints_records_live_and_stops_on_sigint(
    xpub: zmq.Socket[Any], commands: list[Command]
) -> None:
    address = xpub.last_endpoint.decode()
    command = start(commands, module_argv(address, "--topic", "app", "--level", "INFO"))
    subscribed(xpub, command, [b"app"])
    app = PUBHandler(xpub, root_topic="app")
    other = PUBHandler(xpub, root_topic="other")
    log = fresh_logger("tzmq.test.command", app)
    fresh_logger("tzmq.test.command.other", other).error("not subscribed")
    log.debug("below --level")
    log.info("héllo ✓ %d", 1)
    line = lineno() + 1
    log.warning("db.pool::careful")
    try:
        raise RuntimeError("kaput")
    except RuntimeError:
        log.exception("failed")
        error_line = lineno() - 1
    log.error("escape \x1b[2J attempt")
    stamp = r"\d\d:\d\d:\d\d\.\d{3}"
    assert re.fullmatch(f"{stamp} INFO     app: héllo ✓ 1", command.line())
    assert re.fullmatch(
        rf"{stamp} WARNING  app \[db\.pool\] test_watch_command\.py:{line}: careful",
        command.line(),
    )
    assert re.fullmatch(
        rf"{stamp} ERROR    app test_watch_command\.py:{error_line}: failed", command.line()
    )
    traceback = [command.line()]
    while not traceback[-1].startswith("    RuntimeError") and len(traceback) < 10:
        traceback.append(command.line())
    assert traceback[0] == "    Traceback (most recent call last):"
    assert traceback[-1] == "    RuntimeError: kaput"
    assert command.line().endswith(": escape \\x1b[2J attempt")
    assert command.stop(signal.SIGINT) == 0
    assert command.stderr[0].startswith(f"tzmq-logs: connected to {address} ('app')")
    assert not any("Traceback" in line for line in command.stderr), command.stderr
    app.close()
    other.close()


def test_console_script_colours_and_stops_on_sigterm(
    xpub: zmq.Socket[Any], commands: list[Command]
) -> None:
    script = Path(sys.executable).with_name("tzmq-logs")
    assert script.exists(), "pip install -e . installs the tzmq-logs script"
    command = start(commands, [str(script), xpub.last_endpoint.decode(), "--color", "always"])
    subscribed(xpub, command, [b""])
    handler = PUBHandler(xpub, root_topic="svc", structured=True)
    log = fresh_logger("tzmq.test.colour", handler)
    line = lineno() + 1
    log.info("green")
    log.log(25, "custom")
    log.critical("red")
    source = f"svc tzmq.test.colour test_watch_command.py:{line}"
    assert command.line().endswith(f" \x1b[32mINFO    \x1b[0m {source}: green")
    assert "\x1b[32mLevel 25\x1b[0m" in command.line()
    assert "\x1b[1;31mCRITICAL\x1b[0m" in command.line()
    assert command.stop(signal.SIGTERM) == 0
    assert not any("Traceback" in line for line in command.stderr), command.stderr
    handler.close()


def test_garbage_is_reported_and_the_command_goes_on(
    xpub: zmq.Socket[Any], commands: list[Command]
) -> None:
    command = start(commands, module_argv(xpub.last_endpoint.decode(), "--color", "never"))
    subscribed(xpub, command, [b""])
    xpub.send_multipart([b"one frame"])
    xpub.send_multipart([b"app.INFO", b'{"tzmq.log":1,"broken'])
    xpub.send_multipart([b"app.INFO", b"after the garbage\n"])
    line = command.line()
    assert line.endswith(" INFO     app: after the garbage")
    assert "\x1b" not in line
    assert command.stop() == 0
    warnings = [line for line in command.stderr if "not a log record" in line]
    assert warnings and warnings[0].startswith("tzmq-logs: WARNING dropped a message")
    assert not any("Traceback" in line for line in command.stderr), command.stderr


def test_stops_quietly_when_stdout_is_closed(
    xpub: zmq.Socket[Any], commands: list[Command]
) -> None:
    """Like `tzmq-logs ... | head -1`."""
    command = start(commands, module_argv(xpub.last_endpoint.decode()), read_stdout=False)
    subscribed(xpub, command, [b""])
    handler = PUBHandler(xpub)
    log = fresh_logger("tzmq.test.head", handler)
    log.info("first")
    assert command.proc.stdout is not None
    ready, _, _ = select.select([command.proc.stdout], [], [], LINE_WAIT)
    assert ready, "no output"
    assert command.proc.stdout.readline().endswith("first\n")
    command.proc.stdout.close()
    deadline = time.monotonic() + LINE_WAIT
    while command.proc.poll() is None and time.monotonic() < deadline:
        log.info("more")  # the command's next write finds the pipe closed
        with contextlib.suppress(subprocess.TimeoutExpired):
            command.proc.wait(timeout=0.05)
    assert command.stop(None) == 0
    assert not any("Traceback" in line or "Exception" in line for line in command.stderr), (
        command.stderr
    )
    handler.close()


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        (["no-such-transport://x"], 1, "tzmq-logs: no-such-transport://x: "),
        (["tcp://127.0.0.1:1", "--level", "LOUD"], 2, "unknown level 'LOUD'"),
        ([], 2, "the following arguments are required: ADDRESS"),
    ],
)
def test_bad_arguments_exit_with_a_message(
    commands: list[Command], args: list[str], status: int, message: str
) -> None:
    command = start(commands, module_argv(*args))
    assert command.stop(None) == status
    assert any(message in line for line in command.stderr), command.stderr
    assert not any("Traceback" in line for line in command.stderr), command.stderr
