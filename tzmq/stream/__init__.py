"""The stream layer: ZMQStream, the future Context/Socket/Poller, and the readiness
engine they share.

Thread-safety: see each module; everything runs on the IOLoop thread unless a
method says otherwise.
"""

from ._sendqueue import SendQueueFull
from .future import CancelledError, Context, Socket
from .monitor import MonitorEvent, MonitorMessageError, SocketMonitor
from .poller import Poller
from .stats import SocketStats, count_traffic, stats_snapshot
from .zmqstream import StreamClosedError, ZMQStream

__all__ = [
    "CancelledError",
    "Context",
    "MonitorEvent",
    "MonitorMessageError",
    "Poller",
    "SendQueueFull",
    "Socket",
    "SocketMonitor",
    "SocketStats",
    "StreamClosedError",
    "ZMQStream",
    "count_traffic",
    "stats_snapshot",
]
