"""Request/reply with correlation on the Tornado IOLoop.

* `RequestClient`: a DEALER that keeps many requests in flight and matches
  each reply to its request by id (txZMQ's ``ZmqREQConnection`` framing);
* `RequestServer`: a ROUTER whose handler is plain, coroutine or callback
  code, answering through the whole routing envelope;
* `LazyPirateClient`: retries on timeout over a list of servers, with a fresh
  socket for the server that did not answer.

Built on `tzmq.ZMQStream`; nothing in `tzmq.stream` imports this package.
Thread-safety: everything runs on the IOLoop thread.

Example::

    from tzmq.rpc import RequestClient, RequestServer

    server = RequestServer(lambda request: request.frames, bind="tcp://127.0.0.1:5555")
    client = RequestClient(connect="tcp://127.0.0.1:5555", timeout=2.0)

    async def main() -> None:
        assert await client.request(b"ping") == [b"ping"]
"""

from .client import ClientStats, RequestClient
from .errors import ClientClosedError, RequestTimeout, TooManyRequests
from .pirate import LazyPirateClient
from .server import Request, RequestServer, ServerStats

__all__ = [
    "ClientClosedError",
    "ClientStats",
    "LazyPirateClient",
    "Request",
    "RequestClient",
    "RequestServer",
    "RequestTimeout",
    "ServerStats",
    "TooManyRequests",
]
