"""The ZRE beacon (zyre's, and pyre's): who we are and where our inbox is.

Owns the 22-byte format of RFC 36/ZRE: ``"ZRE"``, version 1, the peer's
16-byte UUID, then the TCP port of its ROUTER inbox in network byte order.
Port 0 means the peer is leaving. Pure functions: safe from any thread.

Example::

    me = ZreBeacon(uuid.uuid4(), inbox_port)
    beacon.publish(me.encode())
    ...
    beacon.publish(me.leaving().encode())    # before beacon.close()
"""

from __future__ import annotations

import struct
import uuid
from typing import NamedTuple

__all__ = ["ZRE_DISCOVERY_PORT", "ZRE_PREFIX", "ZreBeacon"]

ZRE_DISCOVERY_PORT = 5670
"""The UDP port zyre and pyre beacon on unless told otherwise."""
ZRE_PREFIX = b"ZRE\x01"
"""What every version-1 ZRE beacon starts with: subscribe to it."""

_FORMAT = struct.Struct("!4s16sH")


class ZreBeacon(NamedTuple):
    """A peer's UUID and the TCP port of its inbox (0: leaving)."""

    uuid: uuid.UUID
    port: int

    def encode(self) -> bytes:
        if not isinstance(self.uuid, uuid.UUID):
            raise TypeError(f"uuid must be a uuid.UUID, not {type(self.uuid).__name__}")
        if not isinstance(self.port, int) or isinstance(self.port, bool):
            raise TypeError(f"port must be an int, not {type(self.port).__name__}")
        if not 0 <= self.port < 65536:
            raise ValueError(f"port must be from 0 to 65535, not {self.port}")
        return _FORMAT.pack(ZRE_PREFIX, self.uuid.bytes, self.port)

    def leaving(self) -> ZreBeacon:
        """The farewell beacon: same UUID, port 0."""
        return self._replace(port=0)

    @classmethod
    def parse(cls, payload: bytes) -> ZreBeacon:
        """Decode a beacon; `ValueError` if it is not a version-1 ZRE beacon."""
        if len(payload) != _FORMAT.size:
            raise ValueError(f"a ZRE beacon is {_FORMAT.size} bytes, not {len(payload)}")
        prefix, raw_uuid, port = _FORMAT.unpack(payload)
        if prefix != ZRE_PREFIX:
            raise ValueError(f"not a version-1 ZRE beacon: starts {prefix!r}")
        return cls(uuid.UUID(bytes=raw_uuid), port)
