"""Discovery: a broker found by its beacon, workers tracked by theirs, a worker host going away.

The broker serves a `tzmq.devices.Proxy` (ROUTER frontend for clients, DEALER
backend for workers) and announces both by UDP beacon: ``BROKER <frontend
port> <backend port>``, from its own address. Workers and clients start with
no address: they wait for the announcement and connect. A connected worker
beacons ZRE for an inbox where it answers ``HELLO`` with its name; the broker
tracks workers with `tzmq.discovery.Peers` and greets each one that appears.

The demo runs every part as a process. Where it can (root, ``ip``), each runs
on a host of its own: a network namespace on a bridge, beacons broadcast
there; the namespaces are always removed after. Elsewhere all run on
127.0.0.1 with loopback multicast. A first round of clients is served by every
worker; then one worker host goes away (its cable unplugged, or on loopback
SIGKILLed), `Peers` reports it ``expired``, and a second round is served by the
others. Every request is answered once, with its square. ZMTP heartbeats on the
backend drop the connection to a silent host before its beacon expires, so no
request goes into it. Last, the proxy is asked for STATISTICS and TERMINATEd
over its control socket.

Wire protocol (frames)::

    client -> broker   request_id, number
    broker -> worker   client, request_id, number       (the ROUTER's envelope first)
    worker -> client   client, request_id, worker, square

Run it::

    python -m demos.discovery                        # the whole demo
    python -m demos.discovery --role broker          # or each part on its own,
    python -m demos.discovery --role worker --name w1   # in other shells or on
    python -m demos.discovery --role client --name c1   # other hosts (--target)

Thread-safety: each process runs on its IOLoop's thread only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import signal
import tempfile
import time
import uuid
from dataclasses import dataclass
from typing import Any

import zmq

import tzmq
from demos._netns import Network, enter_namespace, free_udp_port, network
from demos._procs import Children
from demos._result import DemoResult, run_on_new_loop
from demos.broker import ClientReport, run_client
from tzmq.devices import Proxy, ProxyStatistics
from tzmq.discovery import Beacon, Broadcast, Multicast, Peer, PeerEvent, Peers, ZreBeacon
from tzmq.stream import SocketMonitor

ANNOUNCE = b"BROKER "
HELLO = b"HELLO"
INTERVAL = 0.1  # seconds between beacons
EVASIVE = 0.4  # seconds of silence before a worker is evasive...
EXPIRED = 1.0  # ...and before it is gone
HEARTBEAT_MS = 100  # ZMTP heartbeats on the broker's backend: a silent peer's
HEARTBEAT_TIMEOUT_MS = 400  # connection is dropped well before its beacon expires
GREETING_TIMEOUT = 2.0
DEFAULT_TARGET = "multicast:239.255.86.1@127.0.0.1"
DEFAULT_PORT = 5671
MODES = ("auto", "netns", "loopback")


@dataclass(frozen=True)
class Announcement:
    """A broker as its beacon announces it: its address and its two ports."""

    address: str
    frontend_port: int
    backend_port: int

    @property
    def frontend(self) -> str:
        return f"tcp://{self.address}:{self.frontend_port}"

    @property
    def backend(self) -> str:
        return f"tcp://{self.address}:{self.backend_port}"

    def encode(self) -> bytes:
        return ANNOUNCE + b"%d %d" % (self.frontend_port, self.backend_port)

    @classmethod
    def parse(cls, sender: str, payload: bytes) -> Announcement:
        """The announcement in a beacon from ``sender``; `ValueError` if it is not one."""
        ports = re.fullmatch(re.escape(ANNOUNCE) + rb"(\d{1,5}) (\d{1,5})", payload)
        front, back = (int(p) for p in ports.groups()) if ports else (0, 0)
        if not (0 < front < 65536 and 0 < back < 65536):
            raise ValueError(f"not a broker announcement: {payload[:40]!r}")
        return cls(sender, front, back)


async def find_broker(beacon: Beacon, timeout: float) -> Announcement:
    """The first broker ``beacon`` hears announce itself; `TimeoutError` after ``timeout`` s."""
    beacon.subscribe(ANNOUNCE)

    async def first() -> Announcement:
        async for sender, payload in beacon:
            with contextlib.suppress(ValueError):  # a malformed one: wait for the next
                return Announcement.parse(sender, payload)
        raise RuntimeError("the beacon closed")

    try:
        return await asyncio.wait_for(first(), timeout)
    except TimeoutError:
        raise TimeoutError(f"no broker announced itself within {timeout} s") from None


def parse_target(spec: str) -> Broadcast | Multicast:
    """``multicast:GROUP[@INTERFACE]`` or ``broadcast:ADDRESS[@INTERFACE]``."""
    kind, _, rest = spec.partition(":")
    where, _, interface = rest.partition("@")
    if kind == "multicast":
        return Multicast(where, interface)
    if kind == "broadcast":
        return Broadcast(where, interface)
    raise ValueError(
        f"target must be multicast:GROUP[@IFACE] or broadcast:ADDR[@IFACE], not {spec!r}"
    )


def _square(body: bytes) -> bytes:
    # Bounded: int() refuses over 4300 digits, and squaring a huge one is slow.
    if body.isdigit() and len(body) <= 100:
        return b"%d" % (int(body) ** 2)
    return b"not a number up to 100 digits"


def _signalled() -> asyncio.Future[Any]:
    """A task that ends on SIGINT or SIGTERM."""
    stopped = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stopped.set)
    return asyncio.ensure_future(stopped.wait())


# -- the broker ---------------------------------------------------------------------


async def greet(ctx: tzmq.Context, peer: Peer, timeout: float) -> str | None:
    """Ask ``peer``'s inbox for its name; None if it does not answer within ``timeout`` s."""
    sock = ctx.socket(zmq.DEALER)
    sock.linger = 0
    try:
        sock.connect(peer.endpoint)
        await sock.send(HELLO)
        reply: bytes = await asyncio.wait_for(sock.recv(), timeout)
    except TimeoutError:
        return None
    finally:
        sock.close()
    return reply[:64].decode(errors="replace")


async def serve_broker(
    target: Broadcast | Multicast,
    port: int,
    report: str | None = None,
    control: str | None = None,
    lifetime: float = 3600.0,
) -> int:
    """Serve the proxy and announce it until TERMINATE, a signal or ``lifetime`` s."""
    beacon = Beacon(port, target)
    ctx = tzmq.Context()
    push = tzmq.ZMQStream(ctx.socket(zmq.PUSH, socket_class=zmq.Socket)) if report else None
    sockets = [ctx.socket(zmq.ROUTER), ctx.socket(zmq.DEALER)]
    proxy = peers = None
    greetings: set[asyncio.Task[None]] = set()
    names: dict[uuid.UUID, str] = {}

    def say(**record: Any) -> None:
        """Events as JSON lines on stdout, and to ``report`` (PUSH) if given."""
        print(json.dumps(record), flush=True)
        if push is not None:
            push.send_string(json.dumps(record))

    try:
        if push is not None:
            push.connect(report)
        frontend, backend = sockets
        backend.heartbeat_ivl = HEARTBEAT_MS
        backend.heartbeat_timeout = HEARTBEAT_TIMEOUT_MS
        here = f"tcp://{beacon.address}"
        me = Announcement(
            beacon.address, frontend.bind_to_random_port(here), backend.bind_to_random_port(here)
        )
        steering = ctx.socket(zmq.REP) if control else None
        if steering is not None:
            sockets.append(steering)
            steering.bind(control)
        proxy = Proxy(frontend, backend, control=steering)

        async def welcome(peer: Peer) -> None:
            names[peer.uuid] = await greet(ctx, peer, GREETING_TIMEOUT) or peer.uuid.hex[:8]
            say(event="appeared", name=names[peer.uuid], endpoint=peer.endpoint)

        def on_peer(event: PeerEvent) -> None:
            if event.kind == "appeared":
                task = asyncio.ensure_future(welcome(event.peer))
                greetings.add(task)
                task.add_done_callback(greetings.discard)
            else:
                name = names.get(event.peer.uuid, event.peer.uuid.hex[:8])
                say(event=event.kind, name=name, endpoint=event.peer.endpoint)

        peers = Peers(beacon, evasive=EVASIVE, expired=EXPIRED)
        peers.on_event(on_peer)
        beacon.publish(me.encode(), INTERVAL)
        say(event="ready", frontend=me.frontend, backend=me.backend)
        ends: list[asyncio.Future[Any]] = [asyncio.ensure_future(proxy.join()), _signalled()]
        await asyncio.wait(ends, timeout=lifetime, return_when=asyncio.FIRST_COMPLETED)
        ends[1].cancel()
        return 0
    finally:
        for task in greetings:
            task.cancel()
        await asyncio.gather(*greetings, return_exceptions=True)  # their sockets close
        if peers is not None:
            peers.close()
        beacon.close()
        if proxy is not None:
            proxy.close(linger=0)
        for sock in sockets:
            sock.close(linger=0)
        if push is not None:
            push.close(linger=1000)  # the last events still reach the demo
        ctx.term()


# -- a worker -----------------------------------------------------------------------


async def _connect(sock: zmq.Socket[Any], endpoint: str, timeout: float) -> None:
    """Connect ``sock`` to ``endpoint`` and wait until the handshake with its peer is done."""

    async def handshake() -> None:
        # Watching from before the connect: the event cannot slip by unseen.
        with SocketMonitor(sock, zmq.EVENT_HANDSHAKE_SUCCEEDED) as monitor:
            sock.connect(endpoint)
            async for _ in monitor:
                return

    await asyncio.wait_for(handshake(), timeout)


async def _until_silent(beacon: Beacon, sender: str, silence: float) -> None:
    """Return once ``beacon`` has heard nothing from ``sender`` for ``silence`` s."""
    loop = asyncio.get_running_loop()
    heard = aiter(beacon)
    deadline = loop.time() + silence
    while True:
        try:
            got = await asyncio.wait_for(anext(heard), max(deadline - loop.time(), 0.0))
        except (TimeoutError, StopAsyncIteration):
            return
        if got.sender == sender:
            deadline = loop.time() + silence


async def _work(jobs: tzmq.Socket, name: bytes) -> None:
    async for msg in jobs:
        if len(msg) == 3:  # client, request_id, number; anything else is dropped
            client, request_id, body = msg
            await jobs.send_multipart([client, request_id, name, _square(body)])


async def _answer_hello(inbox: tzmq.Socket, name: bytes) -> None:
    async for msg in inbox:
        if msg[1:] == [HELLO]:
            await inbox.send_multipart([msg[0], name])


async def serve_worker(target: Broadcast | Multicast, port: int, name: str, timeout: float) -> int:
    """Find the broker, serve its requests; 0 after a signal, 1 once the broker is silent."""
    beacon = Beacon(port, target)
    ctx = tzmq.Context()
    jobs, inbox = ctx.socket(zmq.DEALER), ctx.socket(zmq.ROUTER)
    tasks: list[asyncio.Future[Any]] = []
    try:
        broker = await find_broker(beacon, timeout)
        await _connect(jobs, broker.backend, timeout)
        me = ZreBeacon(uuid.uuid4(), inbox.bind_to_random_port(f"tcp://{beacon.address}"))
        stopped = _signalled()
        broker_gone = asyncio.ensure_future(_until_silent(beacon, broker.address, EXPIRED))
        tasks = [stopped, broker_gone, asyncio.ensure_future(_work(jobs, name.encode()))]
        tasks.append(asyncio.ensure_future(_answer_hello(inbox, name.encode())))
        beacon.publish(me.encode(), INTERVAL)
        await asyncio.wait([broker_gone, stopped], return_when=asyncio.FIRST_COMPLETED)
        beacon.publish(me.leaving().encode())  # the farewell goes out at once
        return 0 if stopped.done() else 1
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        beacon.close()
        jobs.close(linger=0)
        inbox.close(linger=0)
        ctx.term()


async def serve_client(
    target: Broadcast | Multicast, port: int, name: str, requests: int, window: int, timeout: float
) -> ClientReport:
    """Find the broker's frontend and send it ``requests`` numbers to square."""
    ctx = tzmq.Context()
    sock = ctx.socket(zmq.DEALER)
    try:
        with Beacon(port, target) as beacon:
            broker = await find_broker(beacon, timeout)
        sock.routing_id = name.encode()
        sock.connect(broker.frontend)
        return await run_client(sock, name, requests, window, timeout)
    finally:
        sock.close(linger=0)
        ctx.term()


# -- the demo -----------------------------------------------------------------------


class _Demo:
    """One run on ``net``: the broker, the workers and two rounds of clients as processes.

    The broker's events come in as JSON on ``events`` (PULL); the proxy is
    steered on ``steering`` (REQ); both are ipc:// endpoints in ``tmp``, which
    every namespace sees.
    """

    def __init__(
        self, net: Network, children: Children, tmp: str, workers: int, timeout: float
    ) -> None:
        self.net, self.children, self.tmp, self.timeout = net, children, tmp, timeout
        port = str(free_udp_port())
        self.common = ("--target", net.target, "--port", port, "--timeout", str(timeout))
        self.workers = [f"worker-{i}" for i in range(workers)]
        self.victim = self.workers[-1]
        self.rounds: list[list[ClientReport]] = []
        self.problems: list[str] = []
        self.expired_after = 0.0
        self.statistics = ProxyStatistics()

    async def start(
        self, name: str, role: str, host: str, *args: str, output: bool = False
    ) -> None:
        namespace = self.net.namespaces.get(host)
        place = ("--netns", namespace) if namespace else ()
        command = ("--role", role, *place, *self.common, *args)
        await self.children.start(name, "demos.discovery", *command, output=output)

    async def event(self, events: tzmq.Socket, kind: str, name: str = "") -> str:
        """The name in the broker's next ``kind`` event (about ``name``, if given)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        while True:
            try:
                raw = await asyncio.wait_for(events.recv(), max(deadline - loop.time(), 0.0))
            except TimeoutError:
                raise TimeoutError(f"no {kind} {name} event in {self.timeout} s") from None
            event = json.loads(raw)
            if event["event"] == kind and name in ("", event.get("name")):
                return str(event.get("name"))

    async def clients(self, names: list[str], requests: int) -> None:
        """Run one round of clients; keep their reports."""
        for name in names:
            args = ("--name", name, "--requests", str(requests))
            await self.start(name, "client", "clients", *args, output=True)
        reports = []
        for name in names:
            code, out = await self.children.output(name, self.timeout)
            try:
                reports.append(ClientReport(**json.loads(out)))
            except ValueError:
                self.problems.append(f"{name} printed no report (exit {code})")
        self.rounds.append(reports)

    async def steer(self, steering: tzmq.Socket, command: bytes) -> list[bytes]:
        await asyncio.wait_for(steering.send(command), self.timeout)
        reply: list[bytes] = await asyncio.wait_for(steering.recv_multipart(), self.timeout)
        return reply

    async def run(self, clients: int, requests: int) -> None:
        ctx = tzmq.Context()
        events, steering = ctx.socket(zmq.PULL), ctx.socket(zmq.REQ)

        def endpoint(name: str) -> str:
            return f"ipc://{self.tmp}/{name}"

        try:
            events.bind(endpoint("events"))
            steering.connect(endpoint("control"))
            # A lifetime, so the broker stops even if this process dies first.
            args = ("--report", endpoint("events"), "--lifetime", str(4 * self.timeout))
            await self.start("broker", "broker", "broker", *args, "--control", endpoint("control"))
            await self.event(events, "ready")
            for name in self.workers:
                await self.start(name, "worker", name, "--name", name)
            appeared: set[str] = set()
            while appeared != set(self.workers):
                appeared.add(await self.event(events, "appeared"))
            await self.clients([f"client-a{i}" for i in range(clients)], requests)
            went = time.monotonic()
            if self.net.namespaces:
                self.net.unplug(self.victim)
            else:
                self.children.kill(self.victim)
            await self.event(events, "expired", self.victim)
            self.expired_after = time.monotonic() - went
            await self.clients([f"client-b{i}" for i in range(clients)], requests)
            self.statistics = ProxyStatistics.from_frames(await self.steer(steering, b"STATISTICS"))
            await self.steer(steering, b"TERMINATE")
            if await self.children.wait("broker", self.timeout) != 0:
                self.problems.append("the broker did not exit cleanly on TERMINATE")
        except TimeoutError as error:
            self.problems.append(str(error))
        finally:
            events.close(linger=0)
            steering.close(linger=0)
            ctx.term()

    def verdict(self, total: int) -> str:
        """What went wrong ("" if nothing): every request answered once, correctly; the
        victim served before it went away and not after; the proxy's counts add up."""
        problems = list(self.problems)
        for report in (r for reports in self.rounds for r in reports):
            if not report.ok:
                answered = f"{len(report.served_by)}/{report.requests} answered"
                wrong = f"{report.duplicates} twice, {report.wrong} wrong"
                problems.append(f"{report.name}: {answered}, {wrong}")
        if len(self.rounds) == 2:
            if self.victim not in _served_by(self.rounds[0]):
                problems.append(f"{self.victim} served nothing before its host went away")
            if self.victim in _served_by(self.rounds[1]):
                problems.append(f"{self.victim} served requests after it expired")
            # libzmq's STATISTICS count frames: 3 a request (with the client's id), 4 a reply.
            stats = self.statistics
            moved = [stats.frontend_received.frames, stats.backend_sent.frames]
            moved += [stats.backend_received.frames, stats.frontend_sent.frames]
            if moved != [3 * total, 3 * total, 4 * total, 4 * total]:
                problems.append(f"the proxy's frame counts are {moved}, for {total} requests")
        return "; ".join(problems)


def _served_by(reports: list[ClientReport]) -> set[str]:
    return {worker for report in reports for worker in report.served_by.values()}


def run_demo(
    workers: int = 3,
    clients: int = 2,
    requests: int = 20,
    mode: str = "auto",
    timeout: float = 20.0,
) -> DemoResult:
    """Run the demo (``mode``: auto, netns or loopback); one worker host goes away."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    if workers < 2 or min(clients, requests) < 1:
        raise ValueError("need >= 2 workers (one goes away), >= 1 client and request")
    started = time.perf_counter()
    hosts = ["broker", "clients", *(f"worker-{i}" for i in range(workers))]

    async def run(net: Network, tmp: str) -> _Demo:
        async with Children() as children:
            demo = _Demo(net, children, tmp, workers, timeout)
            await demo.run(clients, requests)
        return demo

    with network(mode, hosts) as net, tempfile.TemporaryDirectory(prefix="tzmq-") as tmp:
        demo = run_on_new_loop(lambda: run(net, tmp), 4 * timeout)
    seconds = time.perf_counter() - started
    total = 2 * clients * requests
    answered = sum(len(r.served_by) for reports in demo.rounds for r in reports)
    problem = demo.verdict(total)
    if problem:
        return DemoResult("discovery", answered, seconds, False, problem)
    survivors = "/".join(sorted(_served_by(demo.rounds[1])))
    summary = (
        f"{net.where}: {demo.victim}'s host gone, expired in {demo.expired_after:.1f} s; "
        f"{total} requests answered once, the last {total // 2} by {survivors}"
    )
    return DemoResult("discovery", answered, seconds, True, summary)


# -- the roles, each runnable on its own -------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m demos.discovery",
        description="Workers and clients find a broker by its beacon; a worker host goes away.",
    )
    parser.add_argument("--role", choices=("demo", "broker", "worker", "client"), default="demo")
    parser.add_argument("--mode", choices=MODES, default="auto", help="demo: where hosts run")
    parser.add_argument(
        "--target", default=DEFAULT_TARGET, help="multicast:GROUP[@IFACE] or broadcast:ADDR[@IFACE]"
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="the beacons' UDP port")
    parser.add_argument("--name", default="client-0", help="worker or client name (unique)")
    parser.add_argument("--workers", type=int, default=3, help="demo: worker processes")
    parser.add_argument("--clients", type=int, default=2, help="demo: clients per round")
    parser.add_argument("--requests", type=int, default=20, help="requests per client")
    parser.add_argument("--window", type=int, default=5, help="client: requests in flight")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds before giving up")
    parser.add_argument("--report", help="broker: also send its events (JSON) to this endpoint")
    parser.add_argument("--control", help="broker: bind the proxy's control socket here (REP)")
    parser.add_argument("--netns", help="run this role in that network namespace (root)")
    parser.add_argument("--lifetime", type=float, default=3600.0, help="broker: max seconds")
    args = parser.parse_args(argv)
    if args.role == "demo":
        result = run_demo(args.workers, args.clients, args.requests, args.mode, args.timeout)
        print(result)
        return 0 if result.ok else 1
    if args.netns:
        enter_namespace(args.netns)
    target = parse_target(args.target)
    if args.role == "broker":
        return run_on_new_loop(
            lambda: serve_broker(target, args.port, args.report, args.control, args.lifetime),
            timeout=None,
        )
    if args.role == "worker":
        return run_on_new_loop(
            lambda: serve_worker(target, args.port, args.name, args.timeout), timeout=None
        )
    report = run_on_new_loop(
        lambda: serve_client(
            target, args.port, args.name, args.requests, args.window, args.timeout
        ),
        timeout=args.timeout * 2 + 5,
    )
    print(json.dumps(report.__dict__), flush=True)
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
