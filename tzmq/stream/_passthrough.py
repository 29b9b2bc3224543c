"""The socket's methods and options, reached through the object that wraps it.

Owns what ``stream.bind(...)``, ``stream.linger`` and ``stream.linger = 0``
mean on a `ZMQStream`: methods and options the stream lacks are looked up on
its socket; assigning a socket option's name sets the option (so it cannot be
shadowed by a stale attribute); any other attribute stays on the stream
(jupyter_server sets ``stream.channel``). Direct receives are refused: they
would steal messages from the callbacks. After close every such access raises
`StreamClosedError`.

Thread-safety: as the socket it reaches (the IOLoop thread).
"""

from __future__ import annotations

from typing import Any

import zmq

from ._errors import StreamClosedError

__all__ = ["SocketPassThrough"]

_OPTION_NAMES = frozenset(name.lower() for name in zmq.SocketOption.__members__)
_HIDDEN_SOCKET_METHODS = frozenset(
    {"recv", "recv_multipart", "recv_string", "recv_json", "recv_pyobj", "recv_serialized"}
)


class SocketPassThrough:
    """Base of a wrapper with ``socket`` and ``_closing`` attributes."""

    def __getattr__(self, name: str) -> Any:
        # Only reached for names the wrapper lacks: socket methods and options.
        if name.startswith("_") or name in ("socket", "io_loop"):
            raise AttributeError(name)
        socket = self.__dict__.get("socket")
        if socket is None or self.__dict__.get("_closing"):
            raise StreamClosedError(f"ZMQStream is closed (while getting {name!r})")
        if name in _HIDDEN_SOCKET_METHODS:
            raise AttributeError(
                f"ZMQStream has no {name}(): messages arrive through on_recv(); "
                "use stream.socket directly only if you know no callback is set"
            )
        return getattr(socket, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _OPTION_NAMES and name not in self.__dict__:
            socket = self.__dict__.get("socket")
            if socket is None or self.__dict__.get("_closing"):
                raise StreamClosedError(f"ZMQStream is closed (while setting {name!r})")
            setattr(socket, name, value)
        else:
            object.__setattr__(self, name, value)
