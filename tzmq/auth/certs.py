"""CURVE certificate files, and a store of public keys that follows its directory.

Certificates are czmq's text format (ZPL, RFC 4), the one pyzmq writes and
reads, so key files move freely between czmq, pyzmq and tzmq::

    #   ZeroMQ CURVE Public Certificate
    metadata
        name = "alice"
    curve
        public-key = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"

The secret file (``<name>.key_secret``) adds a ``secret-key`` line under
``curve``. Keys are Z85 text, 40 characters for 32 bytes.

`CertificateStore` holds the public keys of every ``*.key`` file in a
directory and notices files added, removed or renamed there without being
told (as czmq's zcertstore does): each lookup costs one ``stat`` of the
directory, and the directory is re-read only when that changed. Rewriting
an existing file in place does not change its directory; write the new file
under another name and rename it over the old one (as `create_certificates`
does) and the store sees it.

Thread-safety: the functions are safe from any thread; a `CertificateStore`
is not thread-safe (use it from the IOLoop thread).
"""

from __future__ import annotations

import logging
import os
from typing import Any

from zmq.utils import z85

from ._filewatch import ChangeWatch

__all__ = ["CertificateStore", "load_certificate", "load_certificates"]

_PUBLIC_SUFFIX = ".key"

_KEY_TEXT_LENGTH = 40


def _is_z85_key(text: bytes) -> bool:
    """True if ``text`` is the Z85 form of a 32-byte key."""
    if len(text) != _KEY_TEXT_LENGTH:
        return False
    digits = z85.Z85MAP
    for start in range(0, _KEY_TEXT_LENGTH, 5):
        value = 0
        for char in text[start : start + 5]:
            digit = digits.get(char)
            if digit is None:
                return False
            value = value * 85 + digit
        if value >= 1 << 32:
            return False
    return True


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] in "\"'" and value[0] in value[1:]:
        return value[1 : value.index(value[0], 1)]
    return value


def _parse_zpl(text: str) -> dict[tuple[str, str], str]:
    """The ``{(section, name): value}`` pairs of a two-level ZPL document.

    Unquoted values are taken whole: ``#`` is a Z85 character, so a trailing
    comment cannot be told from a key (pyzmq's reader takes them whole too).
    """
    values: dict[tuple[str, str], str] = {}
    section = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        name, equals, value = stripped.partition("=")
        if line[0] not in " \t":
            section = name.strip()
        elif equals:
            values[(section, name.strip())] = _unquote(value.strip())
    return values


def _key_field(values: dict[tuple[str, str], str], name: str, filename: str) -> bytes | None:
    text = values.get(("curve", name))
    if text is None:
        return None
    key = text.encode("ascii", "replace")
    if not _is_z85_key(key):
        raise ValueError(f"{name} in {filename} is not a Z85 CURVE key (40 characters)")
    return key


def load_certificate(filename: str | os.PathLike[str]) -> tuple[bytes, bytes | None]:
    """Read ``(public_key, secret_key)`` from a certificate file, as Z85 bytes.

    ``secret_key`` is None for a public certificate. Raises `OSError` if the
    file cannot be read and `ValueError` if it has no public key or a key
    that is not 40 characters of Z85.
    """
    path = os.fspath(filename)
    with open(path, encoding="utf-8", errors="replace") as f:
        values = _parse_zpl(f.read())
    public = _key_field(values, "public-key", path)
    if public is None:
        raise ValueError(f"no public key found in {path}")
    return public, _key_field(values, "secret-key", path)


def _public_files(directory: str) -> list[str]:
    """The ``*.key`` files of ``directory``; OSError if it cannot be listed."""
    with os.scandir(directory) as entries:
        return sorted(
            entry.path
            for entry in entries
            if entry.name.endswith(_PUBLIC_SUFFIX) and entry.is_file()
        )


def load_certificates(directory: str | os.PathLike[str] = ".") -> dict[bytes, bool]:
    """The public keys of every ``*.key`` file in ``directory``: ``{z85_key: True}``.

    Raises `OSError` if ``directory`` is not a readable directory, and
    `ValueError` naming the first file that is not a valid certificate.
    """
    return {load_certificate(path)[0]: True for path in _public_files(os.fspath(directory))}


class CertificateStore:
    """The public keys found in a directory's ``*.key`` files, kept current.

    Raises `OSError` if ``location`` is not a readable directory when the
    store is made. Later, a file that is not a valid certificate is skipped
    with a warning (once), and a directory that vanishes or cannot be read
    holds no keys (every CURVE client is denied) until it is back.

    >>> store = CertificateStore("public_keys")            # doctest: +SKIP
    >>> b"rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7" in store  # doctest: +SKIP
    True
    """

    def __init__(
        self,
        location: str | os.PathLike[str],
        log: logging.Logger | logging.LoggerAdapter[Any] | None = None,
    ) -> None:
        self.location = os.fspath(location)
        self._log = log or logging.getLogger("tzmq.auth")
        self._watch = ChangeWatch(self.location)
        self._watch.changed()
        self._keys: frozenset[bytes] = frozenset()
        self._bad: set[str] = set()
        self._error: str | None = None
        self._keys = self._scan(_public_files(self.location))

    def __repr__(self) -> str:
        return f"<CertificateStore {self.location!r}>"

    def __contains__(self, z85_key: object) -> bool:
        """True if ``z85_key`` (Z85 bytes) is one of the directory's public keys."""
        return z85_key in self.keys()

    def keys(self) -> frozenset[bytes]:
        """The current public keys (Z85 bytes), re-read first if the directory changed."""
        if self._watch.changed():
            self._rescan()
        return self._keys

    def _rescan(self) -> None:
        try:
            files = _public_files(self.location)
        except OSError as error:
            self._keys = frozenset()
            message = f"{type(error).__name__}: {error.strerror}"
            if message != self._error:
                self._log.warning(
                    "CURVE certificate directory %s unreadable (%s); no keys until it is back",
                    self.location,
                    message,
                )
            self._error = message
            return
        if self._error is not None:
            self._log.info("CURVE certificate directory %s readable again", self.location)
        self._error = None
        self._keys = self._scan(files)

    def _scan(self, files: list[str]) -> frozenset[bytes]:
        keys: set[bytes] = set()
        bad: set[str] = set()
        for path in files:
            try:
                keys.add(load_certificate(path)[0])
            except (OSError, ValueError) as error:
                bad.add(path)
                # Warn once per bad file: the directory may be re-read often.
                if path not in self._bad:
                    self._log.warning("CURVE certificate skipped: %s", error)
        self._bad = bad
        self._log.debug("CURVE certificate directory %s: %d keys", self.location, len(keys))
        return frozenset(keys)
