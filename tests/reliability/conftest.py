"""Fixtures for the reliability suite: a log of what the loop complained about, and the
figures printed at the end of the run."""

from __future__ import annotations

import gc
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest

from .figures import FIGURES


class Complaints(logging.Handler):
    """Every record at WARNING or above, from any logger, while a test runs."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def unexpected(self, *allowed: str) -> list[str]:
        """Records not matching one of the ``allowed`` regexes (tracebacks never are)."""
        gc.collect()  # "exception was never retrieved" is logged when a future is collected
        bad = []
        for record in self.records:
            message = record.getMessage()
            if record.exc_info is None and any(re.search(a, message) for a in allowed):
                continue
            bad.append(f"{record.name} {record.levelname}: {message} exc={record.exc_info!r}")
        return bad

    def assert_clean(self, *allowed: str) -> None:
        """Nothing logged at WARNING+ but the ``allowed`` messages, and no traceback."""
        bad = self.unexpected(*allowed)
        assert not bad, bad


@pytest.fixture
def complaints() -> Iterator[Complaints]:
    handler = Complaints()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if FIGURES.empty():
        return
    terminalreporter.section("reliability figures")
    for line in FIGURES.lines():
        terminalreporter.write_line(line)
