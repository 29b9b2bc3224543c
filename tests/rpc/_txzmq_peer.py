# mypy: ignore-errors
# (txzmq ships no types, and mypy cannot see twisted's global reactor as an IReactor.)
"""A txZMQ 1.0 peer under Twisted, run as a subprocess by the interop tests.

``client ENDPOINT N``: a ZmqREQConnection sends N requests at once, each
``[b"%d" % i, b"tx"]``; it expects the frames reversed back, prints
``ok N`` and exits 0, or prints what went wrong and exits 1.

``server``: a ZmqREPConnection bound on 127.0.0.1 (a random port) prints
its endpoint, answers every request with ``[b"tx", *frames]`` and stops when
its stdin closes.

Both stop by themselves after 20 s whatever happens.
"""

from __future__ import annotations

import sys
from typing import Any

from twisted.internet import defer, protocol, reactor, stdio
from txzmq import ZmqEndpoint, ZmqEndpointType, ZmqFactory, ZmqREPConnection, ZmqREQConnection

_LIMIT = 20.0
_status = [0]  # the exit status main() returns


def _client(factory: ZmqFactory, address: str, n: int) -> None:
    conn = ZmqREQConnection(factory, ZmqEndpoint(ZmqEndpointType.connect, address))
    expected = [[b"tx", b"%d" % i] for i in range(n)]
    calls = [conn.sendMsg(b"%d" % i, b"tx", timeout=10) for i in range(n)]
    done = defer.gatherResults(calls, consumeErrors=True)

    def check(replies: list[Any]) -> None:
        if [list(r) for r in replies] == expected:
            print(f"ok {n}", flush=True)
        else:
            print(f"wrong replies: {replies[:3]!r}...", flush=True)
            _status[0] = 1

    def fail(error: Any) -> None:
        print(f"failed: {error!r}", flush=True)
        _status[0] = 1

    done.addCallbacks(check, fail).addBoth(lambda _: reactor.stop())


class _Rep(ZmqREPConnection):
    def gotMessage(self, message_id: bytes, *parts: bytes) -> None:
        self.reply(message_id, b"tx", *parts)


class _StopOnEOF(protocol.Protocol):
    def connectionLost(self, reason: Any = None) -> None:
        reactor.stop()


def _server(factory: ZmqFactory) -> None:
    conn = _Rep(factory, ZmqEndpoint(ZmqEndpointType.bind, "tcp://127.0.0.1:*"))
    print(conn.socket.last_endpoint.decode(), flush=True)
    stdio.StandardIO(_StopOnEOF())


def main() -> int:
    factory = ZmqFactory()
    if sys.argv[1] == "client":
        _client(factory, sys.argv[2], int(sys.argv[3]))
    else:
        _server(factory)
    reactor.callLater(_LIMIT, reactor.stop)
    reactor.run()
    factory.shutdown()
    return _status[0]


if __name__ == "__main__":
    sys.exit(main())
