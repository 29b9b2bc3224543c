"""Argument checks for the discovery modules: durations and byte strings.

Owns what callers may pass as an interval or a payload, so bad input fails at
the call with one message everywhere. Pure functions: safe from any thread.
"""

from __future__ import annotations

from datetime import timedelta

__all__ = ["payload", "seconds"]


def seconds(name: str, value: float | timedelta) -> float:
    """A positive finite duration in seconds from a number or a timedelta."""
    if isinstance(value, timedelta):
        result = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        result = float(value)
    else:
        raise TypeError(f"{name} must be seconds or a timedelta, not {type(value).__name__}")
    if not 0 < result < float("inf"):  # also rejects NaN
        raise ValueError(f"{name} must be a positive finite duration, not {value!r}")
    return result


def payload(name: str, value: bytes | bytearray | memoryview, limit: int) -> bytes:
    """``value`` as bytes, if it is bytes-like and at most ``limit`` bytes long."""
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise TypeError(f"{name} must be bytes-like, not {type(value).__name__}")
    data = bytes(value)
    if len(data) > limit:
        raise ValueError(f"{name} is {len(data)} bytes; a beacon carries at most {limit}")
    return data
