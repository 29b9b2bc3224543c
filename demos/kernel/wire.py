"""The Jupyter wire format: sign, serialize and strictly parse kernel messages.

A message on the wire is a list of frames::

    [identity, ..., b"<IDS|MSG>", signature, header, parent_header, metadata, content,
     buffer, ...]

The four dicts are JSON (simplejson, via ``tzmq._jsonapi``); ``signature`` is
the hex HMAC-SHA256 of those four frames under the connection's key (an empty
key means unsigned, as Jupyter allows). `Session.deserialize` checks the
signature before it decodes anything, refuses a signature it has already seen
(a replayed message), and raises `WireError` for every malformed input, so a
caller needs exactly one ``except`` to stay up whatever arrives.

Pure functions and one small replay memory: no I/O; one thread.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tzmq import _jsonapi

DELIMITER = b"<IDS|MSG>"
PROTOCOL_VERSION = "5.3"
SIGNATURE_SCHEME = "hmac-sha256"


class WireError(ValueError):
    """A list of frames that is not a valid, correctly signed kernel message."""


@dataclass
class Message:
    """One kernel message: the four dicts, and any raw buffers after them."""

    header: dict[str, Any]
    parent_header: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    content: dict[str, Any] = field(default_factory=dict)
    buffers: list[bytes] = field(default_factory=list)

    @property
    def msg_type(self) -> str:
        return str(self.header["msg_type"])

    @property
    def msg_id(self) -> str:
        return str(self.header["msg_id"])

    @property
    def parent_id(self) -> str | None:
        parent = self.parent_header.get("msg_id")
        return parent if isinstance(parent, str) else None


class Session:
    """Signs outgoing messages and checks incoming ones with one key.

    ``replay_memory`` is how many recent signatures are remembered to refuse a
    message sent twice (an attacker replaying a captured, validly signed one).
    """

    def __init__(self, key: bytes, username: str = "tzmq", replay_memory: int = 4096) -> None:
        if not isinstance(key, bytes):
            raise TypeError(f"the key must be bytes, not {type(key).__name__}")
        self.key = key
        self.session_id = uuid.uuid4().hex
        self.username = username
        self._seen: set[bytes] = set()
        self._order: deque[bytes] = deque()
        self._memory = replay_memory

    def sign(self, parts: Sequence[bytes]) -> bytes:
        """The hex HMAC-SHA256 of ``parts`` (header, parent, metadata, content); b"" unkeyed."""
        if not self.key:
            return b""
        mac = hmac.new(self.key, digestmod=hashlib.sha256)
        for part in parts:
            mac.update(part)
        return mac.hexdigest().encode("ascii")

    def message(
        self,
        msg_type: str,
        content: dict[str, Any] | None = None,
        parent: Message | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Message:
        """A new message with a fresh header, replying to ``parent`` if given."""
        header = {
            "msg_id": uuid.uuid4().hex,
            "session": self.session_id,
            "username": self.username,
            "date": datetime.now(UTC).isoformat(),
            "msg_type": msg_type,
            "version": PROTOCOL_VERSION,
        }
        return Message(
            header,
            dict(parent.header) if parent else {},
            metadata or {},
            content or {},
        )

    def serialize(self, msg: Message, identities: Sequence[bytes] = ()) -> list[bytes]:
        """The frames for ``msg``, routed to ``identities`` (a ROUTER peer or a PUB topic)."""
        parts = [
            _jsonapi.dumps(d) for d in (msg.header, msg.parent_header, msg.metadata, msg.content)
        ]
        return [*identities, DELIMITER, self.sign(parts), *parts, *msg.buffers]

    def deserialize(self, frames: Sequence[bytes]) -> tuple[list[bytes], Message]:
        """Split ``frames`` into (identities, message); `WireError` if anything is wrong."""
        frames = list(frames)
        try:
            at = frames.index(DELIMITER)
        except ValueError:
            raise WireError("no <IDS|MSG> delimiter") from None
        identities, rest = frames[:at], frames[at + 1 :]
        if len(rest) < 5:
            raise WireError(f"{len(rest)} frames after the delimiter; at least 5 are needed")
        signature, parts, buffers = rest[0], rest[1:5], rest[5:]
        if self.key:
            if not hmac.compare_digest(signature, self.sign(parts)):
                raise WireError("bad signature")
            if signature in self._seen:
                raise WireError("signature seen before: a replayed message")
            self._remember(signature)
        header, parent, metadata, content = (
            _decode(part, name) for part, name in zip(parts, _NAMES, strict=True)
        )
        for required in ("msg_id", "msg_type"):
            if not isinstance(header.get(required), str) or not header[required]:
                raise WireError(f"header has no {required}")
        return identities, Message(header, parent, metadata, content, buffers)

    def _remember(self, signature: bytes) -> None:
        self._seen.add(signature)
        self._order.append(signature)
        if len(self._order) > self._memory:
            self._seen.discard(self._order.popleft())


_NAMES = ("header", "parent_header", "metadata", "content")


def _decode(part: bytes, name: str) -> dict[str, Any]:
    try:
        value = _jsonapi.loads(part)
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError is a ValueError
        raise WireError(f"{name} is not JSON: {error}") from None
    if not isinstance(value, dict):
        raise WireError(f"{name} is a JSON {type(value).__name__}, not an object")
    return value
