"""Noticing, cheaply, that a file or a directory may have changed.

`ChangeWatch` costs one ``os.stat`` per check: it compares the path's device,
inode, size and modification time with the last ones it saw. A directory's
mtime changes when an entry is added, removed or renamed, which is what the
certificate store needs; a file's changes when it is written.

Timestamps are coarse (a few milliseconds on Linux, one or two seconds on
some file systems), so two changes close together can leave the same mtime.
As git does for its index, a snapshot taken while the mtime is still recent
(within `RACY_SECONDS` of the clock) is not trusted: every check reports a
change until the mtime is old enough that a later change must move it.

Thread-safety: not thread-safe; use each watch from one thread.
"""

from __future__ import annotations

import os
import time

__all__ = ["RACY_SECONDS", "ChangeWatch", "settled"]

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
