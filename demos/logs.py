"""Logs: worker processes publish their `logging` with PUBHandler; a LogWatcher collects it.

The collector binds one `tzmq.log.LogWatcher` on 127.0.0.1 and re-emits every
record into a local logger, as if it had been logged here: same logger name,
level, time, file, line, thread and exception text (``structured=True``).

Each worker is a separate process that connects to the collector and logs
from two threads (`PUBHandler` is safe from any thread). Two details make
"every record arrives" a guarantee rather than a hope:

* PUB/SUB drops what is published before the subscriber's subscription has
  reached the publisher. The worker publishes on an XPUB, which delivers
  subscriptions to its owner: it waits for the collector's before logging.
* A PUB also drops silently at its high-water mark. With ``XPUB_NODROP`` the
  socket refuses instead, and the handler counts the record in ``dropped``;
  the worker reports that count and fails if it is not zero.

The demo checks that every record of every worker arrived exactly once, each
thread's in order, with its level, logger, source line and traceback.

Run it::

    python -m demos.logs                                       # the demo
    tzmq-logs --bind tcp://127.0.0.1:5557 &                    # or watch live,
    python -m demos.logs --role worker --collector tcp://127.0.0.1:5557 --name worker-1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import threading
import time
from collections import defaultdict
from typing import Any

import zmq

from demos._procs import Children
from demos._result import DemoResult, run_on_new_loop
from tzmq.log import LogWatcher, PUBHandler

THREADS = ("main", "helper")
LEVELS = (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR)


# -- the worker side ----------------------------------------------------------------


def _log_jobs(log: logging.Logger, thread: str, records: int) -> None:
    for seq in range(records):
        # "job::" makes "job" the record's subtopic: worker-1.INFO.job
        log.log(LEVELS[seq % len(LEVELS)], "job::%s finished job %d", thread, seq,
                extra={"seq": seq, "job_thread": thread})  # fmt: skip


def run_worker(collector: str, name: str, records: int, timeout: float) -> dict[str, Any]:
    """Log ``records`` records from each of two threads, then one with a traceback.

    Returns what was logged and dropped; ``subscribed`` is False if no
    collector showed up within ``timeout`` seconds (then nothing is logged).
    """
    ctx: zmq.Context[Any] = zmq.Context()
    pub = ctx.socket(zmq.XPUB)
    pub.setsockopt(zmq.XPUB_NODROP, 1)
    pub.linger = int(timeout * 1000)  # on close, queued records get this long to leave
    pub.connect(collector)
    report: dict[str, Any] = {"name": name, "subscribed": False, "logged": 0, "dropped": 0}
    try:
        if not pub.poll(timeout * 1000):
            return report
        pub.recv()  # b"\x01" + topic: the collector's subscription has arrived
        report["subscribed"] = True
        handler = PUBHandler(pub, root_topic=name, structured=True)
        log = logging.getLogger("demos.logs.worker")
        log.setLevel(logging.DEBUG)
        log.propagate = False
        log.addHandler(handler)
        try:
            helper = threading.Thread(target=_log_jobs, args=(log, THREADS[1], records))
            helper.start()
            _log_jobs(log, THREADS[0], records)
            helper.join()
            try:
                raise ConnectionError("the database went away")
            except ConnectionError:
                log.exception("job::giving up", extra={"seq": -1, "job_thread": "main"})
        finally:
            log.removeHandler(handler)
            handler.close()  # the socket is ours: the handler leaves it open
        report["logged"] = 2 * records + 1
        report["dropped"] = handler.dropped
    finally:
        pub.close()
        ctx.term()
    return report


# -- the collector side and the demo ------------------------------------------------


class _Keep(logging.Handler):
    """Keeps every record it handles, and resolves a future at ``expected`` of them."""

    def __init__(self, expected: int) -> None:
        super().__init__(logging.NOTSET)
        self.records: list[logging.LogRecord] = []
        self.expected = expected
        self.all_in: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        if len(self.records) >= self.expected and not self.all_in.done():
            self.all_in.set_result(None)


def _check(records: list[logging.LogRecord], names: list[str], per_thread: int) -> list[str]:
    problems: list[str] = []
    seqs: dict[tuple[str, str], list[Any]] = defaultdict(list)
    tracebacks: dict[str, list[str]] = defaultdict(list)
    for record in records:
        fields = vars(record)  # the watcher's topic attributes and the workers' extras
        worker, seq = fields.get("root_topic", "?"), fields.get("seq")
        if seq == -1:
            tracebacks[worker].append(record.exc_text or "")
            continue
        seqs[(worker, fields.get("job_thread", "?"))].append(seq)
        source = (record.name, fields.get("subtopic"), record.funcName)
        if source != ("demos.logs.worker", "job", "_log_jobs"):
            problems.append(f"{worker} record {seq} came from {source}")
        if not isinstance(seq, int) or record.levelno != LEVELS[seq % len(LEVELS)]:
            problems.append(f"{worker} record {seq} has level {record.levelname}")
    for name in names:
        for thread in THREADS:
            if seqs.get((name, thread)) != list(range(per_thread)):
                got = len(seqs.get((name, thread), []))
                problems.append(f"{name}/{thread}: {got} of {per_thread} records, or out of order")
        texts = tracebacks.get(name, [])
        if len(texts) != 1 or "ConnectionError: the database went away" not in texts[0]:
            problems.append(f"{name}: the traceback did not arrive once")
    return problems


async def _demo(workers: int, records: int, timeout: float) -> tuple[int, list[str]]:
    names = [f"worker-{i}" for i in range(workers)]
    expected = workers * (2 * records + 1)
    keep = _Keep(expected)
    collected = logging.getLogger("demos.logs.collected")
    collected.propagate = False  # counted here, not printed
    collected.setLevel(logging.DEBUG)
    collected.addHandler(keep)
    watcher = LogWatcher(topics=["worker"], logger=collected)
    problems: list[str] = []
    try:
        address = watcher.bind("tcp://127.0.0.1:*")
        async with Children() as children:
            for name in names:
                args = ("--collector", address, "--name", name, "--records", str(records))
                await children.start(name, "demos.logs", "--role", "worker", *args, output=True)
            outputs = await asyncio.gather(*(children.output(n, timeout) for n in names))
            try:
                await asyncio.wait_for(keep.all_in, timeout)
            except TimeoutError:
                problems.append(f"{len(keep.records)} of {expected} records arrived")
        for name, (code, out) in zip(names, outputs, strict=True):
            report = json.loads(out.strip().splitlines()[-1]) if out.strip() else {}
            if code != 0 or report.get("dropped") != 0 or not report.get("subscribed"):
                problems.append(f"{name} exited {code}: {report or 'no report'}")
        problems += _check(keep.records, names, records)
        if watcher.rejected:
            problems.append(f"the watcher rejected {watcher.rejected} messages")
    finally:
        watcher.close()
        collected.removeHandler(keep)
    return len(keep.records), problems


def run_demo(workers: int = 4, records: int = 100, timeout: float = 15.0) -> DemoResult:
    """Start ``workers`` processes logging ``records`` records per thread; check them all."""
    if workers < 1 or records < 1:
        raise ValueError("workers and records must be >= 1")
    started = time.perf_counter()
    count, problems = run_on_new_loop(lambda: _demo(workers, records, timeout), timeout + 10)
    detail = "; ".join(problems) or (
        f"{workers} processes x 2 threads x {records} records + tracebacks, none lost"
    )
    return DemoResult("logs", count, time.perf_counter() - started, not problems, detail)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m demos.logs",
        description="Worker processes log through PUBHandler; a LogWatcher collects every record.",
    )
    parser.add_argument("--role", choices=("demo", "worker"), default="demo")
    parser.add_argument("--collector", default="tcp://127.0.0.1:5557", help="worker: where to")
    parser.add_argument("--name", default="worker-0", help="worker: its root topic")
    parser.add_argument("--workers", type=int, default=4, help="demo: worker processes")
    parser.add_argument("--records", type=int, default=100, help="records per thread")
    parser.add_argument("--timeout", type=float, default=15.0, help="seconds before giving up")
    args = parser.parse_args(argv)
    if args.role == "worker":
        report = run_worker(args.collector, args.name, args.records, args.timeout)
        print(json.dumps(report), flush=True)
        return 0 if report["subscribed"] and report["dropped"] == 0 else 1
    result = run_demo(args.workers, args.records, args.timeout)
    print(result)
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
