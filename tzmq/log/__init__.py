"""Python `logging` over zmq PUB/SUB: publish records by topic, watch them live.

A drop-in for pyzmq's ``zmq.log.handlers`` with its defects fixed (see
`tzmq.log.handlers`). Records are published as ``[b"<root>.<LEVEL>.<sub>",
text]``; any SUB can read them.

>>> import logging
>>> from tzmq.log import PUBHandler
>>> handler = PUBHandler("tcp://127.0.0.1:5555", root_topic="worker")  # doctest: +SKIP
>>> logging.getLogger().addHandler(handler)  # doctest: +SKIP
>>> logging.getLogger("db").error("pool::lost %d connections", 3)  # doctest: +SKIP

Thread-safety: `PUBHandler` may be used from any thread.
"""

from .handlers import TOPIC_DELIM, PUBHandler, TopicLogger

__all__ = ["TOPIC_DELIM", "PUBHandler", "TopicLogger"]
