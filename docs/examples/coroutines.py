"""Coroutines: future sockets with async for, cancellation and a Poller."""

import asyncio

import zmq

import tzmq


async def main() -> None:
    ctx = tzmq.Context()
    pull = ctx.socket(zmq.PULL)
    port = pull.bind_to_random_port("tcp://127.0.0.1")
    push = ctx.socket(zmq.PUSH)
    push.connect(f"tcp://127.0.0.1:{port}")

    # A receive that is cancelled never takes a message: the next one gets it.
    waiting = pull.recv()
    waiting.cancel()
    await push.send(b"first")
    print("after a cancel:", await asyncio.wait_for(pull.recv(), 5))

    poller = tzmq.Poller()
    poller.register(pull, zmq.POLLIN)
    await push.send(b"second")
    events = dict(await asyncio.wait_for(poller.poll(5000), 5))
    print("poll says readable:", events.get(pull) == zmq.POLLIN)
    print("then:", await pull.recv())

    async def consume() -> list[bytes]:
        got = []
        async for msg in pull:  # ends cleanly when pull is closed
            got.append(msg[0])
            if len(got) == 3:
                pull.close()
        return got

    consumer = asyncio.ensure_future(consume())
    for word in (b"a", b"b", b"c"):
        await push.send(word)
    print("async for:", await asyncio.wait_for(consumer, 5))

    push.close(linger=0)
    ctx.term()


if __name__ == "__main__":
    asyncio.run(main())
