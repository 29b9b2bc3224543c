"""The kernel's wire format: round trips, and nothing malformed or tampered gets through."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from demos.kernel.wire import DELIMITER, Message, Session, WireError

KEY = b"0123456789abcdef0123456789abcdef"
DEEP = b"[" * 100_000 + b"]" * 100_000  # valid JSON that no decoder can recurse through

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
json_dicts = st.dictionaries(st.text(max_size=10), json_values, max_size=5)
identities = st.lists(
    st.binary(min_size=1, max_size=8).filter(lambda b: b != DELIMITER), max_size=3
)


@given(content=json_dicts, metadata=json_dicts, idents=identities,
       buffers=st.lists(st.binary(max_size=16), max_size=2))  # fmt: skip
def test_round_trip(
    content: dict[str, Any], metadata: dict[str, Any], idents: list[bytes], buffers: list[bytes]
) -> None:
    sender, receiver = Session(KEY), Session(KEY)
    parent = sender.message("kernel_info_request")
    msg = sender.message("execute_request", content, parent, metadata)
    msg.buffers = buffers
    got_idents, got = receiver.deserialize(sender.serialize(msg, idents))
    assert got_idents == idents
    assert got == msg
    assert got.parent_id == parent.msg_id


@given(data=st.data())
def test_any_tampering_is_a_bad_signature(data: st.DataObject) -> None:
    session = Session(KEY)
    frames = session.serialize(session.message("execute_request", {"code": "1 + 2"}))
    at = frames.index(DELIMITER)
    which = data.draw(st.integers(at + 1, at + 5), label="frame")  # signature or a signed dict
    frame = bytearray(frames[which])
    i = data.draw(st.integers(0, len(frame) - 1), label="byte")
    frame[i] ^= data.draw(st.integers(1, 255), label="flip")
    frames[which] = bytes(frame)
    with pytest.raises(WireError, match="bad signature"):
        Session(KEY).deserialize(frames)


def test_wrong_key_and_empty_signature_are_refused() -> None:
    forger = Session(b"not the key")
    frames = forger.serialize(forger.message("execute_request", {"code": "x = 0"}))
    with pytest.raises(WireError, match="bad signature"):
        Session(KEY).deserialize(frames)
    unsigned = Session(b"")
    frames = unsigned.serialize(unsigned.message("execute_request"))
    assert frames[1] == b""
    with pytest.raises(WireError, match="bad signature"):
        Session(KEY).deserialize(frames)
    assert Session(b"").deserialize(frames)[1].msg_type == "execute_request"  # unkeyed is allowed


def test_a_replay_is_refused_and_the_memory_is_bounded() -> None:
    sender, receiver = Session(KEY), Session(KEY, replay_memory=2)
    first = sender.serialize(sender.message("execute_request"))
    receiver.deserialize(first)
    with pytest.raises(WireError, match="replayed"):
        receiver.deserialize(first)
    for _ in range(2):
        receiver.deserialize(sender.serialize(sender.message("execute_request")))
    receiver.deserialize(first)  # forgotten: memory holds the last two only


@pytest.mark.parametrize(
    ("frames", "error"),
    [
        ([b"id", b"header"], "no <IDS|MSG>"),
        ([DELIMITER, b"", b"{}", b"{}", b"{}"], "at least 5"),
        ([DELIMITER, b"", b"[]", b"{}", b"{}", b"{}"], "header is a JSON list"),
        ([DELIMITER, b"", b"{", b"{}", b"{}", b"{}"], "header is not JSON"),
        ([DELIMITER, b"", b"\xff", b"{}", b"{}", b"{}"], "header is not JSON"),
        ([DELIMITER, b"", b'{"msg_type": "x"}', b"{}", b"{}", b"{}"], "no msg_id"),
        ([DELIMITER, b"", b'{"msg_id": "1", "msg_type": 5}', b"{}", b"{}", b"{}"], "no msg_type"),
        ([DELIMITER, b"", b'{"msg_id": "1", "msg_type": "x"}', b"{}", b"{}", b"7"], "content"),
        ([DELIMITER, b"", b'{"msg_id": "1", "msg_type": "x"}', DEEP, b"{}", b"{}"],
         "parent_header is not JSON"),
    ],
)  # fmt: skip
def test_malformed_frames_say_what_is_wrong(frames: list[bytes], error: str) -> None:
    with pytest.raises(WireError, match=error):
        Session(b"").deserialize(frames)


frame_lists = st.lists(st.binary(max_size=40) | st.just(DELIMITER) | st.just(b"{}"), max_size=10)


@given(frames=frame_lists, keyed=st.booleans())
def test_random_frames_parse_or_raise_wire_error(frames: list[bytes], keyed: bool) -> None:
    session = Session(KEY if keyed else b"")
    try:
        _, msg = session.deserialize(frames)
    except WireError:
        return
    assert not keyed  # nothing random carries a valid signature
    assert isinstance(msg, Message) and msg.msg_type


def test_the_key_must_be_bytes() -> None:
    with pytest.raises(TypeError, match="bytes"):
        Session("text key")  # type: ignore[arg-type]
