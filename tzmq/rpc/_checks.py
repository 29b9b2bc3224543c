"""Argument checks shared by the request/reply and RPC modules.

Owns the rules for what callers may pass (durations, frames, endpoints,
codecs), so bad input fails at the call with the same message everywhere.
Pure functions: safe from any thread.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import zmq

from .._duration import optional_seconds, seconds
from .codec import Codec, JsonCodec, TranslationTable

__all__ = ["endpoints", "frames", "optional_seconds", "pick_codec", "positive_int", "seconds"]

_FRAME_TYPES = (bytes, bytearray, memoryview, zmq.Frame)


def positive_int(name: str, value: int) -> int:
    """``value`` if it is an int >= 1."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, not {value!r}")
    return value


def frames(parts: Iterable[Any], what: str) -> list[Any]:
    """``parts`` as a list of one or more bytes-like frames."""
    result = list(parts)
    if not result:
        raise ValueError(f"{what} needs at least one frame")
    for part in result:
        if not isinstance(part, _FRAME_TYPES):
            raise TypeError(f"{what} frames must be bytes-like, not {type(part).__name__}")
    return result


def endpoints(name: str, value: str | Iterable[str] | None) -> list[str]:
    """One endpoint or several, as a list of strings."""
    if value is None:
        return []
    items = [value] if isinstance(value, str) else list(value)
    for item in items:
        if not isinstance(item, str) or not item:
            raise TypeError(f"{name} must be endpoint strings, not {item!r}")
    return items


def pick_codec(codec: Codec | None, translation_table: TranslationTable | None) -> Codec:
    """``codec``, or the default JSON codec with ``translation_table``."""
    if codec is None:
        return JsonCodec(translation_table)
    if translation_table is not None:
        raise ValueError("give translation_table to the codec, not beside it")
    if not (callable(getattr(codec, "packb", None)) and callable(getattr(codec, "unpackb", None))):
        raise TypeError(f"codec must have packb and unpackb, not {type(codec).__name__}")
    return codec
