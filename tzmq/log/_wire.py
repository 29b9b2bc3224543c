"""The wire format of a published log record, both directions.

Owns how `PUBHandler` lays a record out as frames and how `LogWatcher` reads
frames back into a `logging.LogRecord`, so the two sides cannot drift apart.

A record is exactly two frames:

* topic: ``b"<root>.<LEVEL>.<subtopic>"`` in UTF-8, parts that are empty left
  out (pyzmq's layout, so a SUB can filter by prefix: ``b"app.ERROR"``).
* body, either plain, the text made by the handler's formatter (pyzmq's
  layout), or structured, a JSON object whose first key is ``"tzmq.log"``
  (the format version) followed by the record's fields::

      {"tzmq.log":1,"name":"app.db","levelno":40,"levelname":"ERROR",
       "msg":"lost","created":1717.5,"pathname":"/srv/db.py","lineno":42,
       ...,"exc_text":"Traceback ...","topic":"pool","extra":{"user":"ann"}}

  The key order is fixed by `encode_structured`, so a reader tells the two
  apart by the body's first bytes: a plain body that starts with
  ``{"tzmq.log":`` is not something a person logs by accident.

Reading a topic back, the level is the first segment that names a level
known here (``ERROR``, ``Level 25``, names given to `logging.addLevelName`);
a structured record names its own, so its level need not be known here. The
segments before it are the root topic, those after it the subtopic. A plain
body that starts like pyzmq's default formats (``"ERROR db.py:42 - "``)
gives the record its file and line.

Pure functions, no I/O: safe from any thread.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from .. import _jsonapi

__all__ = [
    "STRUCTURED_MARK",
    "TOPIC_DELIM",
    "WireError",
    "build_topic",
    "decode",
    "encode_structured",
    "level_number",
    "split_topic",
]

TOPIC_DELIM = "::"
"""Separates a subtopic from the text in a message: ``log.info("db.pool::lost")``."""

VERSION = 1
STRUCTURED_MARK = b'{"tzmq.log":'

# Name given to records that carry no logger name (plain bodies with no root topic).
REMOTE_NAME = "remote"

# Attributes every LogRecord has: a structured body's "extra" may not shadow them.
_RECORD_ATTRIBUTES = frozenset(
    set(vars(logging.LogRecord("", 0, "", 0, "", None, None)))
    | set(dir(logging.LogRecord))
    | {"message", "asctime", "topic", "root_topic", "subtopic", "taskName"}
)
_SCALARS = (str, int, float, bool, type(None))

# Optional structured fields and the types they may have.
_OPTIONAL_FIELDS: dict[str, tuple[type, ...]] = {
    "levelname": (str,),
    "msecs": (float, int),
    "pathname": (str,),
    "filename": (str,),
    "module": (str,),
    "lineno": (int,),
    "funcName": (str,),
    "process": (int, type(None)),
    "processName": (str, type(None)),
    "thread": (int, type(None)),
    "threadName": (str, type(None)),
    "exc_text": (str, type(None)),
    "stack_info": (str, type(None)),
    "topic": (str,),
}

# pyzmq's default formats start the text with "LEVEL file.py:12 - ".
_PLAIN_PREFIX = re.compile(r"(?P<level>\S+(?: \d+)?) (?P<file>[^\s:]+):(?P<line>\d+) - ")
_NUMBERED_LEVEL = re.compile(r"Level (-?\d+)")


class WireError(ValueError):
    """Frames that are not a published log record; the message says why."""


# -- the publishing side -------------------------------------------------------------


def split_topic(msg: object) -> tuple[str, str | None]:
    """Split ``"sub.topic::text"`` into ``("sub.topic", "text")``.

    Returns ``("", None)`` when there is no delimiter: the message is left
    as it is. Like pyzmq, any message is split on its ``str()``.
    """
    head, delim, tail = str(msg).partition(TOPIC_DELIM)
    if not delim:
        return "", None
    return head, tail


def build_topic(root: str | bytes, levelname: str, subtopic: str) -> bytes:
    """The topic frame: ``root.LEVEL.subtopic`` with empty parts left out."""
    if isinstance(root, bytes):
        root = root.decode("utf-8", "replace")
    parts = [part for part in (root, levelname, subtopic) if part]
    return ".".join(parts).encode("utf-8", "replace")


def encode_structured(record: logging.LogRecord, subtopic: str, exc_text: str | None) -> bytes:
    """The structured body for ``record`` (its message already split from the topic).

    ``record.getMessage()`` is sent, not ``msg`` and ``args``, because args
    need not be JSON. Extra attributes (from ``extra=``) travel under
    ``"extra"`` when they are JSON scalars; others are left out.
    """
    fields: dict[str, Any] = {"tzmq.log": VERSION}
    fields["name"] = record.name
    fields["levelno"] = record.levelno
    fields["levelname"] = record.levelname
    fields["msg"] = record.getMessage()
    fields["created"] = record.created
    for name in _OPTIONAL_FIELDS:
        if name not in ("exc_text", "topic"):
            fields[name] = getattr(record, name, None)
    fields["exc_text"] = exc_text
    fields["topic"] = subtopic
    extra = {key: value for key, value in vars(record).items() if _is_extra(key, value)}
    if extra:
        fields["extra"] = extra
    try:
        return _jsonapi.dumps(fields, default=repr)
    except UnicodeEncodeError:
        # A lone surrogate (undecodable bytes smuggled into a str) has no
        # UTF-8 form; JSON's \u escape carries it exactly.
        return _jsonapi.dumps(fields, default=repr, ensure_ascii=True)


# -- the receiving side --------------------------------------------------------------


def level_number(name: str) -> int | None:
    """The level a topic segment names (``"ERROR"``, ``"Level 25"``), or None."""
    numbered = _NUMBERED_LEVEL.fullmatch(name)
    if numbered:
        return int(numbered.group(1))
    level = logging.getLevelName(name)
    return level if isinstance(level, int) else None


def decode(frames: list[bytes]) -> logging.LogRecord:
    """Rebuild a LogRecord from the two frames of a published record.

    The record gets three more attributes: ``topic`` (the whole topic),
    ``root_topic`` and ``subtopic``. Records with a plain body carry the
    receiving time. Raises `WireError` for anything else.
    """
    if len(frames) != 2:
        raise WireError(f"expected 2 frames (topic, body), got {len(frames)}")
    raw_topic, body = frames
    try:
        topic = raw_topic.decode("utf-8")
    except UnicodeDecodeError:
        raise WireError(f"topic is not UTF-8: {raw_topic[:60]!r}") from None
    if body.startswith(STRUCTURED_MARK):
        record = _decode_structured(topic, body)
    else:
        record = _decode_plain(topic, body)
    return record


def _split_at_level(
    topic: str, is_level: Callable[[str], bool], missing: str
) -> tuple[str, str, str]:
    """(root, level segment, subtopic) around the first segment ``is_level`` accepts."""
    segments = topic.split(".")
    for index, segment in enumerate(segments):
        if is_level(segment):
            return ".".join(segments[:index]), segment, ".".join(segments[index + 1 :])
    raise WireError(f"topic {topic[:60]!r} {missing}")


def _decode_plain(topic: str, body: bytes) -> logging.LogRecord:
    root, levelname, subtopic = _split_at_level(
        topic,
        lambda segment: level_number(segment) is not None,
        "names no level known here (register custom level names with "
        "logging.addLevelName, or publish structured)",
    )
    text = body.decode("utf-8", "replace")
    if text.endswith("\n"):
        text = text[:-1]
    fields: dict[str, Any] = {
        "name": root or REMOTE_NAME,
        "levelno": level_number(levelname),
        "levelname": levelname,
        "msg": text,
        "args": None,
    }
    prefix = _PLAIN_PREFIX.match(text)
    if prefix and prefix.group("level") == levelname:
        fields["msg"] = text[prefix.end() :]
        fields["pathname"] = fields["filename"] = prefix.group("file")
        fields["module"] = prefix.group("file").rpartition(".")[0] or prefix.group("file")
        fields["lineno"] = int(prefix.group("line"))
    record = logging.makeLogRecord(fields)
    _set_topic(record, topic, root, subtopic)
    return record


def _decode_structured(topic: str, body: bytes) -> logging.LogRecord:
    try:
        data = _jsonapi.loads(body)
    except ValueError as error:
        raise WireError(f"structured body is not valid JSON: {error}") from None
    if not isinstance(data, dict) or data.get("tzmq.log") != VERSION:
        raise WireError(f"structured body of an unknown version: {str(data)[:60]!r}")
    fields, extra = _structured_fields(data)
    levelname = fields["levelname"]
    root, _, subtopic = _split_at_level(
        topic, levelname.__eq__, f"does not hold the record's level {levelname!r}"
    )
    if "msecs" not in fields:
        # makeLogRecord stamps the local time; the remote time is the record's.
        fields["msecs"] = int((fields["created"] - int(fields["created"])) * 1000) + 0.0
    record = logging.makeLogRecord(fields)
    for key, value in extra.items():
        # Never over a LogRecord attribute or method: the record must still format.
        if _is_extra(key, value):
            setattr(record, key, value)
    _set_topic(record, topic, root, subtopic)
    return record


def _is_extra(key: str, value: Any) -> bool:
    """Is ``key`` a user field (``extra=``) that travels? The rule of both sides."""
    return key not in _RECORD_ATTRIBUTES and not key.startswith("_") and type(value) in _SCALARS


def _structured_fields(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The checked LogRecord fields of a structured body, and its ``extra`` dict."""
    name, levelno, msg, created = (data.get(k) for k in ("name", "levelno", "msg", "created"))
    if not isinstance(name, str) or not isinstance(msg, str):
        raise WireError("structured body lacks a str 'name' or 'msg'")
    if type(levelno) is not int:
        raise WireError(f"structured body has a bad 'levelno': {levelno!r}")
    if not isinstance(created, (int, float)) or isinstance(created, bool):
        raise WireError(f"structured body has a bad 'created': {created!r}")
    fields: dict[str, Any] = {
        "name": name,
        "levelno": levelno,
        "levelname": logging.getLevelName(levelno),
        "msg": msg,
        "args": None,
        "created": float(created),
    }
    for key, types in _OPTIONAL_FIELDS.items():
        if key in data:
            if type(data[key]) not in types:
                raise WireError(f"structured body has a bad {key!r}: {data[key]!r}")
            fields[key] = data[key]
    extra = data.get("extra", {})
    if not isinstance(extra, dict):
        raise WireError(f"structured body has a bad 'extra': {extra!r}")
    fields.pop("topic", None)
    return fields, extra


def _set_topic(record: logging.LogRecord, topic: str, root: str, subtopic: str) -> None:
    record.topic = topic
    record.root_topic = root
    record.subtopic = subtopic
