"""Durations given by callers: seconds as a number, or a `datetime.timedelta`.

Owns the one rule every layer applies to a timeout, interval or budget
argument, so bad input fails at the call with the same message everywhere.
Pure functions: safe from any thread.
"""

from __future__ import annotations

from datetime import timedelta

__all__ = ["optional_seconds", "seconds"]

_INFINITY = float("inf")


def seconds(name: str, value: float | timedelta, *, zero: bool = False) -> float:
    """``value`` in seconds, if it is a finite duration above 0 (or at 0, with ``zero``).

    Raises ``TypeError`` for anything but a number (not a bool) or a
    timedelta, ``ValueError`` for a negative, infinite or NaN one.
    """
    if isinstance(value, timedelta):
        result = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        result = float(value)
    else:
        raise TypeError(f"{name} must be seconds or a timedelta, not {type(value).__name__}")
    if zero:
        if not 0 <= result < _INFINITY:  # also rejects NaN
            raise ValueError(f"{name} must be a finite duration >= 0, not {value!r}")
    elif not 0 < result < _INFINITY:
        raise ValueError(f"{name} must be a positive finite duration, not {value!r}")
    return result


def optional_seconds(name: str, value: float | timedelta | None) -> float | None:
    """`seconds`, or None for "no limit"."""
    return None if value is None else seconds(name, value)
