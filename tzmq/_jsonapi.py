"""JSON for every ``*_json`` method: simplejson, bytes in and bytes out.

Owns the one place where tzmq turns objects into JSON bytes and back, so that
``ZMQStream.send_json``, the future socket's ``send_json``/``recv_json`` and the
log watcher agree on encoding (UTF-8, no NaN surprises beyond simplejson's own
defaults). Pure functions: safe from any thread.
"""

from __future__ import annotations

from typing import Any

import simplejson


def dumps(obj: Any, **kwargs: Any) -> bytes:
    """Encode ``obj`` as UTF-8 JSON bytes.

    Raises ``TypeError`` (or ``ValueError`` for circular references) at once
    for an object that JSON cannot represent, so a bad value fails at the
    call that tried to send it.

    >>> dumps({"a": 1})
    b'{"a":1}'
    """
    kwargs.setdefault("separators", (",", ":"))
    kwargs.setdefault("ensure_ascii", False)
    text: str = simplejson.dumps(obj, **kwargs)
    return text.encode("utf-8")


def loads(data: bytes | bytearray | memoryview | str, **kwargs: Any) -> Any:
    """Decode JSON from UTF-8 bytes (or text).

    Raises ``ValueError`` (``simplejson.JSONDecodeError`` or
    ``UnicodeDecodeError``, both subclasses) for input that is not JSON.
    """
    if isinstance(data, (bytearray, memoryview)):
        data = bytes(data)
    if isinstance(data, bytes):
        data = data.decode("utf-8")
    return simplejson.loads(data, **kwargs)
