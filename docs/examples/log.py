"""Logging over zmq: a worker publishes records, a watcher logs them here."""

import asyncio
import contextlib
import logging

import zmq

from tzmq.log import LogWatcher, PUBHandler


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []
        self.arrived = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.arrived.set()


async def main() -> None:
    ctx = zmq.Context()
    publisher = ctx.socket(zmq.PUB)  # given a socket, the handler leaves it to us to close
    port = publisher.bind_to_random_port("tcp://127.0.0.1")
    handler = PUBHandler(publisher, root_topic="worker.1", structured=True)

    watcher = LogWatcher(f"tcp://127.0.0.1:{port}", topics=["worker"], logger="collected")
    collect = Collect()
    logging.getLogger("collected").addHandler(collect)

    worker = logging.getLogger("db")
    worker.addHandler(handler)
    # PUB/SUB drops what is sent before the subscription arrives: log until one lands.
    while not collect.records:
        worker.error("pool::lost %d connections", 3)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(collect.arrived.wait(), 0.1)
    record = collect.records[0]
    print(record.levelname, record.name, record.getMessage())

    worker.removeHandler(handler)
    handler.close()
    publisher.close(linger=0)
    watcher.close()
    logging.getLogger("collected").removeHandler(collect)
    ctx.term()


if __name__ == "__main__":
    asyncio.run(main())
