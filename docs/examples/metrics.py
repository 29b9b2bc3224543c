"""Metrics: a stream's figures, every live stream's, and the same for Prometheus."""

import asyncio

import zmq
from prometheus_client import CollectorRegistry, generate_latest

import tzmq
import tzmq.stream
from tzmq.metrics import StreamCollector


async def main() -> None:
    tzmq.stream.count_traffic()  # messages and bytes too, from now on (a per-message cost)
    ctx = zmq.Context()
    sink = tzmq.ZMQStream(ctx.socket(zmq.PULL))
    sink.bind("inproc://metrics")
    source = tzmq.ZMQStream(ctx.socket(zmq.PUSH))
    source.connect("inproc://metrics")

    received = 0
    done = asyncio.get_running_loop().create_future()

    def on_message(msg: list[bytes]) -> None:
        nonlocal received
        received += 1
        if received == 100 and not done.done():
            done.set_result(None)

    sink.on_recv(on_message)
    for i in range(100):
        source.send(b"message %03d" % i)  # 11 bytes each
    await asyncio.wait_for(done, 10)

    figures = sink.stats  # a frozen SocketStats, readable from any thread
    print(figures.kind, figures.socket_type, figures.messages_in, "in,", figures.bytes_in, "bytes")
    print("PUSH out:", source.stats.messages_out, "messages,", source.stats.bytes_out, "bytes")
    print("live:", sorted(s.socket_type for s in tzmq.stream.stats_snapshot()))

    registry = CollectorRegistry()  # or prometheus_client.REGISTRY, served by start_http_server
    registry.register(StreamCollector())
    for line in generate_latest(registry).decode().splitlines():
        if line.startswith("tzmq_received_messages_total"):
            print(line)

    for stream in (source, sink):
        stream.close(linger=0)
    print("after close:", tzmq.stream.stats_snapshot())
    ctx.term()


if __name__ == "__main__":
    asyncio.run(main())
