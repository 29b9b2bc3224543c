"""Python `logging` over zmq PUB/SUB: publish records by topic, collect them, watch them live.

* `PUBHandler` publishes records as ``[b"<root>.<LEVEL>.<subtopic>", text]``
  (or, with ``structured=True``, the record's fields as JSON); a drop-in for
  pyzmq's ``zmq.log.handlers`` with its defects fixed (see
  `tzmq.log.handlers`). `TopicLogger` takes the subtopic as an argument.
* `LogWatcher` subscribes to publishers and re-emits their records into
  this process's `logging`.
* ``tzmq-logs ADDRESS ...`` prints them live (`tzmq.log.watch`).

Publishing, in each worker::

    import logging
    from tzmq.log import PUBHandler

    handler = PUBHandler("tcp://127.0.0.1:5555", root_topic="worker.1", structured=True)
    logging.getLogger().addHandler(handler)
    logging.getLogger("db").error("pool::lost %d connections", 3)
    # topic b"worker.1.ERROR.pool"

Collecting, in one process (records keep their logger name, level, time,
file and line; ``tzmq-logs tcp://127.0.0.1:5555 --level WARNING`` does the
same from a shell)::

    from tornado.ioloop import IOLoop
    from tzmq.log import LogWatcher

    logging.basicConfig(format="%(asctime)s %(name)s %(levelname)s %(message)s")
    watcher = LogWatcher("tcp://127.0.0.1:5555", topics=["worker"], level="WARNING")
    IOLoop.current().start()

Thread-safety: `PUBHandler` and `TopicLogger` may be used from any thread;
`LogWatcher` lives on its IOLoop's thread.
"""

from .handlers import TOPIC_DELIM, PUBHandler, TopicLogger
from .watcher import LogWatcher

__all__ = ["TOPIC_DELIM", "LogWatcher", "PUBHandler", "TopicLogger"]
