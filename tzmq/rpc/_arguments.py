"""How a call's name and arguments become frames, and back.

Owns the ``[name, args, kwargs]`` frames that rpc, pipeline and pubsub
calls carry (see `tzmq.rpc.rpc` for the whole message). Most calls pass no
keyword arguments, so the empty map is encoded once per codec and known
again by its bytes: the usual call runs the codec once on each side for its
arguments instead of twice. A peer that encodes the empty map some other
way is decoded as usual.

Holds no mutable state after construction: safe from any thread.
"""

from __future__ import annotations

from typing import Any

from .codec import Codec

__all__ = ["CallFrames"]


class CallFrames:
    """The name and argument frames of calls, in one codec."""

    __slots__ = ("_empty_map", "_packb", "_unpackb")

    def __init__(self, codec: Codec) -> None:
        self._packb = codec.packb
        self._unpackb = codec.unpackb
        self._empty_map = codec.packb({})

    def pack(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[bytes]:
        """``[name, args, kwargs]``; `TypeError` for arguments the codec cannot encode."""
        packed_kwargs = self._packb(kwargs) if kwargs else self._empty_map
        return [name.encode("utf-8"), self._packb(list(args)), packed_kwargs]

    def unpack(self, bargs: bytes, bkwargs: bytes) -> tuple[Any, Any]:
        """The decoded ``(args, kwargs)``; `ValueError` for bytes the codec cannot decode."""
        kwargs = {} if bkwargs == self._empty_map else self._unpackb(bkwargs)
        return self._unpackb(bargs), kwargs
