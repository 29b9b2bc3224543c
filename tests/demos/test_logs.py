"""The logs demo: every record from every worker process arrives, and the check is strict."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from demos import logs as demo


def test_demo_collects_every_record() -> None:
    result = demo.run_demo(workers=2, records=30, timeout=10)
    assert result.ok, result
    assert result.messages == 2 * (2 * 30 + 1)


def _record(worker: str, thread: str, seq: int, **fields: Any) -> logging.LogRecord:
    level = demo.LEVELS[seq % len(demo.LEVELS)] if seq >= 0 else logging.ERROR
    base = {
        "name": "demos.logs.worker", "levelno": level, "levelname": logging.getLevelName(level),
        "funcName": "_log_jobs", "root_topic": worker, "subtopic": "job",
        "job_thread": thread, "seq": seq, "msg": "m",
    }  # fmt: skip
    return logging.makeLogRecord({**base, **fields})


def _complete(per_thread: int) -> list[logging.LogRecord]:
    records = [_record("w", t, i) for t in demo.THREADS for i in range(per_thread)]
    trace = "Traceback ...\nConnectionError: the database went away"
    return [*records, _record("w", "main", -1, exc_text=trace)]


def test_check_accepts_a_complete_set() -> None:
    assert demo._check(_complete(3), ["w"], 3) == []


@pytest.mark.parametrize(
    ("spoil", "problem"),
    [
        (lambda r: r.pop(1), "w/main: 2 of 3 records"),
        (lambda r: r.insert(0, r.pop(1)), "out of order"),
        (lambda r: r.append(r[0]), "w/main: 4 of 3 records"),
        (lambda r: r.pop(), "traceback did not arrive"),
        (lambda r: setattr(r[0], "levelno", logging.CRITICAL), "has level"),
        (lambda r: setattr(r[0], "name", "other"), "came from"),
    ],
)
def test_check_catches_what_went_wrong(spoil: Any, problem: str) -> None:
    records = _complete(3)
    spoil(records)
    assert any(problem in p for p in demo._check(records, ["w"], 3))


def test_a_worker_with_no_collector_logs_nothing_and_fails(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["--role", "worker", "--collector", "tcp://127.0.0.1:1", "--timeout", "0.2"]
    assert demo.main(args) == 1
    report = json.loads(capsys.readouterr().out)
    assert report == {"name": "worker-0", "subscribed": False, "logged": 0, "dropped": 0}
