"""One host of the discovery tests: a beacon run in its own process (and network namespace).

Roles, each printing JSON lines on stdout and obeying lines on stdin:

* ``tzmq``: a tzmq `Beacon` (and, with ``--zre``, a `Peers` tracker and a
  ROUTER inbox that reports who says HELLO to it);
* ``czmq``: CZMQ's own zbeacon actor from ``libczmq.so.4``, through ctypes;
* ``pyre``: a pyre node (zeromq-pyre), which beacons ZRE and connects to the
  peers it hears.

Every role prints ``{"ready": ...}`` first, then ``{"heard": [sender, hex]}``
for each beacon (``tzmq``, ``czmq``), ``{"peer": kind, ...}`` for tracker
events, ``{"hello": hex}`` for a HELLO on the inbox. stdin: ``quit`` ends it
(a ``tzmq --zre`` host first sends its port-0 farewell); end of input too.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

PUBLISH_INTERVAL = 0.1


def say(**record: Any) -> None:
    print(json.dumps(record), flush=True)


def watch_stdin(on_quit: Callable[[], None]) -> None:
    """Call ``on_quit`` (from a thread) when stdin says ``quit`` or ends."""

    def read() -> None:
        for line in sys.stdin:
            if line.strip() == "quit":
                break
        on_quit()

    threading.Thread(target=read, daemon=True).start()


def parse_target(spec: str) -> Any:
    """``broadcast:ADDR@IFACE``, ``multicast:GROUP@IFACE`` or ``unicast:A,B@IFACE``."""
    from tzmq.discovery import Broadcast, Multicast, Unicast

    kind, _, rest = spec.partition(":")
    where, _, interface = rest.partition("@")
    if kind == "broadcast":
        return Broadcast(where, interface)
    if kind == "multicast":
        return Multicast(where, interface)
    return Unicast(where.split(","), interface)


def run_tzmq(args: argparse.Namespace) -> None:
    import zmq
    from tornado.ioloop import IOLoop

    from tzmq import ZMQStream
    from tzmq.discovery import Beacon, Peers, ZreBeacon

    loop = IOLoop(make_current=False)
    ctx = zmq.Context()

    async def main() -> None:
        beacon = Beacon(args.port, parse_target(args.target))
        stopped = loop.asyncio_loop.create_future()
        watch_stdin(lambda: loop.add_callback(lambda: stopped.done() or stopped.set_result(None)))
        inbox = peers = me = None
        if args.zre:
            inbox = ZMQStream(ctx.socket(zmq.ROUTER))
            inbox.linger = 0
            port = inbox.bind_to_random_port(f"tcp://{beacon.address}")
            inbox.on_recv(lambda frames: say(hello=frames[0].hex(), body=frames[1][:2].hex()))
            me = ZreBeacon(uuid.uuid4(), port)
            peers = Peers(beacon, evasive=args.evasive, expired=args.expired)
            peers.on_event(
                lambda e: say(
                    peer=e.kind, uuid=e.peer.uuid.hex, endpoint=e.peer.endpoint, t=time.monotonic()
                )
            )
            beacon.publish(me.encode(), PUBLISH_INTERVAL)
        else:
            beacon.subscribe(bytes.fromhex(args.subscribe))
            beacon.on_beacon(lambda sender, payload: say(heard=[sender, payload.hex()]))
            beacon.publish(bytes.fromhex(args.publish), PUBLISH_INTERVAL)
        say(ready=beacon.address, uuid=me.uuid.hex if me else None, t=time.monotonic())
        await stopped
        if me is not None:
            beacon.publish(me.leaving().encode())
        if peers is not None:
            peers.close()
        beacon.close()
        if inbox is not None:
            inbox.close()
        say(stats=beacon.stats.as_dict())

    try:
        loop.run_sync(main)
    finally:
        loop.close()
        ctx.term()


def run_czmq(args: argparse.Namespace) -> None:
    # CZMQ reads its environment once, when the library initialises.
    os.environ["ZSYS_INTERFACE"] = args.interface
    os.environ["ZSYS_SIGHANDLER"] = "false"
    lib = ctypes.CDLL("libczmq.so.4")
    lib.zactor_new.restype = ctypes.c_void_p
    lib.zactor_new.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    lib.zactor_destroy.argtypes = [ctypes.POINTER(ctypes.c_void_p)]
    lib.zstr_recv.restype = ctypes.c_void_p
    lib.zstr_recv.argtypes = [ctypes.c_void_p]
    lib.zstr_free.argtypes = [ctypes.POINTER(ctypes.c_void_p)]
    lib.zsock_set_rcvtimeo.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.zmsg_recv.restype = ctypes.c_void_p
    lib.zmsg_recv.argtypes = [ctypes.c_void_p]
    lib.zmsg_popstr.restype = ctypes.c_void_p
    lib.zmsg_popstr.argtypes = [ctypes.c_void_p]
    lib.zmsg_pop.restype = ctypes.c_void_p
    lib.zmsg_pop.argtypes = [ctypes.c_void_p]
    lib.zmsg_destroy.argtypes = [ctypes.POINTER(ctypes.c_void_p)]
    lib.zframe_data.restype = ctypes.c_void_p
    lib.zframe_data.argtypes = [ctypes.c_void_p]
    lib.zframe_size.restype = ctypes.c_size_t
    lib.zframe_size.argtypes = [ctypes.c_void_p]
    lib.zframe_destroy.argtypes = [ctypes.POINTER(ctypes.c_void_p)]

    def take_string(pointer: int | None) -> str:
        text = ctypes.string_at(pointer).decode() if pointer else ""
        if pointer:
            lib.zstr_free(ctypes.byref(ctypes.c_void_p(pointer)))
        return text

    actor = ctypes.c_void_p(lib.zactor_new(ctypes.cast(lib.zbeacon, ctypes.c_void_p), None))
    lib.zsock_send(actor, b"si", b"CONFIGURE", ctypes.c_int(args.port))
    hostname = take_string(lib.zstr_recv(actor))
    payload, prefix = bytes.fromhex(args.publish), bytes.fromhex(args.subscribe)
    lib.zsock_send(
        actor,
        b"sbi",
        b"PUBLISH",
        payload,
        ctypes.c_size_t(len(payload)),
        ctypes.c_int(int(PUBLISH_INTERVAL * 1000)),
    )
    lib.zsock_send(actor, b"sb", b"SUBSCRIBE", prefix, ctypes.c_size_t(len(prefix)))
    lib.zsock_set_rcvtimeo(actor, 50)
    say(ready=hostname)
    quit_now = threading.Event()
    watch_stdin(quit_now.set)
    while not quit_now.is_set():
        message = lib.zmsg_recv(actor)
        if not message:
            continue
        sender = take_string(lib.zmsg_popstr(message))
        frame = ctypes.c_void_p(lib.zmsg_pop(message))
        data = ctypes.string_at(lib.zframe_data(frame), lib.zframe_size(frame))
        lib.zframe_destroy(ctypes.byref(frame))
        lib.zmsg_destroy(ctypes.byref(ctypes.c_void_p(message)))
        say(heard=[sender, data.hex()])
    lib.zactor_destroy(ctypes.byref(actor))


def run_pyre(args: argparse.Namespace) -> None:
    import zmq
    from pyre import Pyre

    node = Pyre(args.name)
    node.set_port(str(args.port).encode())
    node.start()
    say(ready=node.uuid().hex)
    quit_now = threading.Event()
    watch_stdin(quit_now.set)
    poller = zmq.Poller()
    poller.register(node.socket(), zmq.POLLIN)
    while not quit_now.is_set():
        if poller.poll(50):
            event = node.recv()
            say(pyre=event[0].decode(), peer=uuid.UUID(bytes=event[1]).hex)
    node.stop()


ROLES = {"tzmq": run_tzmq, "czmq": run_czmq, "pyre": run_pyre}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=ROLES)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--target", help="tzmq: broadcast|multicast|unicast:WHERE@IFACE")
    parser.add_argument("--interface", help="czmq: ZSYS_INTERFACE")
    parser.add_argument("--publish", default="", help="payload, hex")
    parser.add_argument("--subscribe", default="", help="prefix, hex")
    parser.add_argument("--zre", action="store_true", help="tzmq: ZRE beacon, Peers, inbox")
    parser.add_argument("--evasive", type=float, default=0.5)
    parser.add_argument("--expired", type=float, default=1.0)
    parser.add_argument("--name", default="pyre-host")
    args = parser.parse_args()
    ROLES[args.role](args)


if __name__ == "__main__":
    main()
