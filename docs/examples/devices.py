"""Devices: a queue between clients and a worker on the IOLoop, steered over its control socket."""

import asyncio

import zmq

import tzmq
from tzmq.devices import Proxy, ProxyStatistics
from tzmq.rpc import RequestClient, RequestServer


async def main() -> None:
    ctx = zmq.Context()
    frontend, backend, control = ctx.socket(zmq.ROUTER), ctx.socket(zmq.DEALER), ctx.socket(zmq.REP)
    front_port = frontend.bind_to_random_port("tcp://127.0.0.1")
    back_port = backend.bind_to_random_port("tcp://127.0.0.1")
    control.bind("inproc://proxy-control")
    proxy = Proxy(frontend, backend, control=control)  # it owns the three sockets now

    worker = RequestServer(
        lambda request: request.frames, ctx, connect=f"tcp://127.0.0.1:{back_port}"
    )
    client = RequestClient(ctx, connect=f"tcp://127.0.0.1:{front_port}", timeout=5)
    replies = await asyncio.gather(*(client.request(b"job %d" % i) for i in range(10)))
    print(len(replies), "replies through the proxy")

    # libzmq's steering commands, from any socket that can reach the control endpoint.
    steer = tzmq.Context(ctx).socket(zmq.REQ)
    steer.connect("inproc://proxy-control")
    await steer.send(b"STATISTICS")
    stats = ProxyStatistics.from_frames(await asyncio.wait_for(steer.recv_multipart(), 5))
    print("frontend received", stats.frontend_received.frames, "frames (libzmq's count)")
    await steer.send(b"TERMINATE")
    await asyncio.wait_for(steer.recv(), 5)
    final = await proxy.join(timeout=5)
    print("terminated:", proxy.closed())
    print("messages each way:", final.backend_sent.messages, final.frontend_sent.messages)

    steer.close(linger=0)
    client.close()
    worker.close()
    ctx.term()


if __name__ == "__main__":
    asyncio.run(main())
