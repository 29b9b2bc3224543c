"""Noticing, cheaply, that a file or directory may have changed; saying when it is unreadable.

`ChangeWatch` costs one ``os.stat`` per check: it compares the path's device,
inode, size and modification time with the last ones it saw. A directory's
mtime changes when an entry is added, removed or renamed, which is what the
certificate store needs; a file's changes when it is written.

Timestamps are coarse (a few milliseconds on Linux, one or two seconds on
some file systems), so two changes close together can leave the same mtime.
As git does for its index, a snapshot taken while the mtime is still recent
(within `RACY_SECONDS` of the clock) is not trusted: every check reports a
change until the mtime is old enough that a later change must move it.

`ReadFailures` logs a watched source that cannot be read once per distinct
error (not once per handshake), and once when it is readable again.

Thread-safety: not thread-safe; use each watch from one thread.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

__all__ = ["RACY_SECONDS", "ChangeWatch", "ReadFailures", "settled"]

RACY_SECONDS = 2.0
_RACY_NS = int(RACY_SECONDS * 1e9)


def settled(mtime_ns: int) -> bool:
    """True if a change after a read now must give the path a later mtime than ``mtime_ns``."""
    return time.time_ns() - mtime_ns > _RACY_NS


_Signature = tuple[int, int, int, int]


class ChangeWatch:
    """Tells whether ``path`` may have changed since the last check that said so.

    The first check always reports a change. A path that does not exist has
    a signature of its own, so it appearing or vanishing is a change too.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._seen: _Signature | None = None
        self._settled = False

    def changed(self) -> bool:
        """True if the caller should re-read the path now."""
        try:
            st = os.stat(self.path)
        except OSError:
            signature = None
            trusted = True
        else:
            signature = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
            trusted = settled(st.st_mtime_ns)
        if signature == self._seen and self._settled:
            return False
        self._seen = signature
        self._settled = trusted
        return True


class ReadFailures:
    """The read state of one source, logged on change only.

    ``unreadable`` is a warning format taking the path and the error;
    ``readable`` an info format taking the path.
    """

    __slots__ = ("_log", "_path", "_readable", "_unreadable", "error")

    def __init__(
        self,
        log: logging.Logger | logging.LoggerAdapter[Any],
        path: str,
        unreadable: str,
        readable: str,
    ) -> None:
        self._log = log
        self._path = path
        self._unreadable = unreadable
        self._readable = readable
        self.error: str | None = None

    def failed(self, error: OSError) -> None:
        message = f"{type(error).__name__}: {error.strerror}"
        if message != self.error:
            self._log.warning(self._unreadable, self._path, message)
        self.error = message

    def succeeded(self) -> None:
        if self.error is not None:
            self._log.info(self._readable, self._path)
        self.error = None
