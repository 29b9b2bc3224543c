"""tzmq: ZeroMQ as a first-class citizen of the Tornado IOLoop.

The public face:

* `ZMQStream`: a socket driven by callbacks (drop-in for
  ``zmq.eventloop.zmqstream.ZMQStream``);
* `Context`, `Socket`, `Poller`: future-returning sockets for ``async def`` and
  ``gen.coroutine`` code (drop-in for ``zmq.eventloop.future``);
* `CancelledError`, `StreamClosedError`, `SendQueueFull`: the errors they raise.

Everything runs on the IOLoop thread unless a method's documentation says
otherwise.

Example::

    import zmq, tzmq

    ctx = tzmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.connect("tcp://127.0.0.1:5555")

    async def ask(question: bytes) -> list[bytes]:
        await sock.send_multipart([question])
        return await sock.recv_multipart()
"""

from ._version import __version__
from .stream import (
    CancelledError,
    Context,
    Poller,
    SendQueueFull,
    Socket,
    StreamClosedError,
    ZMQStream,
)

__all__ = [
    "CancelledError",
    "Context",
    "Poller",
    "SendQueueFull",
    "Socket",
    "StreamClosedError",
    "ZMQStream",
    "__version__",
]
