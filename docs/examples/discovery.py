"""Discovery: a service beacons where its inbox is, a client finds it and sees it leave."""

import asyncio
import random
import socket
import uuid

import zmq

from tzmq.discovery import Beacon, Multicast, Peers, ZreBeacon
from tzmq.rpc import RequestClient, RequestServer


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def main() -> None:
    # On a LAN: Broadcast() or Multicast("239.255.0.1") on ZRE_DISCOVERY_PORT.
    # Here a group of our own that stays on this host (sent through loopback, TTL 0).
    target = Multicast(f"239.255.{random.randint(0, 255)}.{random.randint(1, 254)}", "127.0.0.1", 0)
    port = free_udp_port()

    ctx = zmq.Context()
    server = RequestServer(lambda request: [b"pong"], ctx, bind="tcp://127.0.0.1:*")
    inbox_port = int(server.stream.last_endpoint.rsplit(b":", 1)[1])
    announcer = Beacon(port, target)
    me = ZreBeacon(uuid.uuid4(), inbox_port)
    announcer.publish(me.encode(), interval=0.1)

    listener = Beacon(port, target)
    peers = Peers(listener, evasive=1, expired=3)
    events = aiter(peers)
    event = await asyncio.wait_for(anext(events), 5)
    print(event.kind, "at its inbox:", event.peer.endpoint == f"tcp://127.0.0.1:{inbox_port}")
    client = RequestClient(ctx, connect=event.peer.endpoint, timeout=5)
    print("it answers:", await client.request(b"ping"))

    announcer.publish(me.leaving().encode())  # port 0: zyre's farewell
    event = await asyncio.wait_for(anext(events), 5)
    print(event.kind, "- peers left:", len(peers.peers))

    peers.close()
    for closable in (announcer, listener, client, server):
        closable.close()
    ctx.term()


if __name__ == "__main__":
    asyncio.run(main())
