"""Argument checks for the discovery modules: byte strings (durations: `tzmq._duration`).

Owns what callers may pass as a payload, so bad input fails at
the call with one message everywhere. Pure functions: safe from any thread.
"""

from __future__ import annotations

__all__ = ["payload"]


def payload(name: str, value: bytes | bytearray | memoryview, limit: int) -> bytes:
    """``value`` as bytes, if it is bytes-like and at most ``limit`` bytes long."""
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise TypeError(f"{name} must be bytes-like, not {type(value).__name__}")
    data = bytes(value)
    if len(data) > limit:
        raise ValueError(f"{name} is {len(data)} bytes; a beacon carries at most {limit}")
    return data
