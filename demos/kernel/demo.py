"""The kernel demo: a kernel, a client that finds it by its connection file, and checks.

Runs in one process on one IOLoop (the kernel on ZMQStream callbacks, the
client on coroutine sockets; they share nothing but the connection file and
TCP on 127.0.0.1). Each step checks the reply and the iopub messages it caused.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

import zmq

import tzmq
from demos._result import DemoResult, run_on_new_loop
from demos.kernel.client import KernelClient
from demos.kernel.service import Kernel, log
from demos.kernel.wire import Message, Session


def _types(iopub: list[Message]) -> list[str]:
    return [m.msg_type for m in iopub]


def _output(iopub: list[Message], msg_type: str, key: str) -> list[Any]:
    return [m.content.get(key) for m in iopub if m.msg_type == msg_type]


def _result(iopub: list[Message]) -> list[str]:
    return [data.get("text/plain") for data in _output(iopub, "execute_result", "data")]


class _Checks:
    def __init__(self) -> None:
        self.problems: list[str] = []
        self.received = 0
        self.requests = 0

    def count(self, reply: Message, iopub: list[Message]) -> None:
        self.requests += 1
        self.received += 1 + len(iopub)

    def expect(self, condition: bool, what: str) -> None:
        if not condition:
            self.problems.append(what)


async def _steps(client: KernelClient, kernel: Kernel, timeout: float, checks: _Checks) -> None:
    expect = checks.expect
    info = await client.wait_for_ready(timeout)
    checks.requests += 1
    checks.received += 1
    expect(info.content.get("protocol_version") == "5.3", f"kernel_info: {info.content}")

    reply, iopub = await client.execute("1 + 2", timeout)
    checks.count(reply, iopub)
    busy_idle = ["status", "execute_input", "execute_result", "status"]
    expect(_types(iopub) == busy_idle, f"1 + 2 published {_types(iopub)}")
    expect(_result(iopub) == ["3"] and reply.content["status"] == "ok", "1 + 2 is not 3")

    reply, iopub = await client.execute("x = 6 * 7\nprint(x, x / 4)\nx ** 2 - 1", timeout)
    checks.count(reply, iopub)
    expect(_output(iopub, "stream", "text") == ["42 10.5\n"], "print(x, x / 4) did not print")
    expect(_result(iopub) == ["1763"], f"x ** 2 - 1 gave {_result(iopub)}")
    expect(reply.content.get("execution_count") == 2, "execution_count is not 2")

    for code, ename in (("__import__('os').system('echo pwned')", "SandboxError"),
                        ("1 / 0", "ZeroDivisionError")):  # fmt: skip
        reply, iopub = await client.execute(code, timeout)
        checks.count(reply, iopub)
        expect(reply.content.get("ename") == ename, f"{code} replied {reply.content}")
        expect(_output(iopub, "error", "ename") == [ename], f"{code} published {_types(iopub)}")

    # A message signed with the wrong key: rejected and logged, never run.
    forger = Session(os.urandom(32).hex().encode())
    forged = forger.message("execute_request", {"code": "x = 0"})
    await client.send_frames("shell", forger.serialize(forged))
    # A correctly signed message sent twice: the replay is rejected too.
    once = client.session.message("execute_request", {"code": "x = x + 1"})
    frames = client.session.serialize(once)
    for _ in range(2):
        await client.send_frames("shell", frames)
    reply, iopub = await client.execute("x", timeout)
    checks.count(reply, iopub)
    expect(_result(iopub) == ["43"], f"x is {_result(iopub)} after a forgery and a replay")
    answered = [m.parent_id for m in client.skipped]
    expect(forged.msg_id not in answered, "the forged message got a reply")
    expect(answered.count(once.msg_id) == 1, "the replayed message did not run exactly once")
    checks.received += len(client.skipped)
    expect(kernel.core.rejected == 2, f"the kernel rejected {kernel.core.rejected}, not 2")

    expect(await client.ping(b"ping", timeout) == b"ping", "heartbeat did not echo")
    checks.received += 1

    reply, iopub = await client.request("control", "kernel_info_request", timeout=timeout)
    checks.count(reply, iopub)
    expect(reply.content.get("status") == "ok", "kernel_info on control failed")
    reply, iopub = await client.request("control", "shutdown_request", {"restart": False}, timeout)
    checks.count(reply, iopub)
    expect(reply.content == {"status": "ok", "restart": False}, f"shutdown: {reply.content}")
    expect(kernel.stopped.done(), "the kernel did not stop on shutdown_request")


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def _demo(timeout: float) -> tuple[int, list[str], str]:
    checks = _Checks()
    kernel_ctx: zmq.Context[Any] = zmq.Context()
    client_ctx = tzmq.Context()
    records = _Records()
    log.addHandler(records)
    propagate, log.propagate = log.propagate, False  # counted here, not printed
    kernel = client = None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            kernel = Kernel(kernel_ctx, key=os.urandom(32).hex().encode())
            path = kernel.write_connection_file(Path(tmp) / "kernel.json")
            checks.expect(path.stat().st_mode & 0o077 == 0, "the connection file is readable")
            client = KernelClient.from_connection_file(client_ctx, path)
            await _steps(client, kernel, timeout, checks)
        logged = [r.getMessage() for r in records.records]
        checks.expect(
            sum("bad signature" in m for m in logged) == 1
            and sum("replayed" in m for m in logged) == 1,
            f"rejections logged: {logged}",
        )
        checks.expect(client.rejected == 0, "the client rejected a message from the kernel")
    except TimeoutError:
        checks.problems.append("a step timed out")
    finally:
        log.removeHandler(records)
        log.propagate = propagate
        if client is not None:
            await client.close()
        if kernel is not None:
            kernel.close()
        client_ctx.term()
        kernel_ctx.term()
    summary = f"{checks.requests} requests and their iopub checked; forgery and replay refused"
    return checks.received, checks.problems, summary


def run_demo(timeout: float = 10.0) -> DemoResult:
    """Start a kernel, connect a client with the connection file, run and check each step."""
    started = time.perf_counter()
    received, problems, summary = run_on_new_loop(lambda: _demo(timeout), timeout + 5)
    detail = "; ".join(problems) or summary
    return DemoResult("kernel", received, time.perf_counter() - started, not problems, detail)


async def _serve(path: Path) -> None:
    ctx: zmq.Context[Any] = zmq.Context()
    kernel = Kernel(ctx, key=os.urandom(32).hex().encode())
    kernel.write_connection_file(path)
    print(f"kernel ready; connection file: {path} (Ctrl-C or shutdown_request to stop)")
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, kernel.stopped.cancel)
    try:
        await asyncio.wait([kernel.stopped])
    finally:
        kernel.close()
        ctx.term()
        path.unlink(missing_ok=True)


async def _run_client(path: Path, codes: list[str], shutdown: bool) -> int:
    ctx = tzmq.Context()
    client = KernelClient.from_connection_file(ctx, path)
    failed = 0
    try:
        await client.wait_for_ready(10)
        for code in codes:
            reply, iopub = await client.execute(code)
            for text in _output(iopub, "stream", "text"):
                print(text, end="")
            for result in _result(iopub):
                print(f"Out[{reply.content['execution_count']}]: {result}")
            if reply.content["status"] != "ok":
                failed += 1
                print(f"{reply.content['ename']}: {reply.content['evalue']}")
        if shutdown:
            await client.request("control", "shutdown_request", {"restart": False})
    finally:
        await client.close()
        ctx.term()
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m demos.kernel",
        description="A Jupyter-style kernel (signed wire protocol, arithmetic sandbox) and client.",
    )
    parser.add_argument("--role", choices=("demo", "kernel", "client"), default="demo")
    parser.add_argument("--connection-file", type=Path, default=Path("kernel-tzmq.json"))
    parser.add_argument("--code", action="append", default=[], help="client: a cell to run")
    parser.add_argument("--shutdown", action="store_true", help="client: stop the kernel after")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds before giving up")
    args = parser.parse_args(argv)
    if args.role == "kernel":
        logging.basicConfig(level=logging.INFO, format="%(name)s %(levelname)s %(message)s")
        run_on_new_loop(lambda: _serve(args.connection_file), timeout=None)
        return 0
    if args.role == "client":
        return run_on_new_loop(
            lambda: _run_client(args.connection_file, args.code, args.shutdown), timeout=60
        )
    result = run_demo(args.timeout)
    print(result)
    return 0 if result.ok else 1
