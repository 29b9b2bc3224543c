"""PubSub over PUB/SUB: `connect_pubsub`, `serve_pubsub` (aiozmq.rpc's names).

Owns one-way calls by topic: ``client.publish("topic").ns.f(*args)`` sends
at once to every server subscribed to a prefix of the topic; nothing comes
back.

Wire format (aiozmq.rpc 1.0's): one message of four frames,
``[topic, name, args, kwargs]``: the topic (bytes; a str is sent in UTF-8,
None as ``b""``), the dotted method name in UTF-8, then the codec's
encoding of a list and of a map. Anything else is dropped and counted in
``stats.malformed`` (logged once).

Thread-safety: everything runs on the IOLoop thread.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import zmq
from tornado.ioloop import IOLoop

from ._checks import pick_codec
from ._oneway import MethodCall, OneWayClient, OutcomeReporter
from ._serving import Serving, start
from ._sockets import open_stream
from .codec import Codec, TranslationTable

__all__ = ["PubSubClient", "PubSubServer", "connect_pubsub", "serve_pubsub"]


def _topic(topic: str | bytes | None) -> bytes:
    if topic is None:
        return b""
    if isinstance(topic, str):
        return topic.encode("utf-8")
    if isinstance(topic, bytes):
        return topic
    raise TypeError(f"topic must be str, bytes or None, not {type(topic).__name__}")


class PubSubClient(OneWayClient):
    """A pubsub client; make it with `connect_pubsub`."""

    def publish(self, topic: str | bytes | None) -> Any:
        """``client.publish(topic).ns.f(*args, **kwargs)``: publish a call."""
        return MethodCall(self, [_topic(topic)], ())


class PubSubServer(Serving):
    """A pubsub server; make it with `serve_pubsub`."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._finish = OutcomeReporter("PubSubServer")
        self._listen()

    def subscribe(self, topic: str | bytes) -> None:
        """Receive calls published under topics starting with ``topic``."""
        if topic is None:
            raise TypeError("topic must be str or bytes, not None")
        self.transport.setsockopt(zmq.SUBSCRIBE, _topic(topic))

    def unsubscribe(self, topic: str | bytes) -> None:
        """Undo one `subscribe` of ``topic``."""
        if topic is None:
            raise TypeError("topic must be str or bytes, not None")
        self.transport.setsockopt(zmq.UNSUBSCRIBE, _topic(topic))

    def _on_request(self, msg: list[bytes], user_id: str | None) -> None:
        if len(msg) != 4:
            self._malformed(msg, "[topic, name, args, kwargs]")
            return
        self._run(msg[1], msg[2], msg[3], None, user_id, self._finish)


async def connect_pubsub(
    *,
    connect: str | Iterable[str] | None = None,
    bind: str | Iterable[str] | None = None,
    context: zmq.Context[Any] | None = None,
    socket: zmq.Socket[Any] | None = None,
    codec: Codec | None = None,
    translation_table: TranslationTable | None = None,
    io_loop: IOLoop | None = None,
) -> PubSubClient:
    """A pubsub client over a PUB.

    Example::

        client = await connect_pubsub(bind="tcp://127.0.0.1:5557")
        await client.publish("prices").update("ACME", 12.5)
    """
    chosen = pick_codec(codec, translation_table)
    return PubSubClient(open_stream(zmq.PUB, context, socket, bind, connect, io_loop), chosen)


async def serve_pubsub(
    handler: Any,
    *,
    subscribe: str | bytes | Iterable[str | bytes] | None = None,
    bind: str | Iterable[str] | None = None,
    connect: str | Iterable[str] | None = None,
    context: zmq.Context[Any] | None = None,
    socket: zmq.Socket[Any] | None = None,
    codec: Codec | None = None,
    translation_table: TranslationTable | None = None,
    log_exceptions: bool = False,
    exclude_log_exceptions: Iterable[type[BaseException]] = (),
    timeout: float | timedelta | None = None,
    max_concurrent: int = 1000,
    io_loop: IOLoop | None = None,
) -> PubSubServer:
    """A pubsub server over a SUB, subscribed to ``subscribe`` (one topic or several).

    ``timeout`` cancels a coroutine handler still running after it; at most
    ``max_concurrent`` run at once, then the server stops reading.
    """
    if subscribe is None:
        topics: list[str | bytes] = []
    elif isinstance(subscribe, (str, bytes)):
        topics = [subscribe]
    else:
        topics = list(subscribe)
    encoded = [_topic(topic) for topic in topics]
    server = start(
        PubSubServer,
        zmq.SUB,
        handler,
        (context, socket, bind, connect, io_loop),
        codec,
        translation_table,
        log_exceptions,
        exclude_log_exceptions,
        timeout,
        max_concurrent,
    )
    for topic in encoded:
        server.subscribe(topic)
    return server
