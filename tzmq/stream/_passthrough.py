"""The socket's methods and options, reached through the object that wraps it.

Owns what ``stream.bind(...)``, ``stream.linger`` and ``stream.linger = 0``
mean on a `ZMQStream`: the public methods and properties of ``zmq.Socket``
and every socket option (``linger`` or ``LINGER``) are class-level
descriptors that forward to the stream's socket; assigning an option sets
it on the socket (so it cannot be shadowed by a stale attribute); any other
attribute stays on the stream (jupyter_server sets ``stream.channel``).
Direct receives are refused: they would steal messages from the callbacks.
After close every such access raises `StreamClosedError`.

Why descriptors and not ``__getattr__``: a class with ``__getattr__`` (or
``__setattr__``) makes CPython skip its fast path for *every* attribute
access on its instances, and the stream reads a dozen of its own
attributes per message. The public names a subclass of ``zmq.Socket``
adds are forwarded too, from the first time a stream wraps one
(`forward_names_of`); on a stream whose socket lacks such a name, reading it
raises the socket's ``AttributeError``, as it would without the descriptor.

Thread-safety: as the socket it reaches (the IOLoop thread).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import zmq

from ._errors import StreamClosedError

__all__ = ["SocketPassThrough", "forward_names_of"]

_HIDDEN_SOCKET_METHODS = frozenset(
    {
        "recv",
        "recv_into",
        "recv_json",
        "recv_multipart",
        "recv_pyobj",
        "recv_serialized",
        "recv_string",
        "recv_unicode",
    }
)


def _open_socket(wrapper: Any, name: str, doing: str) -> zmq.Socket[Any]:
    state = wrapper.__dict__
    socket = state.get("socket")
    if socket is None or state.get("_closing"):
        raise StreamClosedError(f"ZMQStream is closed (while {doing} {name!r})")
    return socket  # type: ignore[no-any-return]


class _SocketMethod:
    """A method or read-only property of the wrapped socket."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, wrapper: Any, owner: type | None = None) -> Any:
        if wrapper is None:
            return self
        return getattr(_open_socket(wrapper, self.name, "getting"), self.name)


class _SocketOption(_SocketMethod):
    """A socket option or settable property: assigning it sets it on the socket."""

    __slots__ = ()

    def __set__(self, wrapper: Any, value: Any) -> None:
        setattr(_open_socket(wrapper, self.name, "setting"), self.name, value)


class _HiddenReceive:
    """A receive method of the socket, refused on the wrapper."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, wrapper: Any, owner: type | None = None) -> Any:
        raise AttributeError(
            f"ZMQStream has no {self.name}(): messages arrive through on_recv(); "
            "use stream.socket directly only if you know no callback is set"
        )


class SocketPassThrough:
    """Base of a wrapper with ``socket`` and ``_closing`` attributes.

    A subclass's own attributes win over the forwarded ones (``send``,
    ``close`` and ``closed`` are the stream's).
    """

    if TYPE_CHECKING:
        # For the type checker only: at run time the descriptors below answer.
        def __getattr__(self, name: str) -> Any: ...
        def __setattr__(self, name: str, value: Any) -> None: ...


_forwarded_classes: set[type] = set()


def forward_names_of(socket_class: type) -> None:
    """Forward the public names ``socket_class`` adds to ``zmq.Socket``'s (once per class).

    Set on the shared base class, as non-data descriptors: an attribute a
    stream keeps of its own (``stream.channel``) still wins over them.
    """
    if socket_class in _forwarded_classes:
        return
    _forwarded_classes.add(socket_class)
    for name in dir(socket_class):
        if not name.startswith("_") and name not in SocketPassThrough.__dict__:
            setattr(SocketPassThrough, name, _SocketMethod(name))


def _install() -> None:
    for name in dir(zmq.Socket):
        if name.startswith("_"):
            continue
        attribute = getattr(zmq.Socket, name)
        if name in _HIDDEN_SOCKET_METHODS:
            setattr(SocketPassThrough, name, _HiddenReceive(name))
        elif isinstance(attribute, property) and attribute.fset is not None:
            setattr(SocketPassThrough, name, _SocketOption(name))
        else:
            setattr(SocketPassThrough, name, _SocketMethod(name))
    for option in zmq.SocketOption.__members__:
        for name in (option, option.lower()):
            setattr(SocketPassThrough, name, _SocketOption(name))
    _forwarded_classes.add(zmq.Socket)


_install()
