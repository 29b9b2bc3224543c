"""The stream layer's own error, shared by the stream and its helpers.

Thread-safety: plain exception class.
"""

from __future__ import annotations

__all__ = ["StreamClosedError"]


class StreamClosedError(OSError):
    """An operation was attempted on a closed ZMQStream."""

    def __init__(self, message: str = "ZMQStream is closed") -> None:
        super().__init__(message)
