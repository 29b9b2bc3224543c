"""Streams: an echo service with callbacks, and a bounded send queue with back-pressure."""

import asyncio

import zmq

import tzmq


async def main() -> None:
    ctx = zmq.Context()
    service = tzmq.ZMQStream(ctx.socket(zmq.ROUTER))
    port = service.bind_to_random_port("tcp://127.0.0.1")
    service.on_recv(service.send_multipart)  # echo every message to its sender

    client = tzmq.ZMQStream(ctx.socket(zmq.DEALER), queue_hwm=100)
    client.connect(f"tcp://127.0.0.1:{port}")
    replies: list[bytes] = []
    done = asyncio.get_running_loop().create_future()

    def on_reply(msg: list[bytes]) -> None:
        replies.append(msg[0])
        if len(replies) == 1000 and not done.done():
            done.set_result(None)

    client.on_recv(on_reply)
    for i in range(1000):
        try:
            client.send(b"%d" % i)
        except tzmq.SendQueueFull:  # 100 queued: wait until half have gone
            await client.drain()
            client.send(b"%d" % i)
    await asyncio.wait_for(done, 10)
    print(len(replies), "replies, in order:", replies == [b"%d" % i for i in range(1000)])

    for stream in (client, service):
        stream.close(linger=0)
    ctx.term()


if __name__ == "__main__":
    asyncio.run(main())
