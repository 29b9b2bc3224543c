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
    pull = ctx.socket(zmq.PULL)
    pull.rcvhwm = 10
    push = ctx.socket(zmq.PUSH)
    push.sndhwm = 10  # libzmq holds 20 between the two: tzmq's send queue takes the rest
    sink = tzmq.ZMQStream(pull)
    sink.bind("inproc://metrics")
    source = tzmq.ZMQStream(push)
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
    print("in tzmq's send queue before the loop runs:", source.stats.queued)
    await asyncio.wait_for(done, 10)

    out = source.stats  # a frozen SocketStats, readable from any thread
    print(f"{out.kind} {out.socket_type}: {out.messages_out} messages out, {out.bytes_out} bytes")
    print(f"  {out.sends_waited} sends waited, queue peak {out.queued_peak}, now {out.queued}")
    print(f"PULL: {sink.stats.messages_in} messages in, {sink.stats.bytes_in} bytes")
    print("live streams:", [(s.serial, s.socket_type) for s in tzmq.stream.stats_snapshot()])

    registry = CollectorRegistry()  # or prometheus_client.REGISTRY, served by start_http_server
    registry.register(StreamCollector())
    for line in generate_latest(registry).decode().splitlines():
        if line.startswith(("tzmq_received_messages_total", "tzmq_send_queue_peak_messages")):
            print(line)

    for stream in (source, sink):
        stream.close(linger=0)
    print("live streams after close:", tzmq.stream.stats_snapshot())
    print("a closed stream's figures stay readable:", sink.stats.messages_in, "messages in")
    ctx.term()


if __name__ == "__main__":
    asyncio.run(main())
