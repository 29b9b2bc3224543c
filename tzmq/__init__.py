"""tzmq: ZeroMQ as a first-class citizen of the Tornado IOLoop.

The public face: `ZMQStream` (callbacks) and its errors. Everything runs on
the IOLoop thread unless a method's documentation says otherwise.

>>> import zmq, tzmq
>>> stream = tzmq.ZMQStream(zmq.Context.instance().socket(zmq.PULL))  # doctest: +SKIP
"""

from ._version import __version__
from .stream import SendQueueFull, StreamClosedError, ZMQStream

__all__ = ["SendQueueFull", "StreamClosedError", "ZMQStream", "__version__"]
