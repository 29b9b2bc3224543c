"""The stream layer: ZMQStream and the readiness engine it runs on.

Thread-safety: see each module; everything runs on the IOLoop thread unless a
method says otherwise.
"""

from ._sendqueue import SendQueueFull
from .zmqstream import StreamClosedError, ZMQStream

__all__ = ["SendQueueFull", "StreamClosedError", "ZMQStream"]
