import contextlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tzmq import _jsonapi

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)


@given(json_values)
def test_round_trip(value: Any) -> None:
    assert _jsonapi.loads(_jsonapi.dumps(value)) == value


def test_dumps_is_compact_utf8() -> None:
    assert _jsonapi.dumps({"k": "é"}) == '{"k":"é"}'.encode()


def test_unencodable_fails_at_call() -> None:
    with pytest.raises(TypeError):
        _jsonapi.dumps({"k": object()})


@given(st.binary())
def test_loads_rejects_garbage_with_value_error(data: bytes) -> None:
    with contextlib.suppress(ValueError):
        _jsonapi.loads(data)


def test_loads_accepts_buffers() -> None:
    assert _jsonapi.loads(memoryview(b"[1]")) == [1]
    assert _jsonapi.loads(bytearray(b"[2]")) == [2]
    assert _jsonapi.loads("[3]") == [3]
