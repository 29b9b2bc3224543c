"""How RPC values become bytes: a JSON codec by default, msgpack as an option.

Owns the encoding of a call's arguments, results and error details, and the
translation tables that carry custom types.

* `JsonCodec` (the default): simplejson, UTF-8. A custom type travels as
  ``{"__tzmq_ext__": code, "data": to_json(value)}`` through a translation
  table ``{code: (cls, to_json, from_json)}``. Decoding never runs code
  that the peer chose.
* `MsgpackCodec` (``pip install tzmq[msgpack]``): the encoding of
  ``aiozmq.rpc`` 1.0, for talking to aiozmq peers. Custom types are msgpack
  ext types through a table ``{code: (cls, to_bytes, from_bytes)}``, the
  layout of aiozmq's ``translation_table``. aiozmq's built-in ext types
  123-127 (tzinfo, timedelta, time, datetime, date) are pickles, and
  unpickling runs whatever code the sender put there; they are off unless
  ``pickle_types=True`` is given (then only between trusted peers). Off,
  such values arrive as `msgpack.ExtType`.

Both decode arrays as lists. Encoding raises `TypeError` for a value the
codec cannot represent, decoding raises `ValueError` for bad bytes.

Codecs hold no mutable state after construction: safe from any thread.
"""

from __future__ import annotations

import importlib
import pickle
from collections.abc import Callable, Mapping
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any, Protocol

import simplejson

__all__ = ["Codec", "JsonCodec", "MsgpackCodec"]

# code -> (class, encode, decode)
TranslationTable = Mapping[int, tuple[type, Callable[[Any], Any], Callable[[Any], Any]]]

_EXT_KEY = "__tzmq_ext__"


class Codec(Protocol):
    """What an RPC codec provides: bytes from a value and back."""

    def packb(self, value: Any) -> bytes:
        """Encode ``value``; `TypeError` if it cannot be represented."""

    def unpackb(self, data: bytes) -> Any:
        """Decode ``data``; `ValueError` if it is not a valid encoding."""


def _lookup(table: TranslationTable) -> dict[type, tuple[int, Callable[[Any], Any]]]:
    for code, entry in table.items():
        if not isinstance(code, int) or not (isinstance(entry, tuple) and len(entry) == 3):
            raise TypeError(f"translation table entries are code: (cls, encode, decode): {code!r}")
    # In code order: a subclass found by isinstance takes the first entry that
    # fits (aiozmq's order, where a datetime subclass is a datetime, not a date).
    return {cls: (code, encode) for code, (cls, encode, _) in sorted(table.items())}


def _find(encoders: dict[type, tuple[int, Callable[[Any], Any]]], value: Any) -> tuple[int, Any]:
    hit = encoders.get(type(value))
    if hit is None:
        for cls, candidate in encoders.items():
            if isinstance(value, cls):
                hit = candidate
                break
        else:
            raise TypeError(f"cannot encode a {type(value).__name__}: not in the translation table")
    code, encode = hit
    return code, encode(value)


class JsonCodec:
    """JSON (simplejson) with a translation table for custom types.

    Example::

        codec = JsonCodec({1: (Decimal, str, Decimal)})
        assert codec.unpackb(codec.packb(Decimal("1.5"))) == Decimal("1.5")
    """

    def __init__(self, translation_table: TranslationTable | None = None) -> None:
        table = dict(translation_table or {})
        self._encoders = _lookup(table)
        self._decoders = {code: decode for code, (_, _, decode) in table.items()}
        # One encoder and decoder for the codec's life: simplejson builds a new
        # one per call when given options, a cost paid on every argument.
        # tzmq._jsonapi's settings, plus: a Decimal or bytes goes through the
        # table (or fails), rather than out as a float or as decoded text.
        self._encode = simplejson.JSONEncoder(
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
            default=self._default,
            use_decimal=False,
            encoding=None,  # type: ignore[arg-type]  # None: bytes are not text
        ).encode
        self._decode = simplejson.JSONDecoder(object_hook=self._object_hook).decode

    def packb(self, value: Any) -> bytes:
        try:
            text: str = self._encode(value)
        except ValueError as error:  # NaN, infinities, circular references
            raise TypeError(f"cannot encode as JSON: {error}") from error
        return text.encode("utf-8")

    def unpackb(self, data: bytes) -> Any:
        try:
            return self._decode(data.decode("utf-8"))
        except RecursionError as error:
            raise ValueError("JSON nested too deeply") from error

    def _default(self, value: Any) -> Any:
        code, data = _find(self._encoders, value)
        return {_EXT_KEY: code, "data": data}

    def _object_hook(self, obj: dict[str, Any]) -> Any:
        if _EXT_KEY not in obj:
            return obj
        decode = self._decoders.get(obj[_EXT_KEY])
        if decode is None or len(obj) != 2 or "data" not in obj:
            raise ValueError(f"unknown or malformed custom value: {obj!r}")
        return decode(obj["data"])


def _pickle_table() -> dict[int, tuple[type, Callable[[Any], Any], Callable[[Any], Any]]]:
    def dump(value: Any) -> bytes:
        return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)

    # aiozmq.rpc's codes; pickle.loads runs code chosen by the sender.
    return {
        127: (date, dump, pickle.loads),
        126: (datetime, dump, pickle.loads),
        125: (time, dump, pickle.loads),
        124: (timedelta, dump, pickle.loads),
        123: (tzinfo, dump, pickle.loads),
    }


class MsgpackCodec:
    """msgpack, wire-compatible with ``aiozmq.rpc`` 1.0.

    Example::

        codec = MsgpackCodec()                      # no pickles, either way
        trusted = MsgpackCodec(pickle_types=True)   # aiozmq's datetime & co
    """

    def __init__(
        self, translation_table: TranslationTable | None = None, *, pickle_types: bool = False
    ) -> None:
        try:
            self._msgpack: Any = importlib.import_module("msgpack")
        except ImportError as error:
            raise ImportError("MsgpackCodec needs msgpack: pip install tzmq[msgpack]") from error
        table = _pickle_table() if pickle_types else {}
        table.update(translation_table or {})
        self._encoders = _lookup(table)
        self._decoders = {code: decode for code, (_, _, decode) in table.items()}

    def packb(self, value: Any) -> bytes:
        try:
            data: bytes = self._msgpack.packb(value, use_bin_type=True, default=self._default)
        except (OverflowError, ValueError) as error:
            raise TypeError(str(error)) from error
        return data

    def unpackb(self, data: bytes) -> Any:
        try:
            return self._msgpack.unpackb(
                data, raw=False, strict_map_key=False, ext_hook=self._ext_hook
            )
        except ValueError:
            raise
        except Exception as error:  # msgpack's errors are not all ValueErrors
            raise ValueError(f"not msgpack: {error}") from error

    def _default(self, value: Any) -> Any:
        code, data = _find(self._encoders, value)
        return self._msgpack.ExtType(code, data)

    def _ext_hook(self, code: int, data: bytes) -> Any:
        decode = self._decoders.get(code)
        return self._msgpack.ExtType(code, data) if decode is None else decode(data)
