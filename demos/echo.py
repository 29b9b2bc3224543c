"""Echo: a ROUTER echo service on ZMQStream and a DEALER client that checks every reply.

python -m demos.echo --messages 10000
"""

from __future__ import annotations

import argparse
import time

import zmq
from tornado.ioloop import IOLoop

from demos._result import DemoResult
from tzmq import ZMQStream


def run_demo(messages: int = 10_000, timeout: float = 30.0) -> DemoResult:
    """Serve ``messages`` echoes over tcp://127.0.0.1 and check each reply, in order."""
    ctx = zmq.Context()
    loop = IOLoop(make_current=False)
    started = time.perf_counter()
    replies: list[bytes] = []

    async def main() -> None:
        server = ZMQStream(ctx.socket(zmq.ROUTER), loop)
        port = server.bind_to_random_port("tcp://127.0.0.1")
        server.on_recv(server.send_multipart)  # [identity, body] goes straight back

        client = ZMQStream(ctx.socket(zmq.DEALER), loop)
        client.connect(f"tcp://127.0.0.1:{port}")
        done = loop.asyncio_loop.create_future()  # type: ignore[attr-defined]

        def on_reply(msg: list[bytes]) -> None:
            replies.append(msg[0])
            if len(replies) == messages and not done.done():
                done.set_result(None)

        client.on_recv(on_reply)
        for i in range(messages):
            client.send(b"%d" % i)
        await done
        client.close(linger=0)
        server.close(linger=0)

    try:
        loop.run_sync(main, timeout=timeout)
        ok = replies == [b"%d" % i for i in range(messages)]
    except TimeoutError:
        ok = False
    finally:
        loop.close()
        ctx.term()
    return DemoResult("echo (ZMQStream)", len(replies), time.perf_counter() - started, ok)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    args = parser.parse_args()
    result = run_demo(args.messages)
    print(result)
    raise SystemExit(0 if result.ok else 1)


if __name__ == "__main__":
    main()
