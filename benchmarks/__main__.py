"""``python -m benchmarks [--quick] [--rounds N] [--only TEXT]``: the comparison table.

Runs every case in `benchmarks._cases` for each implementation, round-robin:
round r measures every implementation once, starting from a different one
each round, so slow drift in the machine hits them all alike. Each row is the
median of the rounds; an implementation whose round hit a time limit is not
measured again (its note says "x of n in T s"). The goals are information,
read against the floor rows of the same run (see `benchmarks._report`); the
yardstick that does not drift is ``python -m benchmarks.instructions``.
Exits 1 if a measurement failed (a timeout is not a failure: it is reported
as "x of n in T s"), 0 otherwise, goals met or not.

Thread-safety: a command-line entry point; runs on the main thread.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import logging
import os
import platform
import statistics
import sys
import time
from collections.abc import Sequence

import tornado
import zmq

import tzmq

from ._cases import CASES, Case
from ._harness import QUICK, Sample, Settings
from ._impls import FLOOR_OF, RAW, Impl, available, has_tzmq_future
from ._report import RATE, Row, format_row, header, summarise
from .jupyter import JupyterRow, measure_jupyter, measure_output_flood


def _measure_case(case: Case, impls: list[Impl], settings: Settings) -> list[Row]:
    impls = [
        impl
        for impl in impls
        if (case.with_raw or impl.family != RAW) and (case.floors or not impl.floor)
    ]
    samples: dict[str, list[Sample]] = {impl.name: [] for impl in impls}
    errors: dict[str, str] = {}
    rounds = 1 if case.once else settings.rounds
    for round_index in range(rounds):
        shift = round_index % len(impls)
        for impl in impls[shift:] + impls[:shift]:
            taken = samples[impl.name]
            # One capped (partial) round says enough; repeating it only burns minutes.
            if impl.name in errors or (taken and taken[-1].partial):
                continue
            gc.collect()
            try:
                taken.append(case.measure(impl, settings))
            except Exception as error:
                errors[impl.name] = f"{type(error).__name__}: {error}"
    raw = samples.get("raw")
    raw_value = statistics.median(sample.value for sample in raw) if raw else 0.0
    rows = []
    for impl in impls:
        got = tuple(samples[impl.name]) or (Sample(0.0, 0, 0, 0.0),)
        row = Row(
            case.label,
            impl.name,
            case.unit,
            got,
            None,
            case.goals.get(impl.name),
            errors.get(impl.name, ""),
        )
        if raw_value and not row.error and row.value:
            row = dataclasses.replace(row, ratio=row.value / raw_value)
        rows.append(row)
    return rows


class _ExpectedNoise(logging.Filter):
    """Drops the warnings a benchmark provokes on purpose by closing a stream
    with sends still queued (the memory case, a capped drain)."""

    _MESSAGES = ("Got events for closed stream", "ZMQStream closed with")

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self._MESSAGES)


def _settings(args: argparse.Namespace) -> Settings:
    settings = QUICK if args.quick else Settings()
    if args.rounds is not None:
        settings = dataclasses.replace(settings, rounds=args.rounds)
    return settings


def _load() -> str:
    return f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"


def _describe(settings: Settings) -> str:
    future = "" if has_tzmq_future() else " (future-socket rows: tzmq.Socket not there yet)"
    return (
        f"tzmq {tzmq.__version__} | pyzmq {zmq.__version__} (libzmq {zmq.zmq_version()}) | "
        f"tornado {tornado.version} | Python {platform.python_version()}{future}\n"
        f"median of {settings.rounds} interleaved rounds; backlog {settings.backlog:,}, "
        f"live {settings.live:,}, send {settings.send:,} msgs; echo {settings.echo:,} round "
        f"trips; {settings.queued:,} queued 1 KiB sends, drain capped at {settings.drain_cap:g} s\n"
        f"vs raw: rate / raw rate ({RATE}), time / raw time (us/rt); memory is tracemalloc "
        f"of the queuing loop minus the 1057 B payload objects\n"
        f"at start: {_load()} (other work on the machine shows up as spread)"
    )


def _print_jupyter(settings: Settings) -> None:
    """The real-world rows: Jupyter on pyzmq's stream vs on tzmq's (issues 8 and 14)."""
    rounds = min(settings.rounds, 3)
    quick = settings is QUICK
    print(
        f"\nreal world: Jupyter, {rounds} interleaved rounds, tcp://127.0.0.1 and a websocket",
        flush=True,
    )
    measured = measure_jupyter(rounds=rounds, round_trips=30 if quick else 300)
    flood = measure_output_flood(rounds=rounds, lines=10_000 if quick else 100_000)
    rows: list[JupyterRow | str] = [measured] if isinstance(measured, str) else [*measured]
    rows.append(flood)
    for row in rows:
        if isinstance(row, str):
            print(f"  {row}", flush=True)
            continue
        print(
            f"  {row.label:<38} pyzmq {row.pyzmq:8.2f} {row.unit:<6} "
            f"tzmq {row.tzmq:8.2f} {row.unit:<6} tzmq {row.ratio:.2f}x better",
            flush=True,
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="tzmq vs raw blocking pyzmq vs pyzmq's Tornado layers, interleaved.",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, one round (smoke run)")
    parser.add_argument("--rounds", type=int, help="rounds per case (default 5, --quick 1)")
    parser.add_argument("--only", metavar="TEXT", help="run only cases whose name contains TEXT")
    parser.add_argument(
        "--jupyter",
        choices=("auto", "yes", "no"),
        default="auto",
        help="the real Jupyter rows (auto: in a full run, not with --quick or --only)",
    )
    args = parser.parse_args(argv)
    if args.rounds is not None and args.rounds < 1:
        parser.error("--rounds must be at least 1")
    settings = _settings(args)
    cases = [case for case in CASES if args.only is None or args.only in case.label]
    with_jupyter = args.jupyter == "yes" or (
        args.jupyter == "auto" and not args.quick and args.only is None
    )
    if not cases and not with_jupyter:
        parser.error(f"no case name contains {args.only!r}")
    impls = available()
    for name in ("tornado.general", "tzmq.stream"):
        logging.getLogger(name).addFilter(_ExpectedNoise())

    started = time.perf_counter()
    print(_describe(settings), flush=True)
    print(header(), flush=True)
    rows: list[Row] = []
    for case in cases:
        case_rows = _measure_case(case, impls, settings)
        for index, row in enumerate(case_rows):
            print(format_row(row, first=index == 0), flush=True)
        rows += case_rows
    if with_jupyter:
        _print_jupyter(settings)
    print()
    for line in summarise(rows, FLOOR_OF):
        print(line)
    print(f"total {time.perf_counter() - started:.0f} s; at end: {_load()}")
    return 1 if any(row.error for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
