"""``python -m benchmarks.instructions``: instructions per message, a yardstick that does not drift.

Each (case, implementation) pair runs in a child process under valgrind's
callgrind (`benchmarks._callgrind`), each run with a fresh context and
fresh sockets, counted apart. The child first runs the case three times to
calibrate (a warm-up, for Python specialises its bytecode on first use; then
n and 2n messages), and from what those cost it sizes N1 and N2 so that the
N2 - N1 messages hold ~60 M instructions, or what fits in a minute under
valgrind for a case that waits on timers. Each pair of runs (N1, N2) then
gives one estimate, ``(I(N2) - I(N1)) / (N2 - N1)``: start-up, imports and
set-up cancel out. Pairs run until two or more estimates agree within 0.5 %
(at most four); the row is their median, with their spread beside it.
Callgrind counts every thread and runs one at a time, handing over at system
calls, so where a peer thread takes part the hand-overs race with the
kernel's wake-ups; and code paced by the clock (timers, sweeps, a batch
budget in microseconds) runs ~50x slower under it than natively. Those are
what spreads. Before each
run the collector is emptied and frozen, so a full collection of everything
imported falls in no run.

Waiting costs no instructions, so the wake-up cases also run natively (no
valgrind) and report microseconds per round trip: a layer that leaves a
message for a safety sweep shows there, not in the count.

Cases, all over inproc, reuse the bodies of `make bench`:
`benchmarks.receive` (a backlog), `benchmarks.send` (to a counting thread),
`benchmarks.echo` (a blocking DEALER client thread) and `benchmarks.wakeup`,
with HWM 0 and the implementations of `benchmarks._impls`, every floor
included, read against raw pyzmq; and `benchmarks.rpc` (``add(i, 1)``, its
client and server on one loop, so a call's count covers both ends), with
tzmq.rpc's two codecs read against aiozmq.rpc.

Usage::

    python -m benchmarks.instructions                      # every case, a few minutes
    python -m benchmarks.instructions --only "echo" --impl raw --impl tzmq.Socket
    python -m benchmarks.instructions --only rpc

Thread-safety: a command-line entry point on the main thread; it runs its
children from a small pool of threads, each waiting for its own child.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import tornado
import zmq

import tzmq

from . import echo, receive, rpc, send, wakeup
from ._callgrind import count, counted, mark, valgrind_version
from ._harness import Sample, Settings
from ._impls import FLOOR_FRAMES, FLOOR_OF, TZMQ_SOCKET, TZMQ_STREAM, Impl, available
from ._report import columns

__all__ = ["main"]

ROOT = Path(__file__).resolve().parent.parent
STABLE = 0.005
"""The most two estimates of one row may differ by, as a fraction of their mean."""

_CHILD = "--run-child"
_CHILD_SETTINGS = Settings(timeout=60.0)
"""Bounds inside a child: callgrind runs code ~50x slower than native."""
_VALGRIND_LIMIT = 600.0
_ENOUGH = 60e6
"""Instructions the N2 - N1 messages should hold: a run's fixed part (set-up,
teardown, timers) varies by ~0.1 M instructions from one run to the next."""
_BUDGET = 60.0
"""Seconds the four counted runs may take under valgrind (a case stalled on
timers gets fewer messages, not minutes)."""
_MIN_DELTA = 20
_MAX_PAIRS = 4
_QUICK = (3e6, 10.0)
"""``_ENOUGH`` and ``_BUDGET`` of a smoke run."""
_NATIVE_LIMIT = 120.0
_NATIVE_RUNS = (10, 100)
_QUICK_NATIVE_RUNS = (5, 20)


@dataclass(frozen=True)
class _Case:
    label: str
    run: Callable[[Impl, int, Settings], Sample]
    calibrate: int
    """Messages (or round trips) of the first calibration run; the child sizes
    N1 and N2 from what the calibration runs cost."""
    wall: bool = False
    """Also timed natively: a wake-up pattern."""
    impls: Callable[[], list[Impl]] = available
    reference: str = "raw"
    """The row the others are read against ("vs ref")."""
    enough: float = _ENOUGH
    """Instructions the N2 - N1 messages should hold."""


def _backlog(msg: str, impl: Impl, n: int, s: Settings) -> Sample:
    return receive.backlog(impl, dataclasses.replace(s, backlog=n), msg, "inproc")


def _send(impl: Impl, n: int, s: Settings) -> Sample:
    return send.throughput(impl, dataclasses.replace(s, send=n), "16B", "inproc", unbounded=True)


def _echo(impl: Impl, n: int, s: Settings) -> Sample:
    return echo.echo(impl, dataclasses.replace(s, echo=n, echo_warmup=10), "inproc")


def _round_trips(
    body: Callable[[Impl, Settings], Sample], impl: Impl, n: int, s: Settings
) -> Sample:
    return body(impl, dataclasses.replace(s, echo=n))


def _rpc_impls() -> list[Impl]:
    """tzmq.rpc's two codecs and aiozmq.rpc (when installed), each ``factory`` a set-up."""
    setups = rpc.implementations()
    return [Impl(name, "rpc", setups[name]) for name in setups if name != rpc.REQUEST_CLIENT]


def _rpc_calls(window: int, impl: Impl, n: int, s: Settings) -> Sample:
    return rpc.calls_on_fresh_loop(impl.factory, n, window, s.timeout)


def _rpc_case(label: str, window: int, calibrate: int) -> _Case:
    # A tzmq.rpc run's fixed part moves by ~0.5 M instructions (the streams'
    # batch budget and sweep are paced by the clock): with three times the
    # usual calls, two estimates agree within STABLE.
    return _Case(
        label,
        partial(_rpc_calls, window),
        calibrate,
        impls=_rpc_impls,
        reference="aiozmq.rpc",
        enough=3 * _ENOUGH,
    )


CASES = [
    _Case("receive backlog 16B", partial(_backlog, "16B"), 100),
    _Case("receive backlog 3x200B", partial(_backlog, "3x200B"), 100),
    _Case("send 16B", _send, 100),
    _Case("echo 16B", _echo, 50),
    _Case("REP reply next turn", partial(_round_trips, wakeup.rep_next_turn), 20, wall=True),
    _Case(
        "DEALER coroutine req/rep", partial(_round_trips, wakeup.dealer_coroutine), 20, wall=True
    ),
    _rpc_case("rpc add, 1 at a time", 1, 50),
    _rpc_case(f"rpc add, {rpc.WINDOW} in flight", rpc.WINDOW, 200),
]


# --- the child: runs one case for one implementation, prints what it did ---------------------


class _Stalled(Exception):
    """A run hit its time limit: the child reports what it has."""


class _Runner:
    """Runs one case for one implementation, each run ended by a `mark`."""

    def __init__(self, case: _Case, impl: Impl) -> None:
        self._case = case
        self._impl = impl
        self.runs: list[list[float]] = []
        """[messages asked, messages done, seconds] per run."""
        self.marks = 0

    def mark(self) -> int:
        """End the current segment; its number, for `counted`."""
        mark()
        self.marks += 1
        return self.marks - 1

    def __call__(self, n: int) -> int:
        """Run the case with ``n`` messages; the number of its segment."""
        sample = self._case.run(self._impl, n, _CHILD_SETTINGS)
        # The run's own garbage is part of its cost; everything older is
        # frozen, so no run pays for a full collection of the imports.
        gc.collect()
        gc.freeze()
        segment = self.mark()
        self.runs.append([n, sample.done, sample.seconds])
        if sample.partial:
            raise _Stalled
        return segment


def _spread(estimates: list[float]) -> float:
    return (max(estimates) - min(estimates)) / statistics.median(estimates)


def _calibrated(run: _Runner, n: int, enough: float, budget: float) -> tuple[int, list[float]]:
    """N2 - N1 and the estimates of instructions per message.

    Three calibration runs size N1 and N2; then pairs of runs (N1, N2), each
    giving one estimate, until two or more agree within `STABLE` or
    `_MAX_PAIRS` were run. Reading callgrind's files has segments of its own.
    """
    run(n)  # a warm-up: Python specialises its bytecode on first use
    short = run(n)
    long = run(2 * n)
    per_message = max((counted(long) - counted(short)) / n, 1.0)
    seconds = max(run.runs[-1][2] / (2 * n), 1e-6)
    delta = max(_MIN_DELTA, int(min(enough / per_message, budget / (3 * seconds))))
    n1 = max(delta // 4, n)
    run.mark()
    estimates: list[float] = []
    while len(estimates) < _MAX_PAIRS:
        short, long = run(n1), run(n1 + delta)
        estimates.append((counted(long) - counted(short)) / delta)
        run.mark()
        if len(estimates) > 1 and _spread(estimates) <= STABLE:
            break
    return delta, estimates


def _child(label: str, impl_name: str, runs: list[int] | None, limits: list[float]) -> int:
    """Runs ``runs`` (natively), or calibrated runs within ``limits`` (under callgrind)."""
    case = next(case for case in CASES if case.label == label)
    impl = next(impl for impl in case.impls() if impl.name == impl_name)
    run = _Runner(case, impl)
    report: dict[str, Any] = {"error": "", "stalled": False, "tzmq": tzmq.__file__}
    gc.collect()
    gc.freeze()
    run.mark()
    try:
        if runs is not None:
            for n in runs:
                run(n)
        else:
            report["delta"], report["estimates"] = _calibrated(run, case.calibrate, *limits)
    except _Stalled:
        report["stalled"] = True
    except Exception as failure:
        report["error"] = f"{type(failure).__name__}: {failure}"
    report["runs"] = run.runs
    print(json.dumps(report), flush=True)
    return 1 if report["error"] else 0


# --- the parent: runs the children, reads their counts, prints the table ----------------------


@dataclass
class _Row:
    case: str
    impl: str
    per_message: float | None = None
    spread: float | None = None
    wall: float | None = None
    """Natively measured microseconds per round trip (wake-up cases)."""
    note: str = ""
    failed: bool = False
    delta: int = 0
    """N2 - N1."""
    pairs: int = 0
    """Estimates made (pairs of runs N1, N2)."""


def _child_argv(case: _Case, impl: Impl, *options: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "benchmarks.instructions",
        _CHILD,
        case.label,
        impl.name,
        *options,
    ]


def _outcome(stdout: str) -> tuple[dict[str, Any], str]:
    """The child's report, and what went wrong ("" when nothing did)."""
    lines = stdout.strip().splitlines()
    if not lines:
        return {}, "the child printed nothing"
    try:
        report: dict[str, Any] = json.loads(lines[-1])
    except ValueError:
        return {}, f"the child printed no report: {lines[-1][:200]}"
    if report["tzmq"] != tzmq.__file__:
        return {}, f"the child imported another tzmq: {report['tzmq']}"
    if report["error"]:
        return report, report["error"]
    if report["stalled"]:
        asked, done, seconds = report["runs"][-1]
        return report, f"timeout: {done:.0f} of {asked:.0f} in {seconds:.1f} s"
    return report, ""


def _tracebacks(stderr: str) -> str:
    found = stderr.count("Traceback (most recent call last)")
    return f"; {found} tracebacks logged" if found else ""


def _counted(case: _Case, impl: Impl, limits: tuple[float, float]) -> _Row:
    row = _Row(case.label, impl.name)
    argv = _child_argv(case, impl, "--limits", ",".join(map(str, limits)))
    counted = count(argv, ROOT, _VALGRIND_LIMIT)
    if counted.returncode is None:
        row.note, row.failed = f"timeout: no result in {_VALGRIND_LIMIT:.0f} s", True
        return row
    report, problem = _outcome(counted.stdout)
    row.note = problem + _tracebacks(counted.stderr)
    if problem:
        row.failed = not problem.startswith("timeout")
        return row
    estimates: list[float] = report["estimates"]
    row.delta = report["delta"]
    row.per_message = statistics.median(estimates)
    row.spread = _spread(estimates)
    row.pairs = len(estimates)
    if row.spread > STABLE:
        row.note = f"UNSTABLE: {row.pairs} estimates spread {row.spread * 100:.2f} %" + row.note
    return row


def _timed(case: _Case, impl: Impl, runs: tuple[int, int]) -> tuple[float | None, str]:
    """Natively measured microseconds per round trip, or None and why not."""
    try:
        result = subprocess.run(
            _child_argv(case, impl, "--runs", ",".join(map(str, runs))),
            capture_output=True,
            text=True,
            timeout=_NATIVE_LIMIT,
            check=False,
            cwd=ROOT,
        )
    except subprocess.TimeoutExpired:
        return None, f"native: timeout, no result in {_NATIVE_LIMIT:.0f} s"
    report, problem = _outcome(result.stdout)
    _, done, seconds = report["runs"][-1] if report.get("runs") else (0, 0, 0.0)
    if problem and not (problem.startswith("timeout") and done):
        return None, f"native: {problem}"
    # A capped run still says how long each of its round trips took.
    return seconds / done * 1e6, f"native {problem}" if problem else ""


def _number(value: float) -> str:
    return f"{value / 1000:.1f}k" if value >= 1000 else f"{value:.0f}"


def _ratio(row: _Row, rows: dict[str, _Row], reference: str | None) -> str:
    other = rows.get(reference) if reference else None
    if other is None or not other.per_message or row.per_message is None:
        return ""
    return f"{row.per_message / other.per_message:.2f}"


_COLUMNS = (
    ("case", 25, "<"),
    ("impl", 18, "<"),
    ("instr/msg", 9, ">"),
    ("vs ref", 6, ">"),
    ("vs frames", 9, ">"),
    ("vs bare", 7, ">"),
    ("repeat", 10, ">"),
    ("N2-N1", 6, ">"),
    ("wall us/rt", 10, ">"),
    ("note", 0, "<"),
)


def _line(cells: Sequence[str]) -> str:
    return columns(_COLUMNS, cells)


def _format(row: _Row, rows: dict[str, _Row], first: bool, reference: str) -> str:
    tzmq_row = row.impl in (TZMQ_STREAM, TZMQ_SOCKET)
    return _line(
        [
            row.case if first else "",
            row.impl,
            "error" if row.failed else (_number(row.per_message) if row.per_message else "-"),
            _ratio(row, rows, reference),
            _ratio(row, rows, FLOOR_FRAMES) if tzmq_row else "",
            _ratio(row, rows, FLOOR_OF.get(row.impl)) if tzmq_row else "",
            "" if row.spread is None else f"{row.spread * 100:.2f}% ({row.pairs})",
            str(row.delta or ""),
            "" if row.wall is None else f"{row.wall:.1f}",
            row.note,
        ]
    )


def _matrix(table: list[tuple[_Case, dict[str, _Row]]]) -> list[str]:
    """The compact form: one line per case, instructions per message (ratio to its
    reference); a new table wherever the implementations change."""
    lines: list[str] = []
    names: list[str] = []
    for case, rows in table:
        if list(rows) != names:
            names = list(rows)
            lines += ["", "| case | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
        cells = []
        for name in names:
            row = rows.get(name)
            if row is None or row.per_message is None:
                cells.append("-" if row is None else "error" if row.failed else "timeout")
                continue
            ratio = _ratio(row, rows, case.reference)
            cells.append(_number(row.per_message) + (f" ({ratio})" if ratio else ""))
        lines.append(f"| {case.label} | " + " | ".join(cells) + " |")
    return lines


def _environment(valgrind: str) -> str:
    commit = subprocess.run(
        ["git", "-C", str(Path(tzmq.__file__).parent), "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return (
        f"tzmq {tzmq.__version__} at {Path(tzmq.__file__).parent} (git {commit or 'unknown'})\n"
        f"Python {platform.python_version()} | pyzmq {zmq.__version__} (libzmq "
        f"{zmq.zmq_version()}) | tornado {tornado.version} | {valgrind}"
    )


def _measure(case: _Case, impls: list[Impl], quick: bool, jobs: int) -> dict[str, _Row]:
    limits = _QUICK if quick else (case.enough, _BUDGET)
    native = _QUICK_NATIVE_RUNS if quick else _NATIVE_RUNS
    rows: dict[str, _Row] = {}
    if case.wall:
        # Natively, one at a time, before any valgrind child loads the machine.
        walls = {impl.name: _timed(case, impl, native) for impl in impls}
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        counted = list(pool.map(lambda impl: _counted(case, impl, limits), impls))
    for impl, row in zip(impls, counted, strict=True):
        if case.wall:
            row.wall, wall_note = walls[impl.name]
            row.note = "; ".join(note for note in (row.note, wall_note) if note)
        rows[impl.name] = row
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.instructions",
        description="Instructions per message under callgrind: tzmq vs raw pyzmq, pyzmq's "
        "Tornado layers and the floors; per call, tzmq.rpc vs aiozmq.rpc.",
    )
    parser.add_argument("--only", metavar="TEXT", help="run only cases whose name contains TEXT")
    parser.add_argument(
        "--impl",
        metavar="TEXT",
        action="append",
        help="run only implementations whose name contains TEXT (repeatable; "
        "ratios need their reference row: raw or aiozmq.rpc, floor: frames, "
        "floor: stream/future)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="tiny N1 and N2: a smoke run, not a measurement"
    )
    parser.add_argument("--jobs", type=int, default=2, help="children at once (default 2)")
    parser.add_argument(_CHILD, nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--runs", help=argparse.SUPPRESS)
    parser.add_argument("--limits", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.run_child:
        label, impl_name = args.run_child
        if args.runs:
            return _child(label, impl_name, [int(n) for n in args.runs.split(",")], [])
        return _child(label, impl_name, None, [float(v) for v in args.limits.split(",")])
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    chosen = {
        case: [
            impl
            for impl in case.impls()
            if not args.impl or any(text in impl.name for text in args.impl)
        ]
        for case in CASES
        if args.only is None or args.only in case.label
    }
    if not any(chosen.values()):
        parser.error("no case or no implementation matches --only / --impl")
    valgrind = valgrind_version()
    if valgrind is None:
        print("valgrind is not installed: apt-get install valgrind (make bench-instructions does)")
        return 2

    started = time.perf_counter()
    print(_environment(valgrind), flush=True)
    print(
        "instructions per message (per call for rpc) = (I(N2) - I(N1)) / (N2 - N1), all "
        f"threads, inproc; repeat: spread of the estimates, (pairs of runs N1, N2); up to "
        f"{_MAX_PAIRS} pairs run while they spread more than {STABLE * 100:.1f} %, and the row "
        "is their median\nvs ref: over raw pyzmq (rpc cases: over aiozmq.rpc); vs frames / vs "
        "bare: tzmq rows over the frames floor and over the bare floor of their kind; "
        "wall us/rt: native, wake-up cases only\n",
        flush=True,
    )
    print(_line([name for name, _, _ in _COLUMNS]), flush=True)
    table: list[tuple[_Case, dict[str, _Row]]] = []
    for case, impls in chosen.items():
        if not impls:
            continue
        rows = _measure(case, impls, args.quick, args.jobs)
        table.append((case, rows))
        for index, row in enumerate(rows.values()):
            print(_format(row, rows, index == 0, case.reference), flush=True)
    for line in _matrix(table):
        print(line)
    every = [row for _, rows in table for row in rows.values()]
    unstable = sum(1 for row in every if row.note.startswith("UNSTABLE"))
    print(
        f"\n{len(every)} rows, {sum(row.failed for row in every)} failed, {unstable} unstable; "
        f"total {time.perf_counter() - started:.0f} s",
        flush=True,
    )
    return 1 if any(row.failed for row in every) else 0


if __name__ == "__main__":
    sys.exit(main())
