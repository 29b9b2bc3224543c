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

`create_certificates` writes a new key pair as ``<name>.key`` and
``<name>.key_secret``. The secret file is created readable and writable by
its owner only (0600) from its first byte (pyzmq writes it 0644), both files
are written under a temporary name and renamed into place, so a reader (or a
store watching the directory) never sees half a file, and metadata goes in
both files, as czmq does (pyzmq puts it in the secret file only).

`CertificateStore` holds the public keys of every ``*.key`` file in a
directory and notices files added, removed or renamed there without being
told (as czmq's zcertstore does): each lookup costs one ``stat`` of the
directory, and the directory is re-listed only when that changed. Rewriting
an existing file in place does not change its directory, so it is seen only
at the next change there; write the new file under another name and rename
it over the old one (as `create_certificates` does) and the store sees it.

Thread-safety: the functions are safe from any thread; a `CertificateStore`
is not thread-safe (use it from the IOLoop thread).
"""

from __future__ import annotations

import datetime
import logging
import os
import re
import secrets
import struct
from collections.abc import Mapping
from typing import Any

import zmq
from zmq.utils import z85

from ._filewatch import ChangeWatch, ReadFailures, settled

__all__ = ["CertificateStore", "create_certificates", "load_certificate", "load_certificates"]

_PUBLIC_SUFFIX = ".key"
_SECRET_SUFFIX = ".key_secret"

_KEY_TEXT_LENGTH = 40


def _is_z85_key(text: bytes) -> bool:
    """True if ``text`` is the Z85 form of a 32-byte key."""
    if len(text) != _KEY_TEXT_LENGTH:
        return False
    try:
        z85.decode(text)
    except (KeyError, struct.error):  # a character outside Z85; a group over 32 bits
        return False
    return True


_PUBLIC_BANNER = """\
#   ****  Generated on {now} by tzmq  ****
#   ZeroMQ CURVE Public Certificate
#   Exchange securely, or use a secure mechanism to verify the contents
#   of this file after exchange. Store public certificates in your home
#   directory, in the .curve subdirectory.

"""

_SECRET_BANNER = """\
#   ****  Generated on {now} by tzmq  ****
#   ZeroMQ CURVE **Secret** Certificate
#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.

"""

# ZPL (RFC 4) names: letters, digits and these.
_ZPL_NAME = re.compile(r"[A-Za-z0-9$\-_@.&+/]+")


def _text(value: str | bytes, what: str) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, str):
        return value
    raise TypeError(f"certificate {what} must be str or bytes, not {type(value).__name__}")


def _metadata_lines(metadata: Mapping[str | bytes, str | bytes] | None) -> str:
    """The metadata section, quoted as czmq writes it; ValueError for what ZPL cannot hold."""
    lines = ["metadata\n"]
    for raw_name, raw_value in (metadata or {}).items():
        name = _text(raw_name, "metadata name")
        value = _text(raw_value, "metadata value")
        if not _ZPL_NAME.fullmatch(name):
            raise ValueError(f"metadata name {name!r} is not a ZPL name")
        if name.startswith(("public-key", "secret-key")):
            # pyzmq's reader takes any line starting so for a key.
            raise ValueError(f"metadata name {name!r} would be read as a key")
        if "\n" in value or "\r" in value:
            raise ValueError(f"metadata value for {name!r} spans lines")
        if '"' not in value:
            lines.append(f'    {name} = "{value}"\n')
        elif "'" not in value:
            lines.append(f"    {name} = '{value}'\n")
        else:
            raise ValueError(f"metadata value for {name!r} holds both quote characters")
    return "".join(lines)


def _write_temporary(directory: str, name: str, text: str, mode: int) -> str:
    """Write ``text`` to a new file in ``directory`` created with ``mode``; return its path."""
    data = text.encode("utf-8")
    while True:
        path = os.path.join(directory, f".{name}.{secrets.token_hex(6)}.tmp")
        try:
            # O_EXCL: a fresh file (never one planted there, nor a symlink), whose
            # mode is set at creation, before the first byte is written.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        except FileExistsError:
            continue
        break
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        os.unlink(path)
        raise
    return path


def create_certificates(
    key_dir: str | os.PathLike[str],
    name: str,
    metadata: Mapping[str | bytes, str | bytes] | None = None,
) -> tuple[str, str]:
    """Create a CURVE key pair; return the paths of its public and secret files.

    Writes ``<key_dir>/<name>.key`` (public) and ``<key_dir>/<name>.key_secret``
    (public and secret key, mode 0600), replacing files of that name.
    ``metadata`` (``{name: value}``) goes in both. Raises ValueError for a
    ``name`` that is not a plain file name or metadata ZPL cannot hold, and
    OSError if the files cannot be written; nothing is left behind then.

    >>> public_file, secret_file = create_certificates("keys", "server")  # doctest: +SKIP
    >>> load_certificate(secret_file)                                     # doctest: +SKIP
    (b'...40 characters...', b'...40 characters...')
    """
    if not isinstance(name, str):
        raise TypeError(f"certificate name must be a str, not {type(name).__name__}")
    if name in ("", ".", "..") or os.path.basename(name) != name:
        raise ValueError(f"certificate name {name!r} must be a plain file name")
    metadata_text = _metadata_lines(metadata)
    directory = os.fspath(key_dir)
    public, secret = zmq.curve_keypair()
    now = datetime.datetime.now()
    curve = f'curve\n    public-key = "{public.decode("ascii")}"\n'
    public_text = _PUBLIC_BANNER.format(now=now) + metadata_text + curve
    secret_text = (
        _SECRET_BANNER.format(now=now)
        + metadata_text
        + curve
        + f'    secret-key = "{secret.decode("ascii")}"\n'
    )
    public_file = os.path.join(directory, name + _PUBLIC_SUFFIX)
    secret_file = os.path.join(directory, name + _SECRET_SUFFIX)
    temporary = [_write_temporary(directory, name, secret_text, 0o600)]
    try:
        temporary.append(_write_temporary(directory, name, public_text, 0o666))
        os.replace(temporary[0], secret_file)
        os.replace(temporary[1], public_file)
    except BaseException:
        for path in temporary:
            if os.path.exists(path):
                os.unlink(path)
        raise
    return public_file, secret_file


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


# Per file: (inode, size, mtime_ns), its key (None: not a valid certificate),
# and whether that signature can be trusted to change with the content.
_Entry = tuple[tuple[int, int, int], "bytes | None", bool]


class CertificateStore:
    """The public keys found in a directory's ``*.key`` files, kept current.

    Raises `OSError` if ``location`` is not a readable directory when the
    store is made. Later, a file that is not a valid certificate is skipped
    with a warning (once per version of the file), and a directory that
    vanishes or cannot be read holds no keys (every CURVE client is denied)
    until it is back.

    A lookup costs one ``stat`` of the directory. When that changed, the
    directory is listed again and only files whose inode, size or mtime
    changed are read, so a store of a thousand keys re-lists in a few
    milliseconds rather than re-reading every file.

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
        self._files: dict[str, _Entry] = {}
        self._failures = ReadFailures(
            self._log,
            self.location,
            "CURVE certificate directory %s unreadable (%s); no keys until it is back",
            "CURVE certificate directory %s readable again",
        )
        self._keys = self._scan()

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
            keys = self._scan()
        except OSError as error:
            self._keys = frozenset()
            self._files = {}
            self._failures.failed(error)
            return
        self._failures.succeeded()
        self._keys = keys

    def _scan(self) -> frozenset[bytes]:
        """List the directory; read the files that are new or changed. OSError if unlistable."""
        files: dict[str, _Entry] = {}
        with os.scandir(self.location) as entries:
            for entry in entries:
                if not entry.name.endswith(_PUBLIC_SUFFIX):
                    continue
                try:
                    if not entry.is_file():
                        continue
                    st = entry.stat()
                except OSError:
                    continue  # gone since it was listed
                signature = (st.st_ino, st.st_size, st.st_mtime_ns)
                known = self._files.get(entry.name)
                if known is not None and known[0] == signature and known[2]:
                    files[entry.name] = known
                    continue
                key: bytes | None
                try:
                    key = load_certificate(entry.path)[0]
                except (OSError, ValueError) as error:
                    key = None
                    if known is None or known[0] != signature:
                        self._log.warning("CURVE certificate skipped: %s", error)
                files[entry.name] = (signature, key, settled(st.st_mtime_ns))
        self._files = files
        keys = frozenset(key for _, key, _ in files.values() if key is not None)
        self._log.debug("CURVE certificate directory %s: %d keys", self.location, len(keys))
        return keys
