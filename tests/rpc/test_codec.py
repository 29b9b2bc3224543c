"""Codecs: round trips, custom types, and random bytes never crash a decoder."""

from __future__ import annotations

import contextlib
import datetime
from decimal import Decimal
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tzmq.rpc import JsonCodec, MsgpackCodec
from tzmq.rpc._dispatch import error_info, error_table, translate_error
from tzmq.rpc.errors import GenericError, NotFoundError

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
_json_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=20,
)
_msgpack_values = st.recursive(
    _scalars | st.binary(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=20,
)


@settings(max_examples=100, deadline=None)
@given(_json_values)
def test_json_round_trip(value: Any) -> None:
    codec = JsonCodec()
    assert codec.unpackb(codec.packb(value)) == value


@settings(max_examples=100, deadline=None)
@given(_msgpack_values)
def test_msgpack_round_trip(value: Any) -> None:
    codec = MsgpackCodec()
    assert codec.unpackb(codec.packb(value)) == value


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_never_crash_a_decoder(data: bytes) -> None:
    for codec in (JsonCodec({1: (Decimal, str, Decimal)}), MsgpackCodec()):
        with contextlib.suppress(ValueError):
            codec.unpackb(data)


@settings(max_examples=100, deadline=None)
@given(st.tuples(st.text(), st.lists(_json_values, max_size=3), st.text()) | _json_values)
def test_any_error_info_translates_to_an_exception(info: Any) -> None:
    assert isinstance(translate_error(info, error_table(None)), Exception)


def test_custom_types_through_the_table() -> None:
    table = {5: (Decimal, str, Decimal)}
    codec = JsonCodec(table)
    assert codec.unpackb(codec.packb([Decimal("1.1")])) == [Decimal("1.1")]
    with pytest.raises(TypeError):
        JsonCodec().packb(Decimal("1"))
    for bad in (b"bytes are not JSON", float("nan"), float("inf")):
        with pytest.raises(TypeError):
            JsonCodec().packb(bad)
    with pytest.raises(ValueError):
        codec.unpackb(b'{"__tzmq_ext__": 6, "data": "x"}')
    mp = MsgpackCodec({5: (Decimal, lambda d: str(d).encode(), lambda b: Decimal(b.decode()))})
    assert mp.unpackb(mp.packb(Decimal("2.5"))) == Decimal("2.5")


def test_msgpack_pickle_types_only_when_asked() -> None:
    day = datetime.date(2020, 1, 2)
    trusted = MsgpackCodec(pickle_types=True)
    packed = trusted.packb(day)
    assert trusted.unpackb(packed) == day
    # The default never unpickles: the value stays an opaque ext type.
    opaque = MsgpackCodec().unpackb(packed)
    assert isinstance(opaque, msgpack.ExtType) and opaque.code == 127
    with pytest.raises(TypeError):
        MsgpackCodec().packb(day)


def test_rpc_errors_travel_under_aiozmq_names() -> None:
    info = error_info(NotFoundError("f"))
    assert info[0] == "aiozmq.rpc.base.NotFoundError"
    assert isinstance(translate_error(info, error_table(None)), NotFoundError)
    assert isinstance(translate_error(("x.Y", [1], "Y(1)"), error_table(None)), GenericError)
    with pytest.raises(TypeError):
        error_table({"x": 1})  # type: ignore[dict-item]
