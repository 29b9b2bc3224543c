"""The exceptions of `tzmq.rpc`, for request/reply and RPC alike.

Request/reply: `RequestTimeout` (and `ServerUnresponsive`, a kind of it),
`TooManyRequests`, `ClientClosedError`.

RPC (the names of ``aiozmq.rpc``, so ``except`` clauses carry over): `Error`
and its subclasses `GenericError`, `NotFoundError`, `ParametersError`,
`ServiceClosedError`; an RPC call that times out raises `RequestTimeout`, which
is also an `asyncio.TimeoutError` like aiozmq's.

Plain classes, no state: safe from any thread.
"""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = [
    "ClientClosedError",
    "Error",
    "GenericError",
    "NotFoundError",
    "ParametersError",
    "RequestTimeout",
    "ServerUnresponsive",
    "ServiceClosedError",
    "TooManyRequests",
]


class RequestTimeout(asyncio.TimeoutError):
    """No reply came before the request's deadline.

    Its reply, if one comes later, is dropped and counted as late.
    """


class ServerUnresponsive(RequestTimeout):
    """The server stopped answering (its heartbeat probe went unanswered)."""


class TooManyRequests(Exception):
    """A ``nowait`` request found the bound on requests in flight reached."""


class Error(Exception):
    """Base class of the RPC errors."""


class GenericError(Error):
    """A remote exception whose type is not in the caller's ``error_table``.

    ``exc_type`` is the remote type's ``module.qualname``, ``arguments`` its
    ``args`` and ``message`` its ``repr()``.
    """

    def __init__(self, exc_type: str, arguments: Any, message: str) -> None:
        super().__init__(exc_type, arguments, message)
        self.exc_type = exc_type
        self.arguments = arguments
        self.message = message

    def __repr__(self) -> str:
        return f"<GenericError {self.exc_type} {self.arguments!r} {self.message!r}>"


class NotFoundError(Error, LookupError):
    """The called method does not exist on the server."""


class ParametersError(Error, ValueError):
    """The arguments of a call do not fit the method's signature."""


class ServiceClosedError(Error):
    """The RPC client or server was closed."""


class ClientClosedError(ServiceClosedError):
    """The client was closed before the request got its reply (or before the call)."""
