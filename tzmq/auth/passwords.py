"""PLAIN passwords kept in a file that is re-read when it changes.

The format is czmq zauth's (``zhashx_load``): one ``username=password`` per
line, split at the first ``=``; lines that start with ``#`` or ``=``, or have
no ``=``, are skipped; nothing is trimmed except the line ending (``\\n`` or
``\\r\\n``), so spaces are part of the name or password. A later line for the
same user wins::

    # users allowed in over PLAIN
    admin=secret
    guest=guest

The file is checked at each lookup with one ``stat`` (see `_filewatch`); an
edit, a replacement (write a new file and rename it over) or a removal is
seen by the next PLAIN handshake. A file that is missing or unreadable
yields no passwords, so every PLAIN client is denied until it is back.

Thread-safety: not thread-safe; use from the IOLoop thread.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from ._filewatch import ChangeWatch, ReadFailures

__all__ = ["PasswordFile", "parse_passwords"]


def parse_passwords(data: bytes, encoding: str = "utf-8") -> dict[str, str]:
    """Parse password file contents into ``{username: password}``.

    Bytes that do not decode with ``encoding`` are kept as surrogate escapes,
    so ``password.encode(encoding, "surrogateescape")`` gives the file's bytes.
    """
    passwords: dict[str, str] = {}
    for line in data.decode(encoding, "surrogateescape").split("\n"):
        line = line.removesuffix("\r")
        if line.startswith(("#", "=")) or "=" not in line:
            continue
        username, _, password = line.partition("=")
        passwords[username] = password
    return passwords


class PasswordFile:
    """The ``{username: password}`` table of a password file, kept current.

    Raises `FileNotFoundError` (or another `OSError`) if ``path`` cannot be
    read when the object is made: a wrong path is reported at configuration
    time, not as denied handshakes later.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        encoding: str = "utf-8",
        log: logging.Logger | logging.LoggerAdapter[Any] | None = None,
    ) -> None:
        self.path = os.fspath(path)
        self.encoding = encoding
        self._log = log or logging.getLogger("tzmq.auth")
        self._watch = ChangeWatch(self.path)
        self._watch.changed()
        self._passwords = self._read()
        self._failures = ReadFailures(
            self._log,
            self.path,
            "PLAIN password file %s unreadable (%s): PLAIN clients denied until it is back",
            "PLAIN password file %s readable again",
        )

    def __repr__(self) -> str:
        return f"<PasswordFile {self.path!r}>"

    def passwords(self) -> Mapping[str, str]:
        """The current table, re-read first if the file changed."""
        self._refresh()
        return self._passwords

    def _refresh(self) -> None:
        if not self._watch.changed():
            return
        try:
            passwords = self._read()
        except OSError as error:
            self._passwords = {}
            self._failures.failed(error)
            return
        self._passwords = passwords
        self._failures.succeeded()

    def _read(self) -> dict[str, str]:
        with open(self.path, "rb") as f:
            passwords = parse_passwords(f.read(), self.encoding)
        self._log.debug("PLAIN password file %s: %d users", self.path, len(passwords))
        return passwords
