"""Request/reply and RPC on the Tornado IOLoop.

Correlated request/reply (txZMQ's framing, any REQ/REP peer):

* `RequestClient`: a DEALER that keeps many requests in flight and matches
  each reply to its request by id;
* `RequestServer`: a ROUTER whose handler is plain, coroutine or callback
  code, answering through the whole routing envelope;
* `LazyPirateClient`: retries on timeout over a list of servers, with a fresh
  socket for the server that did not answer.

RPC (aiozmq.rpc's API and, with `MsgpackCodec`, its wire format):

* `connect_rpc`/`serve_rpc` (DEALER/ROUTER), `connect_pipeline`/
  `serve_pipeline` (PUSH/PULL), `connect_pubsub`/`serve_pubsub` (PUB/SUB);
* handlers: `AttrHandler` with ``@method``, or any mapping; nested
  namespaces; `current_call()` inside a handler;
* errors: `Error`, `GenericError`, `NotFoundError`, `ParametersError`,
  `ServiceClosedError`; `RequestTimeout` past a deadline, and
  `ServerUnresponsive` from a client with a ``heartbeat`` whose server went
  silent;
* codecs: `JsonCodec` (the default), `MsgpackCodec` (aiozmq's wire format).

Built on `tzmq.ZMQStream`; nothing in `tzmq.stream` imports this package.
Thread-safety: everything runs on the IOLoop thread.

Example::

    from tzmq.rpc import AttrHandler, connect_rpc, method, serve_rpc

    class Calculator(AttrHandler):
        @method
        def add(self, a: int, b: int) -> int:
            return a + b

    async def main() -> None:
        server = await serve_rpc(Calculator(), bind="tcp://127.0.0.1:5555")
        client = await connect_rpc(connect="tcp://127.0.0.1:5555", timeout=2)
        assert await client.call.add(1, 2) == 3
"""

from ._serving import CallInfo, CallStats, current_call
from .client import ClientStats, RequestClient
from .codec import Codec, JsonCodec, MsgpackCodec
from .errors import (
    ClientClosedError,
    Error,
    GenericError,
    NotFoundError,
    ParametersError,
    RequestTimeout,
    ServerUnresponsive,
    ServiceClosedError,
    TooManyRequests,
)
from .handlers import AttrHandler, method
from .pipeline import PipelineClient, PipelineServer, connect_pipeline, serve_pipeline
from .pirate import LazyPirateClient
from .pubsub import PubSubClient, PubSubServer, connect_pubsub, serve_pubsub
from .rpc import RPCClient, RPCServer, connect_rpc, serve_rpc
from .server import Request, RequestServer, ServerStats

__all__ = [
    "AttrHandler",
    "CallInfo",
    "CallStats",
    "ClientClosedError",
    "ClientStats",
    "Codec",
    "Error",
    "GenericError",
    "JsonCodec",
    "LazyPirateClient",
    "MsgpackCodec",
    "NotFoundError",
    "ParametersError",
    "PipelineClient",
    "PipelineServer",
    "PubSubClient",
    "PubSubServer",
    "RPCClient",
    "RPCServer",
    "Request",
    "RequestClient",
    "RequestServer",
    "RequestTimeout",
    "ServerStats",
    "ServerUnresponsive",
    "ServiceClosedError",
    "TooManyRequests",
    "connect_pipeline",
    "connect_pubsub",
    "connect_rpc",
    "current_call",
    "method",
    "serve_pipeline",
    "serve_pubsub",
    "serve_rpc",
]
