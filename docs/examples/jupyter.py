"""Jupyter on tzmq: pyzmq's Tornado names resolve to tzmq's classes once installed."""

import tzmq
import tzmq.compat


def same(a: object, b: object) -> bool:
    return a is b


def main() -> None:
    tzmq.compat.install()  # first thing, before jupyter_client / ipykernel imports
    try:
        from zmq.eventloop import future, zmqstream

        print("ZMQStream is tzmq's:", same(zmqstream.ZMQStream, tzmq.ZMQStream))
        print("future.Socket is tzmq's:", same(future.Socket, tzmq.Socket))
    finally:
        tzmq.compat.uninstall()
    print("after uninstall:", same(zmqstream.ZMQStream, tzmq.ZMQStream))


if __name__ == "__main__":
    main()
