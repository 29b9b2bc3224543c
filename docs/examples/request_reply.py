"""Request/reply: many requests in flight, a plain REQ peer, retries past a dead server."""

import asyncio

import zmq

import tzmq
from tzmq.rpc import LazyPirateClient, Request, RequestClient, RequestServer


async def shout(request: Request) -> list[bytes]:
    await asyncio.sleep(0.01)  # a coroutine handler; the others keep arriving meanwhile
    return [frame.upper() for frame in request.frames]


async def main() -> None:
    ctx = zmq.Context()
    server = RequestServer(shout, ctx, bind="tcp://127.0.0.1:*")
    endpoint = server.stream.last_endpoint.decode()

    client = RequestClient(ctx, connect=endpoint, timeout=5)
    replies = await asyncio.gather(*(client.request(b"hi %d" % i) for i in range(100)))
    print(len(replies), "replies, each to its request:", replies[42] == [b"HI 42"])

    # txZMQ's framing is what a REQ socket sends: plain REQ/REP peers need no change.
    req = tzmq.Context(ctx).socket(zmq.REQ)
    req.connect(endpoint)
    await req.send(b"from req")
    print("REQ got:", await asyncio.wait_for(req.recv(), 5))

    # Nothing listens on the first endpoint: its try times out, the next one answers.
    dead = "inproc://nobody-binds-this"
    pirate = LazyPirateClient([dead, endpoint], ctx, timeout=0.2, retries=2)
    print("pirate got:", await pirate.request(b"anyone?"), "after", pirate.stats.retries, "retry")

    req.close(linger=0)
    for closable in (pirate, client, server):
        closable.close()
    ctx.term()


if __name__ == "__main__":
    asyncio.run(main())
