"""Broker: a load-balancing broker that retries a dead worker's requests elsewhere.

Clients (DEALER) send requests to the broker's frontend (ROUTER); workers
(DEALER) connect to its backend (ROUTER) and announce ``READY`` with how many
requests they take at once. The broker hands each request to the worker that
has waited longest for one, and remembers which requests each worker holds.
Workers and broker exchange heartbeats; a worker silent for ``liveness``
heartbeats is declared dead and the requests it held go back to the front of
the queue, to be served by another worker. Every request gets exactly one
reply: a late reply from a worker declared dead is dropped, never forwarded.

The broker and the workers are callback code on `tzmq.ZMQStream`; the clients
are coroutines on `tzmq.Context` sockets. The demo runs the broker in this
process and the workers and clients as separate processes, kills one worker
(SIGKILL) right after the broker hands it a request, and checks that every
client got exactly one correct reply per request.

Wire protocol (frames), with the ROUTER's identity frame first on the broker side::

    client -> broker   request_id, body
    broker -> client   request_id, worker_name, reply
    worker -> broker   READY capacity | HEARTBEAT | REPLY client request_id reply
    broker -> worker   REQUEST client request_id body | HEARTBEAT | RESET | DISCONNECT

Run it::

    python -m demos.broker                       # the whole demo
    python -m demos.broker --role broker --frontend tcp://127.0.0.1:5555 \\
        --backend tcp://127.0.0.1:5556           # or each role on its own
    python -m demos.broker --role worker --backend tcp://127.0.0.1:5556 --name w1
    python -m demos.broker --role client --frontend tcp://127.0.0.1:5555 --name c1
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import signal
import time
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import zmq
from tornado.ioloop import PeriodicCallback

import tzmq
from demos._procs import Children
from demos._result import DemoResult, run_on_new_loop

READY, HEARTBEAT, REPLY = b"READY", b"HEARTBEAT", b"REPLY"
REQUEST, RESET, DISCONNECT = b"REQUEST", b"RESET", b"DISCONNECT"

HEARTBEAT_SECONDS = 0.1
LIVENESS = 5  # heartbeats a peer may miss before it is declared dead


@dataclass
class Request:
    """One client request as the broker holds it."""

    client: bytes
    request_id: bytes
    body: bytes
    workers: list[bytes] = field(default_factory=list)  # every worker it was handed to


@dataclass
class _Worker:
    name: bytes
    expires: float
    in_flight: dict[tuple[bytes, bytes], Request] = field(default_factory=dict)


@dataclass
class BrokerStats:
    """What the broker did: requests in and out, dead workers, retries, dropped messages."""

    received: int = 0
    replied: int = 0
    dead: list[bytes] = field(default_factory=list)
    retried: list[Request] = field(default_factory=list)
    late: int = 0
    malformed: int = 0


class Broker:
    """The broker's state machine, wired to a frontend and a backend ROUTER stream.

    ``on_dispatch(worker, request)`` is called after each hand-off (the demo
    uses it to pick the moment to kill a worker). `close` tells live workers
    to disconnect and closes both streams.
    """

    def __init__(
        self,
        frontend: tzmq.ZMQStream,
        backend: tzmq.ZMQStream,
        *,
        heartbeat: float = HEARTBEAT_SECONDS,
        liveness: int = LIVENESS,
        on_dispatch: Callable[[bytes, Request], None] | None = None,
    ) -> None:
        self.frontend, self.backend = frontend, backend
        self.stats = BrokerStats()
        self._expiry = heartbeat * liveness
        self._on_dispatch = on_dispatch
        self._workers: dict[bytes, _Worker] = {}
        self._credits: deque[bytes] = deque()  # one entry per free slot, oldest first
        self._queue: deque[Request] = deque()
        frontend.on_recv(self._on_client)
        backend.on_recv(self._on_worker)
        self._closed = False
        self._pulse = PeriodicCallback(self._heartbeat, heartbeat * 1000)
        self._pulse.start()

    def in_flight(self, worker: bytes) -> list[Request]:
        """The requests ``worker`` holds now (empty if it is unknown or dead)."""
        known = self._workers.get(worker)
        return list(known.in_flight.values()) if known else []

    def _on_client(self, msg: list[bytes]) -> None:
        if len(msg) != 3:
            self.stats.malformed += 1
            return
        self.stats.received += 1
        self._queue.append(Request(msg[0], msg[1], msg[2]))
        self._dispatch()

    def _on_worker(self, msg: list[bytes]) -> None:
        name, command, args = msg[0], msg[1] if len(msg) > 1 else b"", msg[2:]
        worker = self._workers.get(name)
        if command == READY and len(args) == 1 and args[0].isdigit() and len(args[0]) <= 3:
            if worker is not None:  # it restarted: what it held is lost with it
                self._bury(worker, dead=False)
            self._workers[name] = _Worker(name, time.monotonic() + self._expiry)
            self._credits.extend([name] * max(1, int(args[0])))
        elif worker is None:
            # Declared dead but alive after all: its requests went elsewhere.
            # Tell it to start afresh rather than trust its slots.
            if command == REPLY:
                self.stats.late += 1
            self.backend.send_multipart([name, RESET])
            return
        elif command == HEARTBEAT and not args:
            worker.expires = time.monotonic() + self._expiry
        elif command == REPLY and len(args) == 3:
            worker.expires = time.monotonic() + self._expiry
            request = worker.in_flight.pop((args[0], args[1]), None)
            if request is None:
                self.stats.late += 1
                return
            self.frontend.send_multipart([request.client, request.request_id, name, args[2]])
            self.stats.replied += 1
            self._credits.append(name)
        else:
            self.stats.malformed += 1
            return
        self._dispatch()

    def _dispatch(self) -> None:
        while self._queue and self._credits:
            worker = self._workers.get(self._credits.popleft())
            if worker is None:
                continue  # a credit left by a worker that has since died
            request = self._queue.popleft()
            request.workers.append(worker.name)
            worker.in_flight[(request.client, request.request_id)] = request
            self.backend.send_multipart(
                [worker.name, REQUEST, request.client, request.request_id, request.body]
            )
            if self._on_dispatch is not None:
                self._on_dispatch(worker.name, request)

    def _bury(self, worker: _Worker, dead: bool = True) -> None:
        """Forget ``worker``; the requests it held go back to the front of the queue."""
        del self._workers[worker.name]
        self._credits = deque(c for c in self._credits if c != worker.name)
        held = list(worker.in_flight.values())
        self._queue.extendleft(reversed(held))
        self.stats.retried.extend(held)
        if dead:
            self.stats.dead.append(worker.name)

    def _heartbeat(self) -> None:
        now = time.monotonic()
        for worker in [w for w in self._workers.values() if w.expires < now]:
            self._bury(worker)
        for name in self._workers:
            self.backend.send_multipart([name, HEARTBEAT])
        self._dispatch()

    def close(self) -> None:
        """Tell every live worker to disconnect, then close both streams. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._pulse.stop()
        for name in self._workers:
            self.backend.send_multipart([name, DISCONNECT])
        self.backend.close(linger=500)
        self.frontend.close(linger=0)


class Worker:
    """A worker on a DEALER stream: squares numbers, ``capacity`` at a time.

    The work takes ``work_seconds`` (a timer, so heartbeats keep flowing while
    it runs). ``done`` resolves with the exit code: 0 when the broker says
    DISCONNECT, 1 when the broker has been silent too long.
    """

    def __init__(
        self,
        stream: tzmq.ZMQStream,
        *,
        capacity: int = 2,
        work_seconds: float = 0.01,
        heartbeat: float = HEARTBEAT_SECONDS,
        liveness: int = LIVENESS * 4,
    ) -> None:
        self.stream = stream
        self.capacity = capacity
        self.work_seconds = work_seconds
        self.served = 0
        self.done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._expiry = heartbeat * liveness
        self._broker_expires = time.monotonic() + self._expiry
        self._working: dict[int, object] = {}  # timeout handles of requests in progress
        self._ids = itertools.count()
        stream.on_recv(self._on_message)
        self._pulse = PeriodicCallback(self._heartbeat, heartbeat * 1000)
        self._pulse.start()
        self._ready()

    def _ready(self) -> None:
        self.stream.send_multipart([READY, b"%d" % self.capacity])

    def _on_message(self, msg: list[bytes]) -> None:
        self._broker_expires = time.monotonic() + self._expiry
        if msg[0] == REQUEST and len(msg) == 4:
            key = next(self._ids)
            loop = self.stream.io_loop
            self._working[key] = loop.call_later(self.work_seconds, self._finish, key, *msg[1:])
        elif msg[0] == RESET:
            for handle in self._working.values():
                self.stream.io_loop.remove_timeout(handle)
            self._working.clear()
            self._ready()
        elif msg[0] == DISCONNECT:
            self._stop(0)

    def _finish(self, key: int, client: bytes, request_id: bytes, body: bytes) -> None:
        del self._working[key]
        # Bounded: int() refuses over 4300 digits, and squaring a huge one is slow.
        ok = body.isdigit() and len(body) <= 100
        result = b"%d" % (int(body) ** 2) if ok else b"not a number up to 100 digits"
        self.stream.send_multipart([REPLY, client, request_id, result])
        self.served += 1

    def _heartbeat(self) -> None:
        if time.monotonic() > self._broker_expires:
            self._stop(1)
        else:
            self.stream.send_multipart([HEARTBEAT])

    def _stop(self, code: int) -> None:
        self._pulse.stop()
        for handle in self._working.values():
            self.stream.io_loop.remove_timeout(handle)
        self._working.clear()
        if not self.done.done():
            self.done.set_result(code)


@dataclass
class ClientReport:
    """What one client saw: which worker answered each request, and what went wrong."""

    name: str
    requests: int
    sent: int = 0
    served_by: dict[str, str] = field(default_factory=dict)
    duplicates: int = 0
    wrong: int = 0

    @property
    def ok(self) -> bool:
        """Every request sent and answered once, correctly."""
        answered = len(self.served_by)
        return self.sent == answered == self.requests and not (self.duplicates or self.wrong)


def client_body(name: str, i: int) -> bytes:
    """The number client ``name`` sends as request ``i``.

    Distinct across clients, so a reply routed to the wrong client is caught.
    """
    return b"%d" % (zlib.crc32(name.encode()) * 1000 + i)


async def run_client(
    sock: tzmq.Socket, name: str, requests: int, window: int, timeout: float
) -> ClientReport:
    """Send ``requests`` requests, ``window`` in flight; check each reply is the square."""
    report = ClientReport(name, requests)
    bodies = {b"%d" % i: client_body(name, i) for i in range(requests)}
    in_flight = asyncio.Semaphore(window)

    async def send_all() -> None:
        for request_id, body in bodies.items():
            await in_flight.acquire()
            await sock.send_multipart([request_id, body])
            report.sent += 1

    async def receive_all() -> None:
        while len(report.served_by) < requests:
            msg = await sock.recv_multipart()
            if len(msg) != 3 or msg[0] not in bodies:
                report.wrong += 1
                continue
            request_id, worker, reply = msg
            key = request_id.decode()
            if key in report.served_by:
                report.duplicates += 1
                continue
            if reply != b"%d" % (int(bodies[request_id]) ** 2):
                report.wrong += 1
                continue
            report.served_by[key] = worker.decode()
            in_flight.release()

    sender = asyncio.ensure_future(send_all())
    try:
        with contextlib.suppress(asyncio.TimeoutError):  # the report shows the shortfall
            await asyncio.wait_for(receive_all(), timeout)
    finally:
        sender.cancel()
    return report


async def _demo(
    clients: int, workers: int, requests: int, kill: bool, timeout: float
) -> tuple[int, list[str], str]:
    """Run the whole demo; return (requests answered, problems, summary)."""
    ctx: zmq.Context[Any] = zmq.Context()
    total = clients * requests
    victim: list[tuple[bytes, list[Request]]] = []
    broker: Broker | None = None
    try:
        async with Children() as children:

            def kill_one(worker: bytes, request: Request) -> None:
                # Kill right after a hand-off, a third of the way in: the
                # request just sent (and any other the worker holds) is in flight.
                assert broker is not None
                if kill and not victim and broker.stats.replied >= total // 3:
                    victim.append((worker, broker.in_flight(worker)))
                    children.kill(worker.decode())

            frontend = tzmq.ZMQStream(ctx.socket(zmq.ROUTER))
            backend = tzmq.ZMQStream(ctx.socket(zmq.ROUTER))
            front = f"tcp://127.0.0.1:{frontend.bind_to_random_port('tcp://127.0.0.1')}"
            back = f"tcp://127.0.0.1:{backend.bind_to_random_port('tcp://127.0.0.1')}"
            broker = Broker(frontend, backend, on_dispatch=kill_one)
            role = ("demos.broker", "--role")
            args: tuple[str, ...]
            for i in range(workers):
                args = ("--backend", back, "--name", f"worker-{i}", "--lifetime", str(timeout))
                await children.start(f"worker-{i}", *role, "worker", *args)
            names = [f"client-{i}" for i in range(clients)]
            for name in names:
                args = ("--frontend", front, "--name", name, "--requests", str(requests))
                args += ("--timeout", str(timeout))
                await children.start(name, *role, "client", *args, output=True)
            outputs = await asyncio.gather(*(children.output(n, timeout) for n in names))
            broker.close()  # DISCONNECT: the surviving workers exit 0
            codes = {f"worker-{i}": await children.wait(f"worker-{i}", 2.0) for i in range(workers)}
    finally:
        if broker is not None:
            broker.close()
        ctx.destroy(linger=0)
    return _judge(broker.stats, dict(zip(names, outputs, strict=True)), codes, victim, total, kill)


def _judge(
    stats: BrokerStats,
    outputs: dict[str, tuple[int | None, str]],
    worker_codes: dict[str, int | None],
    victim: list[tuple[bytes, list[Request]]],
    total: int,
    kill: bool,
) -> tuple[int, list[str], str]:
    problems: list[str] = []
    served_by: dict[tuple[str, str], str] = {}
    for name, (code, out) in outputs.items():
        lines = out.strip().splitlines()
        if code is None or not lines:
            problems.append(f"{name} did not finish" if code is None else f"{name} exited {code}")
            continue
        report = ClientReport(**json.loads(lines[-1]))
        if code != 0 or not report.ok:
            problems.append(
                f"{report.name}: {len(report.served_by)}/{report.requests} answered, "
                f"{report.duplicates} duplicated, {report.wrong} wrong"
            )
        served_by.update(((report.name, k), w) for k, w in report.served_by.items())
    if stats.replied != total or len(served_by) != total:
        problems.append(f"{len(served_by)} of {total} requests answered")
    summary = f"{total} requests, none lost or duplicated"
    killed = victim[0][0].decode() if victim else None
    if kill and killed is None:
        problems.append("no worker was killed")
    elif killed is not None:
        held = victim[0][1]
        retried = [r for r in stats.retried if killed.encode() in r.workers]
        again = {served_by.get((r.client.decode(), r.request_id.decode())) for r in retried}
        if killed.encode() not in stats.dead:
            problems.append(f"{killed} was killed but never declared dead")
        if not held or not retried or killed in again or None in again:
            problems.append(f"{killed}'s requests were not all retried elsewhere")
        elsewhere = "/".join(sorted(w for w in again if w))
        summary = f"killed {killed} holding {len(held)}, {len(retried)} retried on {elsewhere}; "
        summary += f"{total} requests, none lost or duplicated"
    expected = {name: -signal.SIGKILL if name == killed else 0 for name in worker_codes}
    if worker_codes != expected:
        problems.append(f"worker exit codes {worker_codes}")
    return len(served_by), problems, summary


def run_demo(
    clients: int = 3,
    workers: int = 3,
    requests: int = 100,
    kill: bool = True,
    timeout: float = 20.0,
) -> DemoResult:
    """Run broker, ``workers`` workers and ``clients`` clients; kill one worker on the way."""
    if min(clients, workers, requests) < 1 or (kill and workers < 2):
        raise ValueError("need >= 1 client, request and worker (>= 2 workers to kill one)")
    started = time.perf_counter()
    answered, problems, summary = run_on_new_loop(
        lambda: _demo(clients, workers, requests, kill, timeout), timeout + 15
    )
    seconds = time.perf_counter() - started
    return DemoResult("broker", answered, seconds, not problems, "; ".join(problems) or summary)


# -- the roles, each runnable on its own -------------------------------------------


async def _serve_broker(frontend: str, backend: str) -> None:
    ctx: zmq.Context[Any] = zmq.Context()
    front = tzmq.ZMQStream(ctx.socket(zmq.ROUTER))
    back = tzmq.ZMQStream(ctx.socket(zmq.ROUTER))
    front.bind(frontend)
    back.bind(backend)
    broker = Broker(front, back)
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopped.set)
    try:
        await stopped.wait()
    finally:
        broker.close()
        ctx.term()


async def _serve_worker(backend: str, name: str, capacity: int, lifetime: float) -> int:
    ctx: zmq.Context[Any] = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.routing_id = name.encode()
    stream = tzmq.ZMQStream(sock)
    stream.connect(backend)
    worker = Worker(stream, capacity=capacity)
    try:
        return await asyncio.wait_for(worker.done, lifetime)
    except TimeoutError:
        return 2
    finally:
        stream.close(linger=0)
        ctx.term()


async def _serve_client(
    frontend: str, name: str, requests: int, window: int, timeout: float
) -> ClientReport:
    ctx = tzmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.routing_id = name.encode()
    sock.connect(frontend)
    try:
        return await run_client(sock, name, requests, window, timeout)
    finally:
        sock.close(linger=0)
        ctx.term()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m demos.broker",
        description="A load-balancing broker that retries a dead worker's requests elsewhere.",
    )
    parser.add_argument("--role", choices=("demo", "broker", "worker", "client"), default="demo")
    parser.add_argument("--frontend", default="tcp://127.0.0.1:5555", help="clients' endpoint")
    parser.add_argument("--backend", default="tcp://127.0.0.1:5556", help="workers' endpoint")
    parser.add_argument("--name", default="client-0", help="worker or client name (unique)")
    parser.add_argument("--clients", type=int, default=3, help="demo: client processes")
    parser.add_argument("--workers", type=int, default=3, help="demo: worker processes")
    parser.add_argument("--requests", type=int, default=100, help="requests per client")
    parser.add_argument("--window", type=int, default=10, help="client: requests in flight")
    parser.add_argument("--capacity", type=int, default=2, help="worker: requests at once")
    parser.add_argument("--no-kill", action="store_true", help="demo: do not kill a worker")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds before giving up")
    parser.add_argument("--lifetime", type=float, default=3600.0, help="worker: max seconds")
    args = parser.parse_args(argv)
    if args.role == "demo":
        result = run_demo(args.clients, args.workers, args.requests, not args.no_kill, args.timeout)
        print(result)
        return 0 if result.ok else 1
    if args.role == "broker":
        run_on_new_loop(lambda: _serve_broker(args.frontend, args.backend), timeout=None)
        return 0
    if args.role == "worker":
        return run_on_new_loop(
            lambda: _serve_worker(args.backend, args.name, args.capacity, args.lifetime),
            timeout=args.lifetime + 5,
        )
    report = run_on_new_loop(
        lambda: _serve_client(args.frontend, args.name, args.requests, args.window, args.timeout),
        timeout=args.timeout + 5,
    )
    print(json.dumps(report.__dict__), flush=True)
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
