"""The ZRE beacon format: round trips, pyre's own encoding, and anything else refused."""

from __future__ import annotations

import socket
import struct
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tzmq.discovery import ZRE_PREFIX, ZreBeacon

uuids = st.uuids()
ports = st.integers(0, 65535)


@given(uuids, ports)
def test_round_trip(peer: uuid.UUID, port: int) -> None:
    encoded = ZreBeacon(peer, port).encode()
    assert len(encoded) == 22 and encoded.startswith(ZRE_PREFIX)
    assert ZreBeacon.parse(encoded) == ZreBeacon(peer, port)


@given(uuids, ports)
def test_same_bytes_as_pyre(peer: uuid.UUID, port: int) -> None:
    # pyre_node.py builds its beacon exactly so.
    theirs = struct.pack("cccb16sH", b"Z", b"R", b"E", 1, peer.bytes, socket.htons(port))
    assert ZreBeacon(peer, port).encode() == theirs
    assert ZreBeacon.parse(theirs) == ZreBeacon(peer, port)


@given(st.binary(max_size=64))
def test_anything_else_is_refused(payload: bytes) -> None:
    if len(payload) == 22 and payload.startswith(ZRE_PREFIX):
        assert ZreBeacon.parse(payload).uuid.bytes == payload[4:20]
    else:
        with pytest.raises(ValueError):
            ZreBeacon.parse(payload)


def test_leaving_and_bad_fields() -> None:
    me = ZreBeacon(uuid.uuid4(), 5555)
    assert me.leaving() == ZreBeacon(me.uuid, 0)
    with pytest.raises(ValueError, match="version-1"):
        ZreBeacon.parse(b"ZRE\x02" + bytes(18))
    with pytest.raises(ValueError, match="65535"):
        ZreBeacon(me.uuid, 65536).encode()
    with pytest.raises(TypeError, match="UUID"):
        ZreBeacon(me.uuid.bytes, 1).encode()  # type: ignore[arg-type]
