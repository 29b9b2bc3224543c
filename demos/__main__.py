"""`make demo`: run every demo end to end on 127.0.0.1 and print what happened.

Prints one row per demo (demo, messages, time, result) and exits 0 only if
every check passed. A demo that raises is reported as FAILED with the error and
the others still run.

    python -m demos                  # all of them
    python -m demos --only kernel    # just one (or several)
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

from demos import broker, discovery, echo, kernel, logs, rpc, secure, web_bridge
from demos._result import DemoResult

DEMOS: dict[str, Callable[[], list[DemoResult]]] = {
    "echo": lambda: [echo.run_demo(api="stream"), echo.run_demo(api="coroutine")],
    "broker": lambda: [broker.run_demo()],
    "web_bridge": lambda: [web_bridge.run_demo()],
    "kernel": lambda: [kernel.run_demo()],
    "secure": lambda: [secure.run_demo()],
    "logs": lambda: [logs.run_demo()],
    "rpc": lambda: [rpc.run_demo()],
    "discovery": lambda: [discovery.run_demo()],
}


def _run(name: str, run: Callable[[], list[DemoResult]]) -> list[DemoResult]:
    started = time.perf_counter()
    try:
        return run()
    except Exception as error:  # one broken demo must not hide the others' results
        seconds = time.perf_counter() - started
        return [DemoResult(name, 0, seconds, False, f"{type(error).__name__}: {error}")]


def print_table(results: list[DemoResult]) -> None:
    width = max(len("demo"), *(len(r.name) for r in results))
    print(f"{'demo':<{width}}  {'messages':>8}  {'time':>8}  result")
    for r in results:
        verdict = "ok" if r.ok else "FAILED"
        line = f"{r.name:<{width}}  {r.messages:>8}  {r.seconds:>7.2f}s  {verdict}"
        print(f"{line:<{width + 30}}  {r.detail}".rstrip())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m demos",
        description="Run tzmq's demos end to end on 127.0.0.1; exit 0 only if all checks pass.",
    )
    parser.add_argument("--only", nargs="+", choices=list(DEMOS), help="run just these demos")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    results: list[DemoResult] = []
    for name in args.only or DEMOS:
        results.extend(_run(name, DEMOS[name]))
    print_table(results)
    passed = sum(r.ok for r in results)
    print(f"{passed}/{len(results)} passed in {time.perf_counter() - started:.1f}s")
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
